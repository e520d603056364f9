"""The ``optuna-isnas`` command line: ``search`` and ``retrain``.

Bad input (unknown dataset or space, missing files, unparsable lists, unopenable storage, a
checkpoint from other settings) ends with exit code 2 and one line ``error: ...`` on stderr.
See docs/cli.md for every flag.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors (exit 2) and --help (exit 0)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    from optuna_isnas.data import DatasetError
    from optuna_isnas.search.errors import SearchError, SearchInterrupted

    try:
        return args.func(args)
    except (SearchError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SearchInterrupted as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optuna-isnas",
        description="Several neural architectures of different complexity from one one-shot search.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{search,retrain,compare}")

    s = sub.add_parser(
        "search", help="run a one-shot architecture search", description=_SEARCH_HELP
    )
    s.add_argument("--dataset", help="digits (default), fashion-mnist, cifar10 or imagefolder")
    s.add_argument(
        "--data-root", help="directory of the dataset's files (fashion-mnist, cifar10, imagefolder)"
    )
    s.add_argument("--space", help="search space: chain (default), enas or nb201")
    tradeoff = s.add_mutually_exclusive_group()
    tradeoff.add_argument(
        "--epsilons",
        help='comma-separated tradeoffs, one per distribution, e.g. "0,0.5,1" (K = their number)',
    )
    tradeoff.add_argument(
        "--budgets",
        help='comma-separated parameter budgets instead of epsilons, K/M suffixes allowed, e.g. "20K,50K,0.1M"',
    )
    s.add_argument(
        "-K",
        "--num-distributions",
        type=int,
        help="K when no epsilons or budgets are given (default 4)",
    )
    s.add_argument(
        "--lambda",
        dest="samples_per_distribution",
        type=int,
        help="samples per distribution and step (default 2)",
    )
    s.add_argument("--epochs", type=int, help="passes over the training split")
    s.add_argument("--batch-size", type=int, help="training and validation minibatch size")
    s.add_argument("--lr", type=float, help="initial learning rate (default 0.025; 0.1 for digits)")
    s.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda or cuda:N")
    s.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: 1 for images up to 16 px on the CPU, else torch's choice)",
    )
    s.add_argument(
        "--storage", help="Optuna storage URL or journal file (default: OUT/search.journal)"
    )
    s.add_argument("--study-name", help="search study name (default: DATASET-SPACE)")
    s.add_argument("--seed", type=int, help="seed of weights, data order and sampler (default 0)")
    s.add_argument("--out", help="output directory (default runs/search)")
    s.add_argument(
        "--objective",
        choices=("accuracy", "loss"),
        help="first objective told to the sampler (default accuracy)",
    )
    s.add_argument("--sampler", choices=("isnas", "random", "nsgaii", "tpe"), help="default isnas")
    s.add_argument(
        "--resume", action="store_true", help="continue the search from OUT/checkpoint.pt"
    )
    s.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh, deleting an unfinished search or existing study",
    )
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--max-steps-per-epoch", type=int, help="cap on steps per epoch (quick runs)")
    s.add_argument(
        "--downsample",
        type=int,
        help="average-pool images to this side, e.g. 14 for Fashion-MNIST 14x14",
    )
    s.add_argument("--train-subset", type=int, help="use at most N training examples (quick runs)")
    s.add_argument("--val-subset", type=int, help="use at most N validation examples (quick runs)")
    s.set_defaults(func=_search)

    r = sub.add_parser(
        "retrain", help="train searched architectures from scratch", description=_RETRAIN_HELP
    )
    r.add_argument("architectures", help="architectures.json written by a search")
    which = r.add_mutually_exclusive_group()
    which.add_argument(
        "--index",
        type=int,
        action="append",
        help="index of an architecture to retrain (repeatable)",
    )
    which.add_argument("--all", action="store_true", help="retrain all of them (the default)")
    r.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    r.add_argument("--batch-size", type=int, default=64, help="minibatch size (default 64)")
    r.add_argument("--lr", type=float, help="initial learning rate (default: the search recipe's)")
    r.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    r.add_argument("--threads", type=int, help="CPU threads for torch (default: as for search)")
    r.add_argument(
        "--seed", type=int, default=0, help="seed of the fresh weights and data order (default 0)"
    )
    r.add_argument("--data-root", help="dataset directory (default: the search's)")
    r.add_argument(
        "--out",
        help="where to save the children (default: next to architectures.json, in retrained/)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--max-steps-per-epoch", type=int, help="cap on steps per epoch (quick runs)")
    r.set_defaults(func=_retrain)

    from optuna_isnas.compare.cli import add_compare_parser

    add_compare_parser(sub)
    return parser


_SEARCH_HELP = (
    "One-shot search: each step asks a generation of trials from the sampler, trains the shared "
    "supernet on one minibatch with their average loss, scores each on one validation minibatch and "
    "tells (accuracy, parameters). Writes OUT/architectures.json, OUT/pareto.html, OUT/checkpoint.pt "
    "and the studies NAME and NAME-summary (default storage OUT/search.journal)."
)
_RETRAIN_HELP = (
    "Train architectures from a search's architectures.json from scratch and report their test "
    "accuracy and parameters; saves each as child-I.pt (nn.Module), child-I.state_dict.pt and child-I.json."
)


def parse_floats(text: str, flag: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` -> ``(0.0, 0.5, 1.0)``; SearchError naming ``flag`` when it does not parse."""
    from optuna_isnas.search.errors import SearchError

    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SearchError(
            f"{flag} {text!r} does not parse: give comma-separated numbers, e.g. {flag} 0,0.5,1"
        ) from None
    return values


_SUFFIXES = {"K": 1e3, "M": 1e6, "G": 1e9}


def parse_budgets(text: str) -> tuple[float, ...]:
    """``"0.2M,500K,1e6"`` -> ``(200000.0, 500000.0, 1000000.0)``; K, M, G suffixes (any case).

    Raises SearchError naming the bad item when the list does not parse or a budget is
    not positive.
    """
    from optuna_isnas.search.errors import SearchError

    budgets = []
    for item in text.split(","):
        part = item.strip()
        scale = _SUFFIXES.get(part[-1:].upper(), 1.0) if part else 1.0
        number = part[:-1] if scale != 1.0 else part
        try:
            value = float(number) * scale
        except ValueError:
            raise SearchError(
                f"--budgets {text!r} does not parse at {item!r}: give comma-separated sizes "
                "with an optional K, M or G suffix, e.g. --budgets 0.2M,0.5M,1M"
            ) from None
        if not (value > 0 and value != float("inf")):
            raise SearchError(f"--budgets: every budget must be a positive size, got {item!r}")
        budgets.append(value)
    return tuple(budgets)


def _search(args: argparse.Namespace) -> int:
    from optuna_isnas.search import SearchConfig, TrainingRecipe, format_table, run_search

    given: dict[str, Any] = {
        key: getattr(args, key)
        for key in (
            "dataset",
            "data_root",
            "space",
            "num_distributions",
            "samples_per_distribution",
            "epochs",
            "batch_size",
            "device",
            "threads",
            "storage",
            "study_name",
            "seed",
            "out",
            "objective",
            "sampler",
            "max_steps_per_epoch",
            "downsample",
            "train_subset",
            "val_subset",
        )
        if getattr(args, key) is not None
    }
    if args.epsilons is not None:
        given["epsilons"] = parse_floats(args.epsilons, "--epsilons")
    if args.budgets is not None:
        given["budgets"] = parse_budgets(args.budgets)
    given["progress"] = not args.no_progress
    config = SearchConfig(**given)
    if args.lr is not None:
        config.recipe = TrainingRecipe(
            **{**vars(TrainingRecipe.for_dataset(config.dataset)), "lr": args.lr}
        )
    result = run_search(config, resume=args.resume, overwrite=args.overwrite)

    print(
        f"\nReturned architectures of study {result.study.study_name!r} "
        "(accuracy on the whole validation split with the shared weights):"
    )
    print(format_table(result.architectures))
    print(f"\nwrote {result.architectures_path} and {result.plot_path}")
    where = result.storage_location or "memory"
    print(
        f"studies {result.study.study_name!r} and {result.summary_study.study_name!r} are in {where}"
    )
    if result.dashboard_command():
        print(f"view them:  {result.dashboard_command()}")
    print(f"retrain:    optuna-isnas retrain {result.architectures_path} --index 0")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from optuna_isnas.retrain import format_table, load_architectures, retrain
    from optuna_isnas.search import TrainingRecipe

    document = load_architectures(args.architectures)
    recipe = None
    if args.lr is not None:
        recipe = TrainingRecipe(
            **{**vars(TrainingRecipe.for_dataset(document["dataset"])), "lr": args.lr}
        )
    out = Path(args.out) if args.out else Path(args.architectures).parent / "retrained"
    results = retrain(
        document,
        None if args.all else args.index,
        epochs=args.epochs,
        batch_size=args.batch_size,
        recipe=recipe,
        device=args.device,
        seed=args.seed,
        out=out,
        data_root=args.data_root,
        progress=not args.no_progress,
        threads=args.threads,
        max_steps_per_epoch=args.max_steps_per_epoch,
    )
    print(f"\nRetrained from scratch for {args.epochs} epochs:")
    print(format_table(results))
    print(f"\nsaved the children (child-I.pt, child-I.state_dict.pt, child-I.json) in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
