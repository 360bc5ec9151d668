"""Error types the CLI and GUI turn into clear user messages."""

from __future__ import annotations


class DiffGenError(Exception):
    """Base class: a problem the user can act on (message is shown as is)."""


class WorkspaceError(DiffGenError):
    """The workspace folder or database is missing, locked or of an unknown version."""


class BadInputError(DiffGenError):
    """An input file cannot be used (corrupt, wrong size, not an image...)."""


class MissingWeightsError(DiffGenError):
    """A pretrained network's weight file is not where the settings say.

    The message names the file, the architecture and where to obtain it, because
    nothing is ever downloaded at run time.
    """

    def __init__(self, name: str, path: str | None, architecture: str, how_to_get: str, setting: str, env_var: str):
        where = f"'{path}' does not exist" if path else "no file is configured"
        super().__init__(
            f"Pretrained weights for {name} ({architecture}) are missing: {where}.\n"
            f"Get them from: {how_to_get}\n"
            f"Then point to the file with {setting}, the environment variable {env_var}, "
            f"or 'diffgen settings set {name} PATH'."
        )
        self.name = name
        self.path = path


class Cancelled(Exception):
    """A job was cancelled by the user. Not a DiffGenError on purpose: a handler for problems
    with the user's input (``except DiffGenError``) must never swallow a cancel."""


class BadWeightsError(BadInputError):
    """A weight file exists but cannot be used: wrong format, corrupt, or refused because
    loading it could run code. It fails for every item, so jobs stop instead of skipping."""
