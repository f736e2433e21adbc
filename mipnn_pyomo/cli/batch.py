"""``mipnn train --batch-size B``: batch training over the whole training pool (docs/batch.md)."""

from __future__ import annotations

import json
import signal
import sys

from mipnn_pyomo.cli.options import DEFAULT_INPUT_ENCODING, non_negative_int, positive_float, positive_int, sample_seed

BATCH_P = 15  # the reference's P (Thorbjarnarson & Yorke-Smith)
DEFAULT_BATCH_TIME_LIMIT = 1740.0  # seconds: 29 minutes, the whole batch run


def add_batch_arguments(p) -> None:
    from mipnn_pyomo.batch import ENGINES, METHODS
    from mipnn_pyomo.batch.config import ACCEPTS

    g = p.add_argument_group("batch training (with --batch-size)")
    g.add_argument("--batch-size", type=positive_int, default=None,
                   help="train on the whole pool by many MIPs of this many rows (default: one MIP)")
    g.add_argument("--batch-method", choices=list(METHODS), default="local",
                   help="local (default: local-branching moves of one network), neighbourhood (exact MIPs of one "
                        "neuron's neighbourhood over all training rows) or average (the reference)")
    g.add_argument("--batch-engine", choices=list(ENGINES), default="mip",
                   help="mip (default) or ls: every batch solve replaced by the local search (ablation)")
    g.add_argument("--epochs", type=positive_int, default=None, help="epochs (default: the method's)")
    g.add_argument("--batch-k", type=positive_int, default=8,
                   help="local, neighbourhood: local-branching radius, sum |w - v| <= K (8)")
    g.add_argument("--batch-accept", choices=list(ACCEPTS), default="train",
                   help="neighbourhood: keep a step if training accuracy rises (train, default) and validation "
                        "does not drop (train-val)")
    g.add_argument("--batch-mip-k", type=positive_int, default=None,
                   help="neighbourhood: the MIP searches radius K around the local search's point (default: its ball)")
    g.add_argument("--batch-round-size", type=positive_int, default=8,
                   help="local, neighbourhood: batches / steps solved against the same network per round (8)")
    g.add_argument("--batch-margin", type=non_negative_int, default=0,
                   help="neighbourhood: count rows correct by a score margin >= this (0: accuracy)")
    g.add_argument("--batch-time", type=positive_float, default=6.0, help="seconds per batch solve (6)")
    g.add_argument("--val-fraction", type=float, default=0.2, help="validation share of the pool (0.2)")
    g.add_argument("--checkpoint", metavar="FILE", help="checkpoint after each round; an existing one is resumed")
    g.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (default: a local cluster)")
    g.add_argument("--workers", type=non_negative_int, default=None,
                   help="Dask worker processes (default: one per core; 0: in this process)")
    p.set_defaults(P=None)  # resolved by resolve_batch_defaults: 15 with --batch-size, else 1


def resolve_batch_defaults(args) -> None:
    """Defaults that differ with --batch-size: --P 15 (else 1), --input-encoding minmax (else
    thermometer; the batch defaults were measured with min-max inputs) and --time-limit
    DEFAULT_BATCH_TIME_LIMIT s for the whole run (else none), so that the default run fits 30 min."""
    batching = getattr(args, "batch_size", None) is not None
    if getattr(args, "input_encoding", "") is None:
        args.input_encoding = "minmax" if batching else DEFAULT_INPUT_ENCODING
    if args.P is None:
        args.P = BATCH_P if batching else 1
    if batching and args.time_limit is None:
        args.time_limit = DEFAULT_BATCH_TIME_LIMIT


def batch_config_from_args(args, n_pool: int | None = None):
    """The run's BatchConfig. ``--n-train`` equal to the pool's size (``all``, the default) is
    ``n_train=None``: all pool rows in pool order, the split the Python API makes for the same
    settings (a sample of all rows would be the same rows in another order, so another split)."""
    from mipnn_pyomo.batch import BatchConfig

    n_train = None if args.n_train in ("all", n_pool) else args.n_train
    return BatchConfig(method=args.batch_method, engine=args.batch_engine, batch_size=args.batch_size,
                       epochs=args.epochs, P=args.P, hidden=tuple(args.hidden), objective=args.objective,
                       solver=args.solver, seed=sample_seed(args), n_train=n_train,
                       val_fraction=args.val_fraction, batch_time=args.batch_time, time_limit=args.time_limit,
                       decimals=args.decimals, k=getattr(args, "batch_k", 8),
                       accept=getattr(args, "batch_accept", "train"), margin=getattr(args, "batch_margin", 0),
                       mip_k=getattr(args, "batch_mip_k", None), round_size=getattr(args, "batch_round_size", 8))


def train_batch(args, dataset) -> int:
    """Run the batch method, save the best network, print the summary; 128 + signal if stopped by one."""
    from mipnn_pyomo.batch import train_batched
    from mipnn_pyomo.outputs import check_writable

    if args.checkpoint:
        check_writable(args.checkpoint, "--checkpoint")
    result = train_batched(dataset, batch_config_from_args(args, len(dataset.y_pool)), checkpoint=args.checkpoint,
                           scheduler=args.scheduler, workers=args.workers, progress=not (args.quiet or args.json))
    if args.out:
        result.network.save(args.out)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"batch method    {summary['method']} (engine {summary['engine']}), {summary['epochs_done']} epoch(s), "
              f"{summary['batches_solved']} batch solves, {summary['exact_batches']} passed the exactness check")
        print(f"train accuracy  {100 * result.train_accuracy:.2f}%   validation {100 * result.val_accuracy:.2f}%")
        print(f"test accuracy   {100 * result.test_accuracy:.2f}%  ({len(dataset.y_test)} samples)")
        print(f"time            {result.runtime_s:.1f} s" + (f"  (stopped: {result.stopped})" if result.stopped else ""))
        if args.out:
            print(f"model written to {args.out}")
    if result.interrupt_signal:
        name = signal.Signals(result.interrupt_signal).name
        print(f"interrupted by {name}: best network {'saved to ' + args.out if args.out else 'not saved (no --out)'}",
              file=sys.stderr)
        return 128 + int(result.interrupt_signal)
    return 0
