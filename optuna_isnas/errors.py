"""The one base class of the errors a user can fix.

Every layer above the sampler raises a subclass of :class:`SettingsError` (``ValueError``) for bad
settings, files, storages or data, with a message that says what was wrong and what to do. The
command line catches this one class and prints it as a single ``error: ...`` line.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting, file, storage or dataset that cannot be used; the message says what to do."""
