"""Copy a comparison's PNG figures into docs/img, shrunk to a 96-colour palette (small enough to commit).

.venv/bin/python benchmarks/compare_images.py runs/compare-digits digits [--extra /tmp/dashboard.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

FIGURES = ("pareto", "hypervolume", "probabilities", "expected_params")


def shrink(source: Path, target: Path, max_width: int) -> int:
    image = Image.open(source).convert("RGB")
    if image.width > max_width:
        image = image.resize(
            (max_width, round(image.height * max_width / image.width)), Image.Resampling.LANCZOS
        )
    image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run")
    parser.add_argument("name")
    parser.add_argument("--out", default="docs/img")
    parser.add_argument("--figures", default=",".join(FIGURES))
    parser.add_argument("--max-width", type=int, default=1000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for key in args.figures.split(","):
        source = Path(args.run) / "figures" / f"{key}.png"
        if source.is_file():
            size = shrink(source, out / f"compare-{args.name}-{key}.png", args.max_width)
            print(f"{out / f'compare-{args.name}-{key}.png'}: {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
