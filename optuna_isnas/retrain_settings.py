"""``RetrainSettings``: every setting of retraining, declared once with its command-line flag.

The ``retrain`` command builds its flags from these declarations, as ``search`` does from
``SearchConfig``'s, and :func:`optuna_isnas.retrain.retrain` takes the same settings by name. The
module needs neither PyTorch nor the search, so the base install's ``--help`` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from optuna_isnas.errors import SettingsError
from optuna_isnas.flags import flag, integer, setting


@dataclass(frozen=True)
class RetrainSettings:
    """How the chosen architectures are retrained from scratch (the recipe aside).

    Attributes:
        epochs: Training epochs.
        batch_size: Minibatch size.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: torch CPU threads (None: as for the search, see ``device.torch_threads``).
        seed: Seed of the weights, minibatch order and augmentation (the data split keeps the
            search's seed, so the test split is the one the search never saw).
        data_root: Dataset directory; None: the one the search recorded.
        out: Directory for the saved children (checked before any training); None saves
            nothing from Python, and the command line saves them next to
            ``architectures.json``, in ``retrained/``.
        progress: Show a progress bar.
        max_steps_per_epoch, train_subset, eval_subset: Limits for quick runs and tests.
        export: Also write each child as a ``torch.export`` program (``child-I.pt2``).
        onnx: Also write each child as ONNX (``child-I.onnx``; needs the ``onnx`` extra).
    """

    epochs: int = setting(
        flag("--epochs", help="training epochs", parse=integer, metavar="EPOCHS"), default=30
    )
    batch_size: int = setting(
        flag("--batch-size", help="minibatch size", parse=integer, metavar="BATCH_SIZE"),
        default=64,
    )
    device: str = setting(
        flag("--device", help="auto, cpu, cuda or cuda:N", metavar="DEVICE"), default="auto"
    )
    threads: int | None = setting(
        flag(
            "--threads",
            help="CPU threads for torch",
            parse=integer,
            metavar="THREADS",
            default_text="as for search",
        ),
        default=None,
    )
    seed: int = setting(
        flag(
            "--seed",
            help="seed of the fresh weights and data order",
            parse=integer,
            metavar="SEED",
        ),
        default=0,
    )
    data_root: str | None = setting(
        flag(
            "--data-root",
            help="dataset directory",
            metavar="DATA_ROOT",
            default_text="the search's",
        ),
        default=None,
    )
    out: str | None = setting(
        flag(
            "--out",
            help="where to save the children",
            metavar="OUT",
            default_text="next to architectures.json, in retrained/",
        ),
        default=None,
    )
    progress: bool = setting(
        flag("--no-progress", help="no progress bar", switch=True, value=False), default=True
    )
    max_steps_per_epoch: int | None = setting(
        flag(
            "--max-steps-per-epoch",
            help="cap on steps per epoch (quick runs)",
            parse=integer,
            metavar="MAX_STEPS_PER_EPOCH",
        ),
        default=None,
    )
    train_subset: int | None = setting(no_flag="quick runs and tests, from Python", default=None)
    eval_subset: int | None = setting(no_flag="quick runs and tests, from Python", default=None)
    export: bool = setting(
        flag(
            "--no-export",
            help="do not write child-I.pt2 (the torch.export program that runs without this "
            "package)",
            switch=True,
            value=False,
        ),
        default=True,
    )
    onnx: bool = setting(
        flag("--onnx", help="also write child-I.onnx (needs the onnx extra)", switch=True),
        default=False,
    )

    def validate(self) -> None:
        """Raise SettingsError naming the first setting that cannot work."""
        for name, value in (("epochs", self.epochs), ("batch size", self.batch_size)):
            if not (isinstance(value, int) and value >= 1):
                raise SettingsError(f"{name} must be a whole number of at least 1, got {value!r}")
        if self.max_steps_per_epoch is not None and self.max_steps_per_epoch < 1:
            raise SettingsError(
                "max steps per epoch must be at least 1 (or not given), got "
                f"{self.max_steps_per_epoch}"
            )
