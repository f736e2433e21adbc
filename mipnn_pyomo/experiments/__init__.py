"""Experiment grids: TOML configs, a resumable runner writing SQLite, and a Markdown/PNG report.

    mipnn experiment run experiments/exp1.toml --db results.sqlite [--workers K] [--scheduler ADDRESS]
    mipnn experiment report --db results.sqlite --out DIR [--reference PATH]
    mipnn experiment status --db results.sqlite

See docs/experiments.md. The command line lives in :mod:`mipnn_pyomo.cli.experiment`; this package
takes plain values.
"""

from __future__ import annotations

from mipnn_pyomo.experiments.config import ExperimentConfig, load_config, parse_config

__all__ = [
    "ExperimentConfig",
    "load_config",
    "parse_config",
    "run_experiment",
    "write_report",
]


def __getattr__(name):  # lazy: the runner and the report pull in heavier modules
    if name == "run_experiment":
        from mipnn_pyomo.experiments.runner import run_experiment

        return run_experiment
    if name == "write_report":
        from mipnn_pyomo.experiments.report import write_report

        return write_report
    raise AttributeError(name)
