"""Generic training pieces shared by the one-shot search, retraining and the comparison.

- :mod:`~optuna_isnas.training.recipe`: ``TrainingRecipe``, the settings of SGD training
  (importable without PyTorch, so that the command line can read its flags);
- :mod:`~optuna_isnas.training.device`: device choice, mixed precision, CPU threads;
- :mod:`~optuna_isnas.training.optim`: optimiser, schedule and one SGD step on averaged losses;
- :mod:`~optuna_isnas.training.batches`: seeded minibatch streams and augmentation;
- :mod:`~optuna_isnas.training.evaluation`: accuracy and loss over a split or a minibatch;
- :mod:`~optuna_isnas.training.tables`: plain-text result tables.

Nothing here knows about architecture search; errors are :class:`optuna_isnas.errors.SettingsError`.
"""
