"""Flags of the tiniest real search the CLI tests run: one epoch of two steps on 200 digits."""

from __future__ import annotations

TINY_SEARCH = [
    "--epochs",
    "1",
    "--max-steps-per-epoch",
    "2",
    "--batch-size",
    "16",
    "--train-subset",
    "200",
    "--val-subset",
    "100",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
]
