"""The ``optuna-isnas`` command line: ``search``, ``retrain`` and ``compare``.

The flags of ``search`` (and the search settings of ``compare``) are built from the declarations
of ``SearchConfig`` and ``TrainingRecipe`` (``optuna_isnas.flags``). Bad input (unknown dataset
or space, missing files, unparsable lists, unopenable storage, a checkpoint from other settings)
ends with exit code 2 and one line ``error: ...`` on stderr. See docs/cli.md for every flag.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from optuna_isnas import __version__

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
NAS_EXTRA = "pip install 'optuna-isnas[nas]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
    except ImportError as exc:  # the base install: the sampler without PyTorch
        missing = missing_nas_module(exc)
        if missing is None:
            raise
        return _without_nas(argv, missing)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors (exit 2), --help and --version (0)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    from optuna_isnas.errors import SettingsError
    from optuna_isnas.search.errors import SearchInterrupted

    try:
        with _warnings_as_lines():
            return int(args.func(args))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SearchInterrupted as exc:  # the first Ctrl-C or SIGTERM: a checkpoint was written
        print(str(exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # Ctrl-C outside a search's steps, or a second one during them
        print(f"interrupted: stopped at once{getattr(args, 'interrupt_hint', '')}", file=sys.stderr)
        return EXIT_INTERRUPTED


NAS_MODULES = frozenset({"torch", "torchvision", "plotly", "sklearn", "tqdm"})
"""Top-level modules that come with the ``nas`` extra (pyproject.toml)."""


def missing_nas_module(exc: ImportError) -> str | None:
    """The ``nas`` extra's module whose absence caused ``exc`` (also through the package
    ``__init__``'s that re-raise it with the install hint), or None for any other import error."""
    seen: BaseException | None = exc
    while isinstance(seen, ImportError):
        name = (seen.name or "").split(".")[0]
        if name in NAS_MODULES:
            return name
        seen = seen.__cause__
    return None


def _not_installed(first: str) -> str:
    """``"torch is not installed"``: the ``nas`` extra's modules missing here (``first`` at least)."""
    import importlib.util

    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):
            return True

    missing = sorted({first} | {name for name in NAS_MODULES if absent(name)})
    return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed"


def _without_nas(argv: list[str], first_missing: str) -> int:
    """The base install: ``--help`` and ``--version`` work, anything else is one error line."""
    missing = _not_installed(first_missing)
    note = f"Running it needs the 'nas' extra (PyTorch and friends; {missing} here): {NAS_EXTRA}"
    try:
        with settings_without_nas():
            parser = build_parser(note=note)
    except ImportError:  # a settings module needs the extra after all: no help to show
        parser = None
    if parser is not None:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version (0) or argparse's usage errors (2)
            return int(exc.code or 0)
    elif "--version" in argv:
        print(f"optuna-isnas {__version__}")
        return 0
    print(
        f"error: the optuna-isnas command needs the 'nas' extra ({missing}): {NAS_EXTRA}",
        file=sys.stderr,
    )
    return EXIT_USAGE


_SETTINGS_PACKAGES = ("optuna_isnas.search", "optuna_isnas.compare")


@contextlib.contextmanager
def settings_without_nas() -> Iterator[None]:
    """Make the settings modules of ``search`` and ``compare`` importable without PyTorch.

    Their packages' ``__init__`` import the search loop (PyTorch) and, in the base install,
    raise ImportError; the modules that declare the settings and flags need only numpy and
    Optuna. Inside the block the two packages are bare (no ``__init__`` run); afterwards they
    and everything imported from them are forgotten, so a later import raises as before.
    """
    import types

    root = Path(__file__).resolve().parent
    for name in _SETTINGS_PACKAGES:
        bare = types.ModuleType(name)
        bare.__path__ = [str(root / name.rsplit(".", 1)[1])]
        sys.modules[name] = bare
    try:
        yield
    finally:
        for name in list(sys.modules):
            if any(name == p or name.startswith(p + ".") for p in _SETTINGS_PACKAGES):
                del sys.modules[name]


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each warning as one line ``warning: ...`` on stderr, without the file, line number
    and source line Python's default format adds (which mean nothing to a command-line user)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        print(f"warning: {message}", file=file or sys.stderr)

    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


def build_parser(note: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; ``note`` ends each one's help (the base install's hint)."""
    from optuna_isnas.compare.cli import add_compare_parser
    from optuna_isnas.flags import add_flags
    from optuna_isnas.retrain_settings import RetrainSettings
    from optuna_isnas.search.config import SearchConfig
    from optuna_isnas.training.recipe import TrainingRecipe

    parser = argparse.ArgumentParser(
        prog="optuna-isnas",
        description="Several neural architectures of different complexity from one one-shot search.",
        epilog=note,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{search,retrain,compare}")

    s = sub.add_parser(
        "search", help="run a one-shot architecture search", description=_SEARCH_HELP
    )
    add_flags(s, SearchConfig)
    add_flags(s, TrainingRecipe)
    s.add_argument(
        "--resume", action="store_true", help="continue the search from OUT/checkpoint.pt"
    )
    s.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh, deleting an unfinished search or existing study",
    )
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
    add_flags(r, RetrainSettings)
    add_flags(r, TrainingRecipe)
    r.add_argument(
        "--no-attach",
        action="store_true",
        help="do not attach the children to the search's summary study (optuna.artifacts)",
    )
    r.set_defaults(func=_retrain)

    add_compare_parser(sub)
    if note is not None:
        for command in sub.choices.values():
            command.epilog = note
    return parser


_SEARCH_HELP = (
    "One-shot search: each step asks a generation of trials from the sampler, trains the shared "
    "supernet on one minibatch with their average loss, scores each on one validation minibatch and "
    "tells (accuracy, parameters). Writes OUT/architectures.json, OUT/pareto.html, OUT/checkpoint.pt "
    "and the studies NAME and NAME-summary (default storage OUT/search.journal)."
)
_RETRAIN_HELP = (
    "Train architectures from a search's architectures.json from scratch and report their test "
    "accuracy and parameters. Saves each as child-I.pt (config and state_dict: "
    "torch.load(weights_only=True)), child-I.json (architecture, input normalisation, class names, "
    "scores) and child-I.pt2 (torch.export: runs with PyTorch alone), and attaches them to the "
    "search's summary study, where optuna-dashboard --artifact-dir OUT/artifacts offers them."
)


def _search(args: argparse.Namespace) -> int:
    from optuna_isnas.flags import given_values
    from optuna_isnas.search.checkpoint import CHECKPOINT_NAME
    from optuna_isnas.search.config import SearchConfig
    from optuna_isnas.search.errors import SearchInterrupted
    from optuna_isnas.search.loop import run_search
    from optuna_isnas.search.results import format_architectures
    from optuna_isnas.training.recipe import TrainingRecipe

    config = SearchConfig.build(
        **given_values(args, SearchConfig), **given_values(args, TrainingRecipe)
    )
    try:
        result = run_search(config, resume=args.resume, overwrite=args.overwrite)
    except KeyboardInterrupt as exc:
        if not isinstance(exc, SearchInterrupted):  # stopped at once: say what is left
            checkpoint = Path(config.out) / CHECKPOINT_NAME
            args.interrupt_hint = (
                f"; resume from the last checkpoint ({checkpoint}) with --resume"
                if checkpoint.is_file()
                else " (no checkpoint had been written yet)"
            )
        raise
    if not result.is_main:  # another process of a torchrun job: rank 0 reports
        return 0

    print(
        f"\nReturned architectures of study {result.study.study_name!r} "
        "(accuracy on the whole validation split with the shared weights):"
    )
    column = "budget" if config.budgets is not None else None
    print(format_architectures(result.architectures, column=column))
    print(f"\nwrote {result.architectures_path} and {result.plot_path}")
    where = result.storage_location or "memory"
    print(
        f"studies {result.study.study_name!r} and {result.summary_study.study_name!r} are in {where}"
    )
    if result.dashboard_command():
        print(f"view them:  {result.dashboard_command()}{dashboard_install_hint()}")
    if result.architectures:
        print(f"retrain:    optuna-isnas retrain {result.architectures_path} --index 0")
    return 0


DASHBOARD_EXTRA = "pip install 'optuna-isnas[dashboard]'"


def dashboard_install_hint() -> str:
    """``"   (not installed: pip install ...)"`` where optuna-dashboard is missing, else ``""``."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("optuna_dashboard") or shutil.which("optuna-dashboard"):
        return ""
    return f"   (optuna-dashboard is not installed: {DASHBOARD_EXTRA})"


def _retrain(args: argparse.Namespace) -> int:
    from optuna_isnas.children import Attached, attach_children
    from optuna_isnas.flags import given_values
    from optuna_isnas.retrain import (
        format_retrained,
        load_architectures,
        retrain,
        saved_files,
    )
    from optuna_isnas.retrain_settings import RetrainSettings
    from optuna_isnas.training.recipe import TrainingRecipe

    document = load_architectures(args.architectures)
    overrides = given_values(args, TrainingRecipe)
    recipe = TrainingRecipe.for_dataset(document["dataset"], **overrides) if overrides else None
    given = given_values(args, RetrainSettings)
    given.setdefault("out", str(Path(args.architectures).parent / "retrained"))
    options = RetrainSettings(**given)
    results = retrain(document, None if args.all else args.index, recipe=recipe, settings=options)
    print(f"\nRetrained from scratch for {options.epochs} epochs:")
    print(format_retrained(results))
    made = ["child-I.pt", "child-I.json"]
    made += ["child-I.pt2"] if options.export else []
    made += ["child-I.onnx"] if options.onnx else []
    print(f"\nsaved the children ({', '.join(made)}) in {options.out}")
    if not args.no_attach:
        attached = attach_children(document, Path(args.architectures), saved_files(results))
        if isinstance(attached, Attached):
            print(
                f"attached them to study {attached.study_name!r}; download them from "
                f"optuna-dashboard:  {attached.dashboard_command()}{dashboard_install_hint()}"
            )
        else:
            print(f"note: the children were not attached to the summary study: {attached}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
