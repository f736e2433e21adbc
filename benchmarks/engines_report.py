"""docs/results/engines.md from benchmarks/results/engines/runs.csv (``run_engines.py report``).

Tables only: the prose (findings, choices) lives in the ``## Findings`` block of the report,
which is kept between regenerations (text between the FINDINGS markers is copied over).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd

START, END = "<!-- findings -->", "<!-- /findings -->"
ENGINE_ORDER = ["cpsat", "highs", "scip", "cbc"]
OBJ_ORDER = ["sat-margin", "min-hinge", "max-correct"]
GUROBI_LIMIT = 2000


def _num(value, digits=1) -> str:
    if value is None or value == "" or (isinstance(value, float) and pd.isna(value)):
        return "-"
    value = float(value)
    return f"{value:.0f}" if value == int(value) and digits <= 1 and abs(value) >= 1 else f"{value:.{digits}f}"


def _obj(value, objective) -> str:
    return _num(value, 2) if objective == "min-hinge" else _num(value, 0)


def _pct(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def _ttt(row) -> str:
    if pd.isna(row.ttt90_s):
        return "not reached"
    return f"{float(row.ttt90_s):.1f}"


def _run_line(row) -> str:
    if row.status == "error":  # no network at all within the limit (nothing to check)
        return (f"| {row.objective} | {row.P} | {row.engine} | none | - | not reached | - | - | "
                f"none within {int(row.time_limit)} s | n/a |")
    exact = "yes" if str(row.exact) == "True" else f"**{row.exact}**"
    return (f"| {row.objective} | {row.P} | {row.engine} | {_obj(row.objective_value, row.objective)} | "
            f"{_obj(row.bound, row.objective)} ({_obj(row.trivial_bound, row.objective)}) | {_ttt(row)} | "
            f"{_pct(row.train_acc)} | {_pct(row.test_acc)} | {row.source} | {exact} |")


RUN_HEADER = ("| objective | P | engine | objective at limit | bound (trivial) | time to 90% train (s) | train acc | "
              "test acc | network from | exact |\n|---|---|---|---|---|---|---|---|---|---|")


def grid_tables(df: pd.DataFrame) -> list[str]:
    out = []
    for section, title in (("grid", "60 s, heuristic on"), ("noheur", "60 s, heuristic off"),
                           ("long", "600 s, heuristic on")):
        part = df[df.section == section]
        for n in sorted(part.n.unique()):
            rows = part[part.n == n].copy()
            rows["o"] = rows.objective.map(OBJ_ORDER.index)
            rows["e"] = rows.engine.map(lambda e: ENGINE_ORDER.index(e) if e in ENGINE_ORDER else 9)
            rows = rows.sort_values(["P", "o", "e"])
            out += [f"### N = {n}, {title}, 1 thread per run", "", RUN_HEADER]
            out += [_run_line(r) for r in rows.itertuples()]
            out.append("")
    return out


def winners(df: pd.DataFrame) -> list[str]:
    """Per (N, objective, P) of the 60 s grid: the engine(s) with the best objective."""
    part = df[(df.section == "grid") & (df.status != "error")]
    lines = ["| N | objective | P | best at 60 s | CP-SAT | HiGHS | SCIP | CBC |", "|---|---|---|---|---|---|---|---|"]
    wins: dict[str, int] = {}
    for (n, o, P), g in part.groupby(["n", "objective", "P"]):
        vals = {r.engine: float(r.objective_value) for r in g.itertuples() if not pd.isna(r.objective_value)}
        if not vals:
            continue
        best = (min if o == "min-hinge" else max)(vals.values())
        names = [e for e in ENGINE_ORDER if e in vals and vals[e] == best]
        for e in names:
            wins[e] = wins.get(e, 0) + 1
        cells = [_obj(vals.get(e), o) for e in ENGINE_ORDER]
        lines.append(f"| {n} | {o} | {P} | {', '.join(names)} | " + " | ".join(cells) + " |")
    lines += ["", "Best (ties count for each): " + ", ".join(f"{e} {wins.get(e, 0)}" for e in ENGINE_ORDER), ""]
    return lines


def ttt_table(df: pd.DataFrame) -> list[str]:
    """Time to 90% training accuracy per instance and engine, heuristic on (grid) and off (noheur)."""
    part = df[df.section.isin(["grid", "noheur"]) & (df.status != "error")]
    lines = ["| N | objective | P | heuristic | CP-SAT | HiGHS | SCIP | CBC |", "|---|---|---|---|---|---|---|---|"]
    for (n, o, P, h), g in part.groupby(["n", "objective", "P", "heuristic"]):
        by = {r.engine: _ttt(r) for r in g.itertuples()}
        lines.append(f"| {n} | {o} | {P} | {'on' if str(h) == 'True' else 'off'} | "
                     + " | ".join(by.get(e, "-") for e in ENGINE_ORDER) + " |")
    return lines + ["", "(seconds from the start of the solve to the first network with 90% training accuracy, "
                    "60 s limit, 1 thread; 'not reached' within the limit)", ""]


def variant_table(df: pd.DataFrame, section: str) -> list[str]:
    """Target / bound attempts: one line per variant, every seed and the median."""
    part = df[df.section == section]
    if part.empty:
        return ["(not run)", ""]
    lines = ["| variant | N | objective | seeds | objective per seed | median | bound per seed | "
             "time to 90% (s) | test acc | exact |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (v, n, o), g in part.groupby(["variant", "n", "objective"], sort=False):
        g = g.sort_values("seed")
        vals = [float(x) for x in g.objective_value if not pd.isna(x)]
        med = _obj(statistics.median(vals), o) if vals else "-"
        lines.append(f"| {v} | {n} | {o} | {', '.join(map(str, g.seed))} | "
                     f"{', '.join(_obj(x, o) for x in g.objective_value)} | {med} | "
                     f"{', '.join(_obj(x, o) for x in g.bound)} | {', '.join(_ttt(r) for r in g.itertuples())} | "
                     f"{', '.join(_pct(x) for x in g.test_acc)} | "
                     f"{'yes' if all(str(x) == 'True' for x in g.exact) else 'NO'} |")
    return lines + [""]


def gurobi_sizes(df: pd.DataFrame) -> list[str]:
    sizes = df.dropna(subset=["n_vars"]).drop_duplicates(["n", "objective", "P"]).sort_values(["n", "objective", "P"])
    lines = ["| N | objective | P | variables | constraints | within 2,000 / 2,000? |", "|---|---|---|---|---|---|"]
    for r in sizes.itertuples():
        ok = int(r.n_vars) <= GUROBI_LIMIT and int(r.n_cons) <= GUROBI_LIMIT
        lines.append(f"| {r.n} | {r.objective} | {r.P} | {int(r.n_vars):,} | {int(r.n_cons):,} | {'yes' if ok else 'no'} |")
    return lines + [""]


def machine_line(df: pd.DataFrame) -> str:
    loads = pd.to_numeric(df.load1, errors="coerce").dropna()
    core_s = float((pd.to_numeric(df.runtime_s, errors="coerce").fillna(0) * df.threads.astype(int)).sum())
    return (f"{len(df)} runs; 1-minute load average at the start of a run: median {loads.median():.2f} "
            f"(min {loads.min():.2f}, max {loads.max():.2f}); benchmark-slot use about {core_s / 60:.0f} core-minutes.")


def write_report(csv_path: Path, out: Path) -> None:
    df = pd.read_csv(csv_path)
    key = ["section", "variant", "engine", "objective", "P", "n", "seed", "heuristic", "time_limit", "threads"]
    df = df.drop_duplicates(key, keep="last")  # a configuration run twice (a requeued run): the later row
    findings = ""
    if out.exists():
        text = out.read_text()
        if START in text and END in text:
            findings = text[text.index(START):text.index(END) + len(END)]
    findings = findings or f"{START}\n## Findings\n\n(to be written)\n{END}"
    lines = ["# Engines on the same instances (issue 13)", "",
             "Generated by `python benchmarks/run_engines.py report` from `benchmarks/results/engines/runs.csv` "
             "(the findings block is kept between regenerations). Adult, rows drawn with seed 0, hidden 16, "
             "default formulation, solver seed 0 unless a seed column says otherwise; no accuracy target (the "
             "incumbent timeline gives the time to 90% training accuracy and the value at the limit). Every "
             "run went through the exactness check (`exact`).", "", machine_line(df), "", findings, "",
             "## Best engine per instance at 60 s", ""] + winners(df)
    lines += ["## Time to 90% training accuracy", ""] + ttt_table(df)
    lines += ["## All runs", ""] + grid_tables(df)
    lines += ["## Target (a): N = 280, sat-margin, P = 1, 120 s, 2 threads (bench2)", ""] + variant_table(df, "target")
    lines += ["## Target (b): attempts at a proven bound below the trivial one", ""] + variant_table(df, "bound")
    lines += ["## Gurobi (pip licence: at most 2,000 variables and 2,000 constraints)", ""] + gurobi_sizes(df)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
