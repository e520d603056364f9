"""``optuna-isnas compare``: the command line of the comparison.

``add_compare_parser(subparsers)`` registers the subcommand on the main parser; ``run_compare(args)``
runs it and returns the exit code. Its flags come from the settings' declarations: the unit
search's (``SearchConfig`` and ``TrainingRecipe``, with the comparison's defaults, minus the
settings each job sets itself) and the comparison's own (``CompareConfig``).
"""

from __future__ import annotations

import argparse
from typing import Any

from optuna_isnas.compare.config import (
    COMPARE_SEARCH_DEFAULTS,
    JOB_SETTINGS,
    CompareConfig,
)
from optuna_isnas.flags import add_flags, given_values
from optuna_isnas.search.config import SearchConfig
from optuna_isnas.training.recipe import TrainingRecipe

HELP = (
    "Compare IS-NAS (one search, K distributions) with K separate single-eps ASNG searches and with "
    "NSGA-II, TPE and random sampling driving the same one-shot supernet loop, on one dataset and space "
    "with several seeds. Compute is counted in supernet forward+backward passes; each method's returned set "
    "is scored on the whole validation split by the hypervolume of (validation error, parameters) against a "
    "fixed reference point. Writes OUT/summary.md, OUT/summary.json, OUT/figures/*.html (and .png with a "
    "headless Chromium) and a study with the figures for optuna-dashboard (OUT/dashboard.journal)."
)
ALIASES = {"sampler_options": ("--isnas-option",)}
"""The sampler options go to IS-NAS and the separate searches only; the older flag name stays."""


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The unit search's flags (with the comparison's defaults) and the comparison's own."""
    add_flags(
        parser,
        SearchConfig,
        defaults=COMPARE_SEARCH_DEFAULTS,
        exclude=JOB_SETTINGS,
        aliases=ALIASES,
    )
    add_flags(parser, TrainingRecipe)
    add_flags(parser, CompareConfig)


def config_from_args(args: argparse.Namespace) -> CompareConfig:
    """The comparison the flags describe (SettingsError for a value that does not parse)."""
    return CompareConfig.build(
        **given_values(args, SearchConfig, exclude=JOB_SETTINGS),
        **given_values(args, TrainingRecipe),
        **given_values(args, CompareConfig),
    )


def run_compare(args: argparse.Namespace) -> int:
    """Run ``optuna-isnas compare``; prints the table and where everything was written.

    Bad settings raise SettingsError, which the main command line prints as one ``error:`` line.
    """
    from optuna_isnas.compare.api import compare

    result = compare(config_from_args(args))
    print(result.table)
    for note in result.notes:
        print(f"note: {note}")
    print(f"\nwrote {result.summary_path} and {result.summary_path.with_suffix('.json')}")
    for key, files in result.figures.items():
        print(f"figure {key}: {files.html}" + (f" and {files.png}" if files.png else ""))
    if result.dashboard:
        print(
            f"dashboard:  {result.dashboard['command']}   (study {result.dashboard['study_name']!r})"
        )
    print(f"total wall time {result.wall_s:.0f} s")
    return 0
