"""Argument types and the option groups shared by several commands (data, model, solver), and
their translation into the library's plain values. The only module that knows argparse's
``Namespace`` besides the command modules."""

from __future__ import annotations

import argparse
import math
from typing import Any, Callable, Sequence

from mipnn_pyomo.errors import ModelConfigError
from mipnn_pyomo.solvers import DEFAULT_SOLVER

DATASET_NAMES = ["adult", "breast_cancer", "wine", "iris", "digits"]
DEFAULT_INPUT_ENCODING = "thermometer"  # chosen by validation accuracy: docs/results/generalisation.md
DEFAULT_THRESHOLDS = 4
DEFAULT_SELECT_GRID = "encoding=minmax,thermometer"
SEED_LIMIT = 2**31  # every seed is an integer in [0, 2^31): numpy's legacy seeding and every solver accept it
DEFAULT_HIDDEN = (16,)


def number(kind: type, what: str, low: float, high: float = math.inf, low_open: bool = False,
           none_words: Sequence[str] = ()) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` number in [low, high] (or (low, high] with ``low_open``), or
    None for one of ``none_words``; a one-line error naming ``what`` otherwise."""
    bounded = high < math.inf
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]" if bounded else f"{'>' if low_open else '>='} {low:g}"
    prefix = f"{what} " if what else ""

    def parse(text: str):
        if text.lower() in none_words:
            return None
        try:
            value = kind(text)
        except ValueError:
            if none_words:
                message = f"{prefix}must be a number in {interval} or {none_words[0]!r}, got {text!r}"
            else:
                message = f"{prefix}expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            raise argparse.ArgumentTypeError(message) from None
        if not ((value > low) if low_open else (value >= low)) or value > high or math.isinf(value) or value != value:
            shape = f"in {interval}" if bounded else ("an integer " if kind is int else "") + interval
            raise argparse.ArgumentTypeError(f"{prefix}must be {shape}, got {text}")
        return value

    return parse


target_number = number(float, "target accuracy", 0, 1, low_open=True, none_words=("none", "off", "optimal"))


def target_accuracy(text: str):
    """--target-accuracy: a number in (0, 1], none/off/optimal, or "start" (the warm start's own
    training accuracy, training.START_TARGET)."""
    return "start" if text.strip().lower() == "start" else target_number(text)


positive_float = number(float, "", 0, low_open=True)
positive_int = number(int, "", 1)
non_negative_int = number(int, "", 0)
non_negative_float = number(float, "", 0)
margin = number(float, "margin", 0, 1, low_open=True)


def check_seed(value: Any, what: str = "seed") -> int:
    """The one rule for seeds: an integer in [0, 2^31); a ModelConfigError otherwise."""
    try:
        seed = int(str(value).strip())
    except ValueError:
        raise ModelConfigError(f"{what} must be an integer in [0, 2^31), got {value!r}") from None
    if not 0 <= seed < SEED_LIMIT:
        raise ModelConfigError(f"{what} must be an integer in [0, 2^31), got {seed}")
    return seed


def seed(text: str) -> int:
    """argparse type of a seed (see :func:`check_seed`)."""
    try:
        return check_seed(text)
    except ModelConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seed_list(text: str) -> list[int]:
    """argparse type of comma-separated seeds, each by :func:`check_seed`."""
    parts = [t.strip() for t in str(text).split(",") if t.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds, got {text!r}")
    try:
        return [check_seed(p) for p in parts]
    except ModelConfigError as exc:
        raise argparse.ArgumentTypeError(f"each of --seeds: {exc}") from None


class AppendWidth(argparse.Action):
    """``--hidden W`` repeated: the widths given, or DEFAULT_HIDDEN when none is (the default lives
    here once, not at every use)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        widths = [] if current is None or current is self.default else list(current)
        setattr(namespace, self.dest, (*widths, values))


# --------------------------------------------------------------------------- option groups


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=DATASET_NAMES,
                     help="a shipped data set (default: adult); breast_cancer, wine, iris, digits come with scikit-learn "
                          "(fixed stratified split: 30%% test, seed 0)")
    src.add_argument("--csv", metavar="PATH", help="a CSV file with a header row")
    g.add_argument("--target", metavar="COLUMN", help="the label column of --csv")
    g.add_argument("--test-csv", metavar="PATH", help="a separate test CSV (else a seeded hold-out split)")
    g.add_argument("--test-size", type=float, default=0.3, help="hold-out fraction without --test-csv (0.3)")
    g.add_argument("--split-seed", type=seed, default=0, help="seed of the hold-out split (0)")
    g.add_argument("--decimals", type=int, default=4, help="input grid: features rounded to this many decimals (4)")
    g.add_argument("--input-encoding", choices=["minmax", "thermometer"], default=None,
                   help=f"numeric columns: min-max scaled to [0, 1], or thermometer: 0/1 features 'x > t' at "
                        f"quantile thresholds fitted on the training file ({DEFAULT_INPUT_ENCODING}; "
                        f"minmax with --batch-size, as measured in docs/results/batch.md)")
    g.add_argument("--thresholds", type=positive_int, default=DEFAULT_THRESHOLDS,
                   help=f"thermometer thresholds per numeric column ({DEFAULT_THRESHOLDS})")
    g.add_argument("--n-train", type=n_train, default=None,
                   help="training rows drawn from the training file, or 'all' (100; all with --batch-size)")
    g.add_argument("--seed", type=seed, default=None,
                   help="seed of the training sample, the solver and tie breaking, in [0, 2^31) (0; a 'seed' in "
                        "--solver-options sets the solver's seed unless --seed is given)")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    from mipnn_pyomo.objectives import objective_names

    g = p.add_argument_group("model")
    g.add_argument("--objective", choices=objective_names(), default="sat-margin",
                   help="training objective (sat-margin); min-weight, min-neurons and neuron-margin are one MIP "
                        "with the training accuracy >= --target-accuracy as a constraint")
    g.add_argument("--P", dest="P", type=int, default=1, help="weights and biases in {-P..P} (1: ternary)")
    g.add_argument("--hidden", type=int, action=AppendWidth, default=DEFAULT_HIDDEN,
                   help="hidden-layer width, repeat for deeper nets (16)")
    g.add_argument("--margin", type=margin, default=0.5, help="margin of sat-margin and min-hinge (0.5)")
    g.add_argument("--formulation", choices=["tight", "paper"], default="tight",
                   help="tight (default: per-sample big-M, strengthened) or paper (the paper's model as written)")
    g.add_argument("--encoding", choices=["bigm", "gdp"], default="bigm",
                   help="sign activation written as big-M rows directly (bigm) or as a pyomo.gdp disjunction (gdp)")
    g.add_argument("--symmetry-breaking", action="store_true", help="order first-layer hidden neurons by bias")
    g.add_argument("--hinge-breakpoints", type=int, default=None, help="breakpoints of min-hinge's PWL loss")
    g.add_argument("--two-sided-output-products", action="store_true",
                   help="all four product rows in the output layer (default: one-sided where the objective allows)")


def add_p_first_argument(p: argparse.ArgumentParser) -> None:
    """--p-first N: the first layer's weights and biases in {-N..N}, every other layer in {-P..P}."""
    p.add_argument("--p-first", dest="p_first", type=int, default=None, metavar="N",
                   help="first layer's weights and biases in {-N..N} (thresholds inside a min-max feature's "
                        "range with P = 1); other layers keep --P (default: --P everywhere)")


def add_selection_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model selection (on the training rows only)")
    g.add_argument("--select", choices=["cv", "holdout"], default=None,
                   help="choose among --select-grid by k-fold cross-validation or a 25%% validation split of the "
                        "training rows, then train the choice on all of them (the choice and scores go in the model)")
    g.add_argument("--select-grid", metavar="SPEC", default=DEFAULT_SELECT_GRID,
                   help="KEY=v1,v2;... over encoding, thresholds, recipe, objective, P, p_first (none or N), hidden; "
             "keys not listed "
                        f"come from the other flags ({DEFAULT_SELECT_GRID!r})")
    g.add_argument("--folds", type=number(int, "--folds", 2, 20), default=3, help="folds of --select cv (3)")


def add_recipe_argument(p: argparse.ArgumentParser) -> None:
    from mipnn_pyomo.recipes import DEFAULT_RECIPE, RECIPES

    p.add_argument("--recipe", choices=list(RECIPES), default=DEFAULT_RECIPE,
                   help="training recipe: paper (one MIP, stop at the target accuracy), or a sequence of MIPs "
                        "sharing --time-limit: " + "; ".join(f"{n}: {r.description}" for n, r in RECIPES.items()
                                                             if n != DEFAULT_RECIPE))
    p.add_argument("--stage-solvers", metavar="S1,S2,...", type=lambda t: [x.strip() or None for x in t.split(",")],
                   help="one solver per recipe stage (empty: --solver), e.g. highs,cpsat,cpsat")
    from mipnn_pyomo.lexicographic import DEFAULT_MODE, MODES

    p.add_argument("--lexicographic", choices=list(MODES), default=DEFAULT_MODE,
                   help="a lexicographic recipe (bemi): its MIPs one after another (sequence), or one model of "
                        "Gurobi's multi-objective optimisation (gurobi); auto: see docs/solvers.md")


def add_solver_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("solver")
    g.add_argument("--solver", default=DEFAULT_SOLVER, help=f"{DEFAULT_SOLVER} (default) or another solver listed by `mipnn solvers`")
    g.add_argument("--time-limit", type=positive_float, default=None, help="seconds (none)")
    g.add_argument("--target-accuracy", type=target_accuracy, default=0.9,
                   help="stop once the incumbent's training accuracy reaches this (0.9); 'none' solves to optimality; "
                        "'start': the --warm-start network's own training accuracy")
    g.add_argument("--threads", type=positive_int, default=None, help="solver threads")
    g.add_argument("--mip-gap", type=non_negative_float, default=None, help="relative MIP gap to stop at")
    g.add_argument("--solver-options", metavar="FILE",
                   help="a TOML or JSON file of solver options (see solvers/); the flags above win over it")
    g.add_argument("--warm-start", metavar="gd|MODEL.json", help="a MIP start: 'gd' trains the GD baseline first")
    g.add_argument("--no-heuristic", action="store_true",
                   help="switch off the local-search primal heuristic inside the solve")


# --------------------------------------------------------------------------- plain values


def sample_seed(args) -> int:
    """The seed of the training sample: --seed, 0 when not given."""
    return 0 if args.seed is None else args.seed


def n_train(text: str) -> int | str:
    """--n-train: a positive integer or 'all' (the whole training pool)."""
    return "all" if text.strip().lower() == "all" else positive_int(text)


def load_data_from_args(args):
    """The data set the options name; ``args.n_train`` is resolved against its pool on the way
    ('all' or, with --batch-size and no --n-train, the pool's size; else 100 by default)."""
    from mipnn_pyomo.data import load_csv, load_named_dataset

    encoding = dict(encoding=getattr(args, "input_encoding", None) or DEFAULT_INPUT_ENCODING,
                    thresholds=getattr(args, "thresholds", DEFAULT_THRESHOLDS))
    if args.csv:
        if not args.target:
            raise ModelConfigError("--csv needs --target COLUMN (the label column)")
        dataset = load_csv(args.csv, args.target, test_csv=args.test_csv, test_size=args.test_size,
                           split_seed=args.split_seed, decimals=args.decimals, **encoding)
    elif args.target or args.test_csv:
        raise ModelConfigError("--target and --test-csv go with --csv")
    else:
        dataset = load_named_dataset(args.dataset or "adult", decimals=args.decimals, **encoding)
    batching = getattr(args, "batch_size", None) is not None
    if args.n_train == "all" or (args.n_train is None and batching):
        args.n_train = len(dataset.y_pool)
    elif args.n_train is None:
        args.n_train = 100
    return dataset


def formulation_from_args(args):
    from mipnn_pyomo.formulation import FormulationOptions

    return FormulationOptions(
        encoding=args.encoding,
        variant=args.formulation,
        symmetry_breaking=args.symmetry_breaking,
        hinge_breakpoints=args.hinge_breakpoints,
        margin=args.margin,
        one_sided_output_products=not args.two_sided_output_products,
    )


def solver_options_from_args(args) -> dict[str, Any] | None:
    """The --solver-options file's table for --solver (normalised keys and pass-through keys
    together, as :meth:`SolveOptions.from_mapping` takes them), or None."""
    from mipnn_pyomo.solvers.options import load_solver_options

    path = getattr(args, "solver_options", None)
    return load_solver_options(path, args.solver) if path else None


def train_kwargs_from_args(args, progress=None) -> dict[str, Any]:
    """Keyword arguments of :func:`mipnn_pyomo.training.train_on_dataset` from parsed options. The
    option file goes in whole as ``solver_options``; ``train_network`` builds the SolveOptions with
    :meth:`SolveOptions.from_mapping`, where a flag that was given wins over the file. The solver's
    seed: --seed if given, else the file's ``seed``, else the sampling seed (``train_on_dataset``)."""
    from mipnn_pyomo.network import IntegerNetwork

    warm = getattr(args, "warm_start", None)
    if warm and warm != "gd":
        warm = IntegerNetwork.load(warm)
    solver_options = solver_options_from_args(args)
    if args.seed is not None and solver_options is not None:  # an explicit --seed wins over the file's seed
        solver_options["seed"] = args.seed
    return dict(
        hidden=tuple(args.hidden),
        P=args.P,
        P_first=getattr(args, "p_first", None),
        objective=args.objective,
        solver=args.solver,
        time_limit=args.time_limit,
        threads=args.threads,
        mip_gap=args.mip_gap,
        target_accuracy=args.target_accuracy,
        formulation=formulation_from_args(args),
        warm_start=warm,
        solver_options=solver_options,
        verbose=getattr(args, "verbose", False),
        progress=progress,
        heuristic=not getattr(args, "no_heuristic", False),
        recipe=recipe_from_args(args),
        lexicographic=getattr(args, "lexicographic", "auto"),
    )


def recipe_from_args(args):
    """--recipe, with --stage-solvers applied (one solver per stage)."""
    from mipnn_pyomo.recipes import get_recipe

    name = getattr(args, "recipe", "paper")
    solvers = getattr(args, "stage_solvers", None)
    return name if not solvers else get_recipe(name).with_solvers(*solvers)


def describe_target(target: float | None) -> str:
    """The accuracy target as a person reads it."""
    if target == "start":
        return "the warm start's own training accuracy"
    return "none (solve to optimality)" if target is None else f"{target:g}"
