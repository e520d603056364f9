"""``python -m optuna_isnas.compare``: the ``compare`` command until the main CLI registers it."""

import sys

from optuna_isnas.compare.cli import main

if __name__ == "__main__":
    sys.exit(main())
