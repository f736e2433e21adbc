"""Figures and a Markdown report from a results database.

For each experiment in the database: training accuracy, test accuracy and runtime against the
number of training samples N, one line per method (and P), the mean over seeds with a band of one
standard deviation (as in the paper's figures); tables of mean ± std per cell with the runs that hit
the time limit marked; the reference baselines per N; and, beside our numbers, the paper authors'
own results (read from a CSV; context, not targets).
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from mipnn_pyomo.errors import ConfigError
from mipnn_pyomo.experiments.config import BASELINES_METHOD
from mipnn_pyomo.experiments.store import ResultStore

__all__ = ["write_report", "find_reference_csv", "load_reference", "aggregate"]

REFERENCE_NAME = "adult-reference-runs.csv"
REFERENCE_ENV = "MIPNN_REFERENCE_CSV"
METHOD_ORDER = ["max-correct", "min-hinge", "sat-margin", "gd"]
COLORS = {"max-correct": "tab:blue", "min-hinge": "tab:orange", "sat-margin": "tab:green", "gd": "tab:red"}
P_COLORS = {1: "tab:green", 3: "tab:blue", 7: "tab:purple", 15: "tab:brown"}
BASELINE_NAMES = {"majority": "majority class", "logistic_regression": "logistic regression", "mlp": "MLP (16, real)"}
TIME_LIMIT_MARK = "†"


# ------------------------------------------------------------------------------ reference results


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def find_reference_csv(explicit: str | os.PathLike | None = None) -> Path | None:
    """``explicit`` (must exist), else $MIPNN_REFERENCE_CSV (must exist), else the repository's copy
    ``experiments/reference/adult-reference-runs.csv`` (beside the package or under the current
    directory), else ``../shared/data/reference/adult-reference-runs.csv``; None if none exists."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"reference file {str(p)!r} not found")
        return p
    env = os.environ.get(REFERENCE_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"${REFERENCE_ENV} = {env!r}: file not found")
        return p
    candidates = []
    for base in (_repo_root(), Path.cwd()):
        candidates.append(base / "experiments" / "reference" / REFERENCE_NAME)
    for base in (_repo_root(), Path.cwd()):
        candidates.append(base.parent / "shared" / "data" / "reference" / REFERENCE_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return None


def load_reference(path: str | os.PathLike) -> dict[tuple[str, int, int], dict[str, float]]:
    """(method, P, n_train) -> the CSV row (accuracies in percent, runtimes in seconds)."""
    need = ["method", "P", "n_train", "runs", "train_acc_mean", "test_acc_mean", "test_acc_std",
            "runtime_s_mean", "runtime_s_max"]
    out = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in need if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"reference file {str(path)!r} lacks column(s) {', '.join(missing)}")
            for i, row in enumerate(reader, 2):
                try:
                    key = (row["method"].strip(), int(row["P"]), int(row["n_train"]))
                    out[key] = {k: float(row[k]) for k in need[3:]}
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"reference file {str(path)!r}, line {i}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read reference file {str(path)!r}: {exc}") from None
    return out


# ------------------------------------------------------------------------------ aggregation


def _stats(values: list[float]) -> dict[str, float] | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None
    n = len(vals)
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "min": min(vals), "max": max(vals)}


def _series_key(method: str, P) -> tuple:
    order = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (order, method, P or 0)


def aggregate(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Group one experiment's runs: per (method, P) series and N the statistics over seeds."""
    rows = list(rows)
    latest: dict[tuple, dict] = {}
    superseded = 0
    for r in sorted(rows, key=lambda r: r.get("finished_at") or ""):
        key = (r["method"], r["P"], r["n_train"], r["seed"])
        if key in latest:
            superseded += 1
        latest[key] = r
    runs = list(latest.values())
    series: dict[tuple, dict[int, dict[str, Any]]] = defaultdict(dict)
    baselines: dict[int, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    failures = []
    for r in runs:
        if r["method"] == BASELINES_METHOD:
            if r["state"] == "done":
                b = json.loads(r["summary_json"] or "{}").get("baselines", {})
                for name, v in b.items():
                    for metric in ("train_accuracy", "test_accuracy", "runtime_s"):
                        baselines[r["n_train"]][name][metric].append(v.get(metric))
            else:
                failures.append(r)
            continue
        cell = series[(r["method"], r["P"])].setdefault(r["n_train"], {"runs": [], "failed": []})
        if r["state"] == "done":
            cell["runs"].append(r)
        else:
            cell["failed"].append(r)
            failures.append(r)
    out_series = {}
    for key in sorted(series, key=lambda k: _series_key(*k)):
        per_n = {}
        for n, cell in sorted(series[key].items()):
            done = cell["runs"]
            per_n[n] = {
                "train": _stats([100 * r["train_accuracy"] for r in done if r["train_accuracy"] is not None]),
                "test": _stats([100 * r["test_accuracy"] for r in done if r["test_accuracy"] is not None]),
                "runtime": _stats([r["runtime_s"] for r in done if r["runtime_s"] is not None]),
                "runs": len(done),
                "failed": len(cell["failed"]),
                "time_limit_hits": sum(1 for r in done + cell["failed"] if r.get("hit_time_limit")),
                "seeds": sorted(r["seed"] for r in done),
            }
        out_series[key] = per_n
    out_baselines = {
        n: {name: {m: _stats([100 * x if m != "runtime_s" else x for x in vals if x is not None])
                   for m, vals in metrics.items()} for name, metrics in models.items()}
        for n, models in sorted(baselines.items())
    }
    return {"series": out_series, "baselines": out_baselines, "failures": failures, "superseded": superseded,
            "runs": runs}


# ------------------------------------------------------------------------------ figures


def _label(method: str, P, multi_P: bool) -> str:
    return f"{method} P={P}" if multi_P else (method if method == "gd" or P in (None, 1) else f"{method} P={P}")


def _color(method: str, P, by_P: bool, i: int) -> str:
    if by_P and P in P_COLORS:
        return P_COLORS[P]
    if not by_P and method in COLORS:
        return COLORS[method]
    return f"C{i % 10}"


def _plot(agg, name: str, out: Path, reference, time_limits: list[float]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    series = agg["series"]
    methods = {m for m, _ in series}
    Ps = {P for _, P in series}
    multi_P = len(Ps) > 1
    by_P = multi_P and len(methods) == 1
    metrics = [("train", "training accuracy (%)", "train_acc_mean"),
               ("test", "test accuracy (%)", "test_acc_mean"),
               ("runtime", "runtime (s, log scale)", "runtime_s_mean")]
    files = []

    def draw(ax, metric, ylabel, ref_col):
        for i, ((method, P), per_n) in enumerate(series.items()):
            ns = [n for n in per_n if per_n[n][metric]]
            if not ns:
                continue
            mean = [per_n[n][metric]["mean"] for n in ns]
            std = [per_n[n][metric]["std"] for n in ns]
            color = _color(method, P, by_P, i)
            ax.plot(ns, mean, marker="o", color=color, label=_label(method, P, multi_P))
            lo = [max(m - s, m / 10) if metric == "runtime" else m - s for m, s in zip(mean, std)]
            ax.fill_between(ns, lo, [m + s for m, s in zip(mean, std)], color=color, alpha=0.18, linewidth=0)
            hits = [n for n in ns if per_n[n]["time_limit_hits"]]
            if hits and metric == "runtime":
                ax.scatter(hits, [per_n[n][metric]["mean"] for n in hits], marker="x", s=60, color="k", zorder=5)
            if reference:
                ref_ns = [n for n in sorted(per_n) if (method, P or 1, n) in reference]
                if ref_ns:
                    ax.plot(ref_ns, [reference[(method, P or 1, n)][ref_col] for n in ref_ns], linestyle=":",
                            color=color, alpha=0.8, linewidth=1.2)
        if metric == "runtime":
            ax.set_yscale("log")
            for t in sorted(set(time_limits)):
                ax.axhline(t, color="gray", linestyle="--", linewidth=0.8)
        ax.set_xlabel("training samples N")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)

    note = "mean ± 1 std over seeds" + ("; dotted: paper authors' runs (context)" if reference else "")
    note += "; x: a run hit the time limit (dashed)" if any(
        c["time_limit_hits"] for per_n in series.values() for c in per_n.values()) else ""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for ax, (metric, ylabel, ref_col) in zip(axes, metrics):
        draw(ax, metric, ylabel, ref_col)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{name}: {note}", fontsize=10)
    fig.tight_layout()
    path = out / f"{name}_summary.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path.name)
    for metric, ylabel, ref_col in metrics:
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        draw(ax, metric, ylabel, ref_col)
        ax.legend(fontsize=8)
        ax.set_title(f"{name}: {ylabel.split(' (')[0]}", fontsize=10)
        fig.text(0.01, 0.005, note, fontsize=7, color="gray")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        path = out / f"{name}_{ 'runtime' if metric == 'runtime' else metric + '_accuracy'}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)
    return files


# ------------------------------------------------------------------------------ markdown


def _fmt(st, digits=1, with_max=False) -> str:
    if not st:
        return "–"
    s = f"{st['mean']:.{digits}f} ± {st['std']:.{digits}f}"
    if with_max:
        s += f" (max {st['max']:.{digits}f})"
    return s


def _cell_text(c: dict[str, Any], metric: str, n_seeds: int, digits=1, with_max=False) -> str:
    if c is None:
        return ""
    s = _fmt(c[metric], digits, with_max)
    marks = []
    if c["time_limit_hits"]:
        marks.append(f"{TIME_LIMIT_MARK}{c['time_limit_hits']}")
    if c["runs"] != n_seeds:
        marks.append(f"{c['runs']}/{n_seeds} runs")
    if c["failed"]:
        marks.append(f"{c['failed']} failed")
    return s + (" " + ", ".join(marks) if marks else "")


def _ref_text(ref, key, metric) -> str:
    r = ref.get(key) if ref else None
    if not r:
        return "–"
    if metric == "train":
        return f"{r['train_acc_mean']:.1f}"
    if metric == "test":
        return f"{r['test_acc_mean']:.1f} ± {r['test_acc_std']:.1f}"
    mx = r["runtime_s_max"]
    return f"{r['runtime_s_mean']:.1f} (max {mx:.1f})" if mx < 100 else f"{r['runtime_s_mean']:.0f} (max {mx:.0f})"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _settings_lines(runs: list[dict], settings: dict | None) -> list[str]:
    def values(key):
        return sorted({json.dumps(r.get(key)) if isinstance(r.get(key), (list, dict)) else r.get(key)
                       for r in runs if r.get(key) is not None}, key=str)

    mip_runs = [r for r in runs if r["method"] not in (BASELINES_METHOD, "gd")]
    solvers = sorted({f"{r['solver_name']} {r['solver_version']}" for r in mip_runs if r.get("solver_name")})
    lines = []
    ds = values("dataset")
    lines.append(f"- data set: {', '.join(map(str, ds)) or '?'}; hidden layers: {', '.join(map(str, values('hidden')))}; "
                 f"seeds: {', '.join(map(str, values('seed')))}")
    tl = values("time_limit")
    lines.append(f"- time limit per run: {', '.join(f'{t:g} s' for t in tl)}; target training accuracy: "
                 f"{', '.join(str(t) for t in values('target_accuracy')) or 'none (optimality)'}; "
                 f"threads per run: {', '.join(map(str, values('threads')))}")
    if solvers:
        lines.append(f"- MIP solver: {', '.join(solvers)}")
    if settings and settings.get("formulation") is not None:
        lines.append(f"- formulation options: `{json.dumps(settings.get('formulation'))}` (empty: package defaults)")
    pv = values("package_version")
    if pv:
        lines.append(f"- mipnn-pyomo version (+ a hash of its sources): {', '.join(map(str, pv))}")
    if len(pv) > 1:
        lines.append(f"- **warning: the runs of this experiment were made by {len(pv)} different versions of the "
                     "code** (the source changed between or during runs); compare cells with care")
    workers = {r.get("worker", "").split(":")[0] for r in runs if r.get("worker")}
    if workers:
        lines.append(f"- hosts: {', '.join(sorted(workers))}")
    first = min((r["started_at"] for r in runs if r.get("started_at")), default=None)
    last = max((r["finished_at"] for r in runs if r.get("finished_at")), default=None)
    if first:
        lines.append(f"- runs from {first} to {last} (UTC)")
    return lines


def _experiment_section(name: str, rows: list[dict], settings: dict | None, out: Path, reference,
                        reference_path: Path | None, dataset_is_adult: bool) -> list[str]:
    agg = aggregate(rows)
    series = agg["series"]
    runs = agg["runs"]
    seeds = sorted({r["seed"] for r in runs})
    n_seeds = len(seeds) or 1
    ref = reference if (reference and dataset_is_adult) else None
    time_limits = [r["time_limit"] for r in runs if r.get("time_limit") and r["method"] != BASELINES_METHOD]
    lines = [f"## {name}", ""]
    if settings and settings.get("description"):
        lines += [settings["description"], ""]
    lines += _settings_lines(runs, settings)
    states = defaultdict(int)
    for r in runs:
        states[r["state"]] += 1
    lines.append("- runs in the database: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
                 + (f" ({agg['superseded']} older run(s) of the same cells with other settings ignored)" if agg["superseded"] else ""))
    lines.append("")
    if not series:
        lines += ["No training runs recorded.", ""]
        return lines
    figs = _plot(agg, name, out, ref, time_limits)
    lines += [f"![{name}]({figs[0]})", ""]
    lines += ["Figures: " + ", ".join(f"[{f}]({f})" for f in figs[1:]) + ". Lines: mean over seeds; bands: ± 1 standard deviation"
              + ("; dotted lines: the paper authors' runs (context)" if ref else "") + ".", ""]
    multi_P = len({P for _, P in series}) > 1
    labels = [_label(m, P, multi_P) for m, P in series]
    ns = sorted({n for per_n in series.values() for n in per_n})
    legend = (f"Cells: mean ± std over the seeds ({n_seeds}: {', '.join(map(str, seeds))}); "
              f"{TIME_LIMIT_MARK}k: k runs of the cell stopped at the time limit (before reaching the target); "
              "'k/n runs': only k of n seeds finished; failed runs (no network, errors) are listed below.")
    ref_note = (" `paper` columns: the paper authors' results for the same cell (5 runs, Gurobi, 8 cores, "
                "36,000 s limit, a stricter stop rule; see below) — context, not targets." if ref else "")
    lines += [legend + ref_note, ""]
    for metric, title, digits, with_max in (("test", "Test accuracy (%)", 1, False),
                                            ("train", "Training accuracy (%)", 1, False),
                                            ("runtime", "Runtime (s; MIP: model build + solve, GD: training), mean ± std (max)", 1, True)):
        headers = ["N"] + labels
        if ref:
            headers += [f"paper: {l}" for l in labels]
        body = []
        for n in ns:
            row = [str(n)] + [_cell_text(per_n.get(n), metric, n_seeds, digits, with_max) or "–"
                              for per_n in series.values()]
            if ref:
                row += [_ref_text(ref, (m, P or 1, n), metric) for m, P in series]
            body.append(row)
        lines += [f"### {title}", ""] + _table(headers, body) + [""]

    if agg["baselines"]:
        names = sorted({k for v in agg["baselines"].values() for k in v},
                       key=lambda k: list(BASELINE_NAMES).index(k) if k in BASELINE_NAMES else 99)
        headers = ["N"] + [f"{BASELINE_NAMES.get(k, k)}: train / test (%)" for k in names]
        body = []
        for n, models in agg["baselines"].items():
            row = [str(n)]
            for k in names:
                m = models.get(k, {})
                row.append(f"{_fmt(m.get('train_accuracy'))} / {_fmt(m.get('test_accuracy'))}")
            body.append(row)
        lines += ["### Reference baselines (real-valued models, same training samples)", "",
                  "scikit-learn models on the same (N, seed) training samples, evaluated on the same test set: "
                  "they put the integer networks' accuracies in context.", ""] + _table(headers, body) + [""]

    if agg["failures"]:
        lines += ["### Failed runs", ""]
        body = []
        for r in sorted(agg["failures"], key=lambda r: (r["method"], r["P"] or 0, r["n_train"], r["seed"])):
            err = (r.get("error") or r.get("status") or "").splitlines()[0].replace("|", "\\|")
            body.append([r["method"], str(r["P"] if r["P"] is not None else "–"), str(r["n_train"]), str(r["seed"]),
                         r["state"], err[:200]])
        lines += _table(["method", "P", "N", "seed", "state", "error"], body) + [""]
    return lines


def write_report(db: str | os.PathLike, out: str | os.PathLike, reference: str | os.PathLike | None = None,
                 experiment: str | None = None) -> Path:
    """Write ``out/report.md`` and the PNG figures; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with ResultStore(db, create=False) as store:
        names = store.experiment_names()
        if experiment is not None:
            if experiment not in names:
                raise ConfigError(f"no runs of experiment {experiment!r} in {str(db)!r}; it has: {', '.join(names) or 'none'}")
            names = [experiment]
        rows = {n: store.runs(experiment=n) for n in names}
        settings = {}
        for e in store.experiments():  # latest settings per name
            settings[e["name"]] = json.loads(e["settings_json"])
    ref_path = find_reference_csv(reference)
    ref = load_reference(ref_path) if ref_path else None
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Experiment results",
        "",
        f"Generated by `mipnn experiment report` from `{Path(db).name}` on {now}.",
        "",
    ]
    if ref_path:
        lines += [
            f"**Reference columns** (`paper: ...`) come from `{_display_path(ref_path)}`: per-cell means of the "
            "result files the paper's authors (Thorbjarnarson & Yorke-Smith) committed to their repository — "
            "5 runs per cell, Gurobi 9 on 8 cores, a 36,000 s limit per run, and a stop rule that for min-hinge "
            "and sat-margin is stricter than 90% training accuracy. Solver, hardware, time limit, stop rule and the "
            "training subsets all differ from ours: **these numbers are context, not targets**, and a gap to "
            "them is not by itself a bug.",
            "",
        ]
    else:
        lines += ["No reference file of the paper authors' results was found (use --reference PATH).", ""]
    if not names:
        lines += ["The database holds no runs.", ""]
    for name in names:
        s = settings.get(name)
        is_adult = all((r.get("dataset") or "adult") == "adult" for r in rows[name])
        if ref and not is_adult:
            lines += [f"(Experiment {name} is not on Adult: no reference columns.)", ""]
        lines += _experiment_section(name, rows[name], s, out, ref, ref_path, is_adult)
    path = out / "report.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def _display_path(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(_repo_root()))
    except ValueError:
        return str(p)
