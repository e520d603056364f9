"""Which code a benchmark ran: git commit and a hash of the optuna_isnas sources."""

from __future__ import annotations

import os


def source_fingerprint() -> str:
    """git commit of the checkout (or of the snapshot, from its COMMIT file) plus a hash of the
    sampler's sources (edits included).

    Hashes optuna_isnas/__init__.py, optuna_isnas/core/*.py and optuna_isnas/sampler/*.py: the
    code a sampler benchmark runs, so two results with the same hash ran the same sampler.
    """
    import hashlib
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    marker = os.path.join(root, "COMMIT")  # a ``git archive`` snapshot names its commit here
    if commit == "unknown" and os.path.exists(marker):
        with open(marker) as f:
            commit = f.read().strip() + " (snapshot)"
    digest = hashlib.sha256()
    pkg = os.path.join(root, "optuna_isnas")
    paths = [os.path.join(pkg, "__init__.py")]
    for sub in ("core", "sampler"):
        folder = os.path.join(pkg, sub)
        if os.path.isdir(folder):
            paths += [
                os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".py")
            ]
    for path in paths:
        if os.path.exists(path):
            with open(path, "rb") as f:
                digest.update(os.path.relpath(path, pkg).encode() + f.read())
    return f"commit {commit}, sampler sources (optuna_isnas core+sampler) sha256 {digest.hexdigest()[:12]}"
