"""``export_suite``: write the suite's instances, best known solutions and metadata to a folder.

Per instance NAME:

* ``NAME.mps.gz``: the training MIP (HiGHS's MPS writer, Pyomo component names as column and row
  names, so that solutions are portable between engines);
* ``NAME.sol``: the best known solution, MIPLIB style (``=obj= value`` then one ``column value``
  line per column), derived from the best network by forward pass, so it is complete and exact;
* ``NAME.json``: metadata (objective sense, N, P, hidden, seed, size, best known objective and
  bound, the engine, its version and time that found them, the trivial bound, a grade).

The reference solve runs the registered engine ``engine`` for ``time_limit`` seconds with no
accuracy target. Existing ``NAME.json`` files are kept, so an interrupted export resumes."""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from mipnn_pyomo.solvers import DEFAULT_SOLVER
from mipnn_pyomo.outputs import atomic_write_bytes as atomic_write
from mipnn_pyomo.suite.catalogue import SuiteInstance, suite_grid

EASY_SECONDS = 10.0


def mps_columns(model) -> tuple[list, np.ndarray, float]:
    """(column variables in MPS order, objective coefficients, objective constant), compiled as
    the MPS writer compiles them (Pyomo's LinearStandardFormCompiler)."""
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    return list(form.columns), form.c.toarray()[0], float(form.c_offset[0])


def solution_lines(instance, network) -> tuple[list[str], float]:
    """The ``.sol`` lines of ``network``'s complete MIP solution and its objective c x + c0,
    which must equal the forward pass's objective (else the export stops with an error)."""
    columns, cost, offset = mps_columns(instance.model)
    start = instance.start_values(network)
    values = np.array([start[v] if v in start else (v.value or 0.0) for v in columns], dtype=float)
    objective = float(cost @ values + offset)
    forward = instance.evaluate(network)
    if abs(objective - forward) > 1e-6 * max(1.0, abs(forward)):
        raise AssertionError(f"solution objective {objective} differs from the forward pass's {forward}")
    lines = [f"=obj= {objective:.10g}"] + [f"{v.name} {val:.10g}" for v, val in zip(columns, values)]
    return lines, objective


def grade(termination: str, wall_s: float) -> str:
    """easy: proved optimal within 10 s; medium: proved optimal within the limit; open: not proved."""
    if termination != "optimal":
        return "open"
    return "easy" if wall_s <= EASY_SECONDS else "medium"


def reference_solve(instance, engine: str, time_limit: float, threads: int):
    from mipnn_pyomo.solvers import SolveOptions, get_solver

    options = SolveOptions(time_limit=time_limit, threads=threads, seed=0, target_accuracy=None)
    return get_solver(engine).solve(instance, options)


def load_networks(directory) -> list[tuple[str, object]]:
    """(file name, IntegerNetwork) of every ``*.json`` network in ``directory`` (e.g. the networks
    benchmarks/run_engines.py saved); files that are not networks are skipped."""
    from mipnn_pyomo.network import IntegerNetwork

    networks = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            networks.append((path.name, IntegerNetwork.load(path)))
        except Exception:  # noqa: BLE001 - not a network file: skip it
            continue
    return networks


def better_known(instance, objective: float, candidates) -> tuple[object, float, str] | None:
    """The candidate network with the best forward-pass objective on ``instance`` if it beats
    ``objective`` (same architecture and P, and feasible for the objective's rows), else None.
    Any such network is a complete MIP solution of the instance (start values by forward pass)."""
    data, spec = instance.data, instance.spec
    best = None
    for name, net in candidates:
        if net.hidden != list(data.hidden) or net.n_inputs != data.n_features or net.P != data.P:
            continue
        value = float(spec.search_value(net.output_scores(data.X), instance.outputs))
        if np.isfinite(value) and spec.better(spec.in_mip_sense(value), objective if best is None else best[1]):
            best = (net, spec.in_mip_sense(value), name)
    return best


def export_one(point: SuiteInstance, directory: Path, engine: str, time_limit: float, threads: int,
               candidates=()) -> dict:
    """Write NAME.mps.gz, NAME.sol and NAME.json of one suite point; returns the metadata. A
    ``candidates`` network (name, network) better than the reference solve's becomes the best known
    solution (``best_known.source`` names it; the bound stays the reference solve's)."""
    from mipnn_pyomo.export import export_instance
    from mipnn_pyomo.objectives import objective_upper_limit
    from mipnn_pyomo.training import check_exactness

    instance, _ = point.build()
    with tempfile.TemporaryDirectory() as tmp:
        mps = export_instance(instance, Path(tmp) / f"{point.name}.mps", "mps", readable_names=True)
        atomic_write(directory / f"{point.name}.mps.gz", gzip.compress(mps.read_bytes(), mtime=0))
    result = reference_solve(instance, engine, time_limit, threads)
    exact = check_exactness(instance, result.network).ok
    network, source = result.network, f"reference solve ({result.solver})"
    better = better_known(instance, instance.evaluate(network), candidates)
    if better is not None:
        network, source = better[0], f"network file {better[2]}"
    lines, objective = solution_lines(instance, network)
    atomic_write(directory / f"{point.name}.sol", ("\n".join(lines) + "\n").encode())
    meta = {
        **point.to_dict(),
        "sense": instance.sense,
        "columns": len(mps_columns(instance.model)[0]),
        "variables": instance.sizes["variables"],
        "constraints": instance.sizes["constraints"],
        "trivial_bound": float(objective_upper_limit(point.objective, instance.data)),
        "best_known": {"objective": objective, "bound": result.bound, "termination": result.termination.value,
                       "engine": result.solver, "engine_version": result.solver_version,
                       "time_limit_s": time_limit, "threads": threads, "wall_s": round(result.wall_s, 3),
                       "train_accuracy": network.accuracy(instance.data.X, instance.data.y), "exact": exact,
                       "source": source},
        "grade": grade(result.termination.value, result.wall_s),
    }
    atomic_write(directory / f"{point.name}.json", (json.dumps(meta, indent=1) + "\n").encode())
    return meta


def export_suite(directory, grid: str = "default", engine: str = DEFAULT_SOLVER, time_limit: float = 600.0,
                 threads: int = 1, progress: Callable[[str], None] | None = None, best_known=None) -> list[dict]:
    """Export every point of ``grid`` not yet in ``directory``; returns all points' metadata.
    ``best_known``: a folder of network files whose best network per instance, when better than
    the reference solve's, becomes the instance's best known solution."""
    candidates = load_networks(best_known) if best_known is not None else []
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    metas = []
    for point in suite_grid(grid):
        meta_path = directory / f"{point.name}.json"
        if meta_path.exists():
            metas.append(json.loads(meta_path.read_text()))
            continue
        t0 = time.perf_counter()
        metas.append(export_one(point, directory, engine, time_limit, threads, candidates))
        if progress is not None:
            best = metas[-1]["best_known"]
            progress(f"{point.name}: {best['termination']}, objective {best['objective']:g}, "
                     f"bound {best['bound']}, {time.perf_counter() - t0:.1f} s, grade {metas[-1]['grade']}")
    return metas


def load_suite(directory) -> list[dict]:
    """The metadata of every instance in ``directory``, by name."""
    from mipnn_pyomo.errors import ConfigError

    paths = sorted(Path(directory).glob("*.json"))
    if not paths:
        raise ConfigError(f"no suite instances (NAME.json) in {directory}; run `mipnn suite export {directory}` first")
    return [json.loads(p.read_text()) for p in paths]
