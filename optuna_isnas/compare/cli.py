"""``optuna-isnas compare``: the command line of the comparison.

``add_compare_parser(subparsers)`` registers the subcommand on the main parser;
``run_compare(args)`` runs it and returns the exit code. Until the main CLI registers it, run
``python -m optuna_isnas.compare ...`` (same flags).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from optuna_isnas.compare.config import METHODS, CompareConfig, CompareError

EXIT_USAGE = 2

HELP = (
    "Compare IS-NAS (one search, K distributions) with K separate single-eps ASNG searches and with "
    "NSGA-II, TPE and random sampling driving the same one-shot supernet loop, on one dataset and space "
    "with several seeds. Compute is counted in supernet forward+backward passes; each method's returned set "
    "is scored on the whole validation split by the hypervolume of (validation error, parameters) against a "
    "fixed reference point. Writes OUT/summary.md, OUT/summary.json, OUT/figures/*.html (and .png with a "
    "headless Chromium) and a study with the figures for optuna-dashboard (OUT/dashboard.journal)."
)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers, e.g. 0,1,2"
        ) from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers, e.g. 0,1,3"
        ) from None


def _option(text: str) -> tuple[str, Any]:
    """``"weighting=own"`` -> ("weighting", "own"); numbers, true/false/null are parsed as JSON."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: give KEY=VALUE, e.g. weighting=own or loss_scale=1.0"
        )
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _seeds(text: str) -> tuple[int, ...]:
    """``"5"`` alone means seeds 0..4; a list (``"0,3,7"``) is taken as given."""
    values = _ints(text)
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise argparse.ArgumentTypeError(
                f"--seeds {text}: give a positive count or a list such as 0,1,2"
            )
        return tuple(range(values[0]))
    return values


def add_compare_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``compare`` subcommand to an argparse subparsers object and return its parser."""
    p = subparsers.add_parser(
        "compare",
        help="compare IS-NAS with separate searches and Optuna's samplers",
        description=HELP,
    )
    add_arguments(p)
    p.set_defaults(func=run_compare)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = CompareConfig()
    p.add_argument(
        "--dataset",
        default=d.dataset,
        help="digits (default), fashion-mnist, cifar10 or imagefolder",
    )
    p.add_argument("--data-root", help="directory of the dataset's files")
    p.add_argument(
        "--downsample",
        type=int,
        help="average-pool images to this side, e.g. 14 for Fashion-MNIST 14x14",
    )
    p.add_argument("--space", default=d.space, help="search space (default chain)")
    p.add_argument(
        "--width", type=int, help="chain space: channels of the first stage (default 16)"
    )
    p.add_argument(
        "--epsilons",
        type=_floats,
        default=d.epsilons,
        help="IS-NAS tradeoffs, K = their number (default 0,1,3,9)",
    )
    p.add_argument(
        "--lambda",
        dest="samples_per_distribution",
        type=int,
        default=d.samples_per_distribution,
        help="samples per distribution and step (default 2)",
    )
    p.add_argument(
        "--isnas-option",
        dest="isnas_options",
        type=_option,
        action="append",
        default=[],
        help="extra ISNASSampler argument for IS-NAS and the separate searches, KEY=VALUE (repeatable), "
        "e.g. weighting=own",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=d.epochs,
        help="epochs of one IS-NAS search = one compute unit (default 10)",
    )
    p.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="minibatch size (default 64)"
    )
    p.add_argument(
        "--lr",
        type=float,
        help="learning rate of the shared weights (default: the search recipe's)",
    )
    p.add_argument(
        "--objective",
        choices=("loss", "accuracy"),
        default=d.objective,
        help="first objective told to every sampler (default loss: validation-minibatch cross-entropy)",
    )
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=d.seeds,
        help="a count (5 = seeds 0..4, the default) or a list 0,3,7",
    )
    p.add_argument(
        "--methods",
        type=_names,
        default=d.methods,
        help=f"comma-separated, from {','.join(METHODS)} (default all)",
    )
    p.add_argument(
        "--isnas-budgets",
        dest="isnas_multipliers",
        type=_floats,
        default=d.isnas_multipliers,
        help="IS-NAS compute as multiples of the unit (default 1; e.g. 0.5,1)",
    )
    p.add_argument(
        "--separate-budgets",
        dest="separate_multipliers",
        type=_floats,
        default=d.separate_multipliers,
        help="total compute of the K separate searches, multiples of the unit (default 1,2)",
    )
    p.add_argument(
        "--baseline-budget",
        dest="baseline_multiplier",
        type=float,
        default=d.baseline_multiplier,
        help="compute of NSGA-II, TPE and random (default 1)",
    )
    p.add_argument("--train-subset", type=int, help="at most N training examples")
    p.add_argument("--val-subset", type=int, help="at most N validation (and test) examples")
    p.add_argument("--max-steps-per-epoch", type=int, help="cap on steps per epoch")
    p.add_argument(
        "--trace-points",
        type=int,
        default=d.trace_points,
        help="hypervolume-vs-compute points per search (default 6)",
    )
    p.add_argument(
        "--reference-error",
        type=float,
        default=d.reference_error,
        help="reference point's error (default 1.0)",
    )
    p.add_argument(
        "--reference-params",
        type=float,
        help="reference point's parameters (default 1.1 x the largest child)",
    )
    p.add_argument(
        "--retrain-epochs",
        type=int,
        default=d.retrain_epochs,
        help="retrain the chosen subset from scratch (default 0: no)",
    )
    p.add_argument("--retrain-seeds", type=_ints, help="seeds to retrain (default: the first)")
    p.add_argument(
        "--workers", type=int, default=d.workers, help="searches in parallel (processes, default 1)"
    )
    p.add_argument(
        "--threads", type=int, default=d.threads, help="torch CPU threads per search (default 1)"
    )
    p.add_argument("--device", default=d.device, help="cpu (default), cuda or auto")
    p.add_argument("--out", default=d.out, help="output directory (default runs/compare)")
    p.add_argument("--no-png", action="store_true", help="HTML figures only")
    p.add_argument("--no-dashboard", action="store_true", help="do not write the dashboard study")
    p.add_argument(
        "--resume", action="store_true", help="reuse finished searches found in OUT (same settings)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def config_from_args(args: argparse.Namespace) -> CompareConfig:
    space_options = {"width": args.width} if args.width is not None else {}
    return CompareConfig(
        dataset=args.dataset,
        data_root=args.data_root,
        downsample=args.downsample,
        space=args.space,
        space_options=space_options,
        epsilons=args.epsilons,
        isnas_options=dict(args.isnas_options),
        samples_per_distribution=args.samples_per_distribution,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        objective=args.objective,
        seeds=args.seeds,
        methods=args.methods,
        isnas_multipliers=args.isnas_multipliers,
        separate_multipliers=args.separate_multipliers,
        baseline_multiplier=args.baseline_multiplier,
        train_subset=args.train_subset,
        val_subset=args.val_subset,
        max_steps_per_epoch=args.max_steps_per_epoch,
        trace_points=args.trace_points,
        reference_error=args.reference_error,
        reference_params=args.reference_params,
        retrain_epochs=args.retrain_epochs,
        retrain_seeds=args.retrain_seeds,
        workers=args.workers,
        threads=args.threads,
        device=args.device,
        out=args.out,
        png=not args.no_png,
        dashboard=not args.no_dashboard,
        resume=args.resume,
        progress=not args.quiet,
    )


def run_compare(args: argparse.Namespace) -> int:
    """Run ``optuna-isnas compare``; prints the table and where everything was written."""
    from optuna_isnas.compare.api import compare
    from optuna_isnas.data import DatasetError
    from optuna_isnas.search.errors import SearchError

    try:
        result = compare(config_from_args(args))
    except (CompareError, DatasetError, SearchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(result.table)
    for note in result.notes:
        print(f"note: {note}")
    print(f"\nwrote {result.summary_path} and {result.summary_path.with_suffix('.json')}")
    for key, paths in result.figures.items():
        if not key.startswith("_"):
            print(
                f"figure {key}: {paths['html']}" + (f" and {paths['png']}" if paths["png"] else "")
            )
    if result.dashboard:
        print(
            f"dashboard:  {result.dashboard['command']}   (study {result.dashboard['study_name']!r})"
        )
    print(f"total wall time {result.wall_s:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optuna_isnas.compare", description=HELP)
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run_compare(args)
