"""How precisely plain ASNG (K = 1) converges on a smooth mixed problem: the quadratic of
``tests/test_core_gaussian.py`` (one 3-way categorical, a continuous parameter with its optimum at
0.83 and an 8-value int at 0.21 on the unit interval), 10 seeds at 150 and 300 generations of 4
samples. Prints the runs whose Gaussian means end more than 0.05 from the optimum, with their
means and standard deviations, and how many of those have the int in another cell than the
optimum's.

    .venv/bin/python benchmarks/mixed_quadratic.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OPTIMUM = np.array([0.83, 0.21])
INT_CELLS = 8


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_core_gaussian import _quadratic_run

    off = []
    for seed in range(10):
        for generations in (150, 300):
            opt = _quadratic_run(OPTIMUM, generations, seed)
            mean = opt.means[0]
            if not np.all(np.abs(mean - OPTIMUM) < 0.05):
                sd = np.sqrt(opt.variances[0]).round(4).tolist()
                off.append((seed, generations, mean.round(3).tolist(), sd))
    cell = [int(m[1] * INT_CELLS) != int(OPTIMUM[1] * INT_CELLS) for _, _, m, _ in off]
    print(f"{len(off)} of 20 runs end more than 0.05 from the optimum ({sum(cell)} with the int")
    print(f"in another cell): (seed, generations, means, standard deviations) {off}")


if __name__ == "__main__":
    main()
