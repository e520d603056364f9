"""optuna-isnas: several architectures of different complexity from one one-shot search."""

__version__ = "0.1.0"
