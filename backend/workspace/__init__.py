"""Workspace store: SQLite database + the files it owns.

The store's names load on first use (PEP 562): importing a light submodule such as
``backend.workspace.selection`` or ``roles`` must not load numpy and OpenCV, so that the
CLI builds its parser (``diffgen --help``) in well under half a second."""

from typing import TYPE_CHECKING, Any

from backend.workspace.roles import BACKGROUND, ROLES, TEST, TRAIN

if TYPE_CHECKING:
    from backend.workspace.store import ImageRecord, MaskVersion, SampleRecord, Workspace, inserted_id, now

__all__ = [
    "Workspace",
    "ImageRecord",
    "MaskVersion",
    "SampleRecord",
    "inserted_id",
    "now",
    "ROLES",
    "TRAIN",
    "TEST",
    "BACKGROUND",
]
_STORE_NAMES = frozenset(__all__) - {"ROLES", "TRAIN", "TEST", "BACKGROUND"}


def __getattr__(name: str) -> Any:
    if name in _STORE_NAMES:
        from backend.workspace import store

        return getattr(store, name)
    raise AttributeError(f"module 'backend.workspace' has no attribute {name!r}")
