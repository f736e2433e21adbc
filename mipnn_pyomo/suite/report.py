"""The suite's report, in the conventions of MIP benchmarking (Mittelmann, MIPLIB).

* time: shifted geometric mean, sgm(t) = exp(mean(log(t_i + s))) - s with shift s = 10 s; an
  instance not solved to optimality counts at the time limit;
* solved: the number proved optimal within the limit;
* primal gap at the time limit (Berthold), against the best objective known for the instance
  (the export's reference solve or any row of the CSVs, whichever is better);
* performance profile (Dolan and More): for each engine, the share of instances it solved within
  tau times the fastest engine's time on that instance, tau on a log scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SHIFT_S = 10.0


def shifted_geometric_mean(values, shift: float = SHIFT_S) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.exp(np.mean(np.log(values + shift))) - shift)


def load_rows(paths) -> pd.DataFrame:
    from mipnn_pyomo.errors import ConfigError

    frames = []
    for path in paths:
        try:
            frames.append(pd.read_csv(path))
        except (OSError, pd.errors.EmptyDataError) as exc:
            raise ConfigError(f"cannot read suite results {path}: {exc}") from None
    df = pd.concat(frames, ignore_index=True)
    df["config"] = df["solver"] + np.where(df["heuristic"].astype(str) == "True", "+heuristic", "") + \
        " (" + df["time_limit_s"].astype(str) + " s)"
    df["time_s"] = np.where(df["solved"].astype(str) == "True", df["wall_s"], df["time_limit_s"].astype(float))
    return df


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per engine configuration: instances, solved, sgm time, mean primal gap, exact runs."""
    grouped = df.groupby("config")
    return pd.DataFrame({
        "instances": grouped.size(),
        "solved": grouped["solved"].apply(lambda s: int((s.astype(str) == "True").sum())),
        "sgm_time_s": grouped["time_s"].apply(shifted_geometric_mean).round(2),
        "mean_primal_gap": grouped["primal_gap"].mean().round(4),
        "exact": grouped["exact"].apply(lambda s: f"{int((s.astype(str) == 'True').sum())}/{len(s)}"),
    })


def profile_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """instance x config matrix of time / best time on that instance (inf where not solved)."""
    solved = df["solved"].astype(str) == "True"
    times = df.assign(t=np.where(solved, df["wall_s"], np.inf)).pivot_table(
        index="instance", columns="config", values="t", aggfunc="min")
    best = times.min(axis=1).replace(np.inf, np.nan)
    return times.div(best.clip(lower=1e-3), axis=0)


def plot_profile(ratios: pd.DataFrame, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    taus = np.logspace(0, 3, 200)
    fig, ax = plt.subplots(figsize=(6, 4))
    for config in ratios.columns:
        r = ratios[config].to_numpy()
        ax.step(taus, [(r <= t).mean() for t in taus], where="post", label=config)
    ax.set_xscale("log")
    ax.set_xlabel("tau (time / fastest engine's time)")
    ax.set_ylabel("share of instances solved")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title("Performance profile")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def write_report(csv_paths, out_dir) -> Path:
    """Write ``report.md`` and ``performance-profile.png`` into ``out_dir``; returns the report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    from mipnn_pyomo.compare import to_markdown

    df = load_rows(csv_paths)
    table = summary_table(df)
    png = plot_profile(profile_ratios(df), out_dir / "performance-profile.png")
    per_instance = df.pivot_table(index="instance", columns="config", values="objective", aggfunc="first")
    text = "\n".join([
        "# Suite results", "",
        f"{df['instance'].nunique()} instances; time = shifted geometric mean (shift {SHIFT_S:g} s, unsolved at the "
        "time limit); primal gap against the best known objective.", "",
        to_markdown(table.reset_index()), "", f"![performance profile]({png.name})", "",
        "## Objective at the time limit, per instance", "", to_markdown(per_instance.reset_index()), "",
    ])
    from mipnn_pyomo.outputs import atomic_write_text

    return atomic_write_text(out_dir / "report.md", text)
