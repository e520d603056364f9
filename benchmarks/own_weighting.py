"""Run an ``optuna-isnas`` command with the own-samples ablation (``_ablations.own_weighting``).

Each distribution then learns only from its own samples: K independent ASNG runs in one search,
without the importance-sampled update. The patch lives in this process, so a comparison runs
its searches here (``--workers 1``); give it its own ``--out``, since its records carry the
same settings as a run of the method itself.

    .venv/bin/python benchmarks/own_weighting.py compare --dataset digits --methods isnas \\
        --workers 1 --out runs/ablate-digits-own
"""

from __future__ import annotations

import sys

from _ablations import own_weighting

from optuna_isnas.cli import main as cli_main


def main(argv: list[str]) -> int:
    for i, arg in enumerate(argv):
        workers = argv[i + 1] if arg == "--workers" and i + 1 < len(argv) else None
        if arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
        if workers is not None and workers != "1":
            print(
                "own_weighting.py: pass --workers 1 (worker processes would run without the patch)",
                file=sys.stderr,
            )
            return 2
    with own_weighting():
        return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
