"""Workspace store: SQLite database + the files it owns."""

from backend.workspace.store import ROLES, TEST, TRAIN, ImageRecord, MaskVersion, SampleRecord, Workspace, inserted_id, now

__all__ = ["Workspace", "ImageRecord", "MaskVersion", "SampleRecord", "inserted_id", "now", "ROLES", "TRAIN", "TEST"]
