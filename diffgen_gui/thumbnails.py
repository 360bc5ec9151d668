"""Lazy thumbnail grid model: rows are cheap records, pictures load in the background on demand.

Only the rows the view actually paints ask for a picture; it is made on a thread pool and
kept in a bounded cache, so a workspace of thousands of images opens at once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap

from backend.workspace import TEST, TRAIN, Workspace, queries
from diffgen_gui.render import thumbnail

THUMB = 112
CACHE_SIZE = 3000
IdRole = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class Row:
    image_id: int
    name: str
    mask_id: int | None
    flagged: bool
    edited: bool
    cluster: int | None
    role: str = TRAIN
    role_note: str = ""


class _Signals(QObject):
    done = Signal(int, int, QImage)  # image id, mask id (-1 none), picture


class _Load(QRunnable):
    def __init__(self, ws: Workspace, row: Row, size: int, signals: _Signals):
        super().__init__()
        self.ws, self.row, self.size, self.signals = ws, row, size, signals

    def run(self) -> None:
        try:
            rgb = self.ws.read_image(self.row.image_id)
            mask = self.ws.read_mask(self.row.mask_id) if self.row.mask_id else None
            img = thumbnail(rgb, mask, self.size)
        except Exception:  # noqa: BLE001 - a bad file shows as a red tile, never breaks the grid
            img = QImage(self.size, self.size, QImage.Format.Format_RGB888)
            img.fill(QColor("#6b1f1f"))
        self.signals.done.emit(self.row.image_id, self.row.mask_id or -1, img)


class ThumbnailModel(QAbstractListModel):
    """Images of a workspace, filtered, with lazily loaded thumbnails."""

    def __init__(self, ws: Workspace, size: int = THUMB, parent: QObject | None = None):
        super().__init__(parent)
        self.ws, self.size = ws, size
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._signals = _Signals()
        self._signals.done.connect(self._loaded)
        self._cache: OrderedDict[tuple[int, int], QPixmap] = OrderedDict()
        self._pending: set[tuple[int, int]] = set()
        placeholder = QPixmap(size, size)
        placeholder.fill(QColor("#2a2e33"))
        self._placeholder = placeholder
        self.all_rows: list[Row] = []
        self.rows: list[Row] = []
        self._filter: dict[str, Any] = {"search": "", "cluster": None, "edited": False, "flagged": False, "role": None}
        self.refresh()

    # -- data --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the records (cheap: one query per table, no pixels)."""
        edited = queries.edited_image_ids(self.ws)
        clusters = queries.cluster_assignments(self.ws)
        self.all_rows = [
            Row(r.id, r.name, r.current_mask_id, r.flagged, r.id in edited, clusters.get(r.id), r.role, r.role_note)
            for r in self.ws.images()
        ]
        self._apply_filter()

    def set_filter(self, **kw) -> None:
        self._filter.update(kw)
        self._apply_filter()

    def _apply_filter(self) -> None:
        f = self._filter
        text = f["search"].strip().lower()
        self.beginResetModel()
        self.rows = [
            r
            for r in self.all_rows
            if (not text or text in r.name.lower())
            and (f["cluster"] is None or r.cluster == f["cluster"])
            and (not f["edited"] or r.edited)
            and (not f["flagged"] or r.flagged)
            and (f["role"] is None or r.role == f["role"])
        ]
        self.endResetModel()

    def clusters(self) -> list[int]:
        return sorted({r.cluster for r in self.all_rows if r.cluster is not None})

    def row_of(self, image_id: int) -> int:
        for i, r in enumerate(self.rows):
            if r.image_id == image_id:
                return i
        return -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:  # noqa: N802 - Qt API
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        r = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ("⚑ " if r.flagged else "") + r.name + (" ✎" if r.edited else "") + (" · test" if r.role == TEST else "")
        if role == Qt.ItemDataRole.DecorationRole:
            return QIcon(self.pixmap(r))
        if role == Qt.ItemDataRole.ToolTipRole:
            return (
                f"{r.name} (id {r.image_id})"
                + (f", cluster {r.cluster}" if r.cluster is not None else "")
                + (", edited mask" if r.edited else "")
                + (", flagged" if r.flagged else "")
                + (
                    f", held-out test image (never used for generation){': ' + r.role_note if r.role_note else ''}"
                    if r.role == TEST
                    else ", training image"
                )
            )
        if role == IdRole:
            return r.image_id
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(self.size + 16, self.size + 34)
        return None

    # -- thumbnails ----------------------------------------------------------------------
    def pixmap(self, r: Row) -> QPixmap:
        key = (r.image_id, r.mask_id or -1)
        pm = self._cache.get(key)
        if pm is not None:
            self._cache.move_to_end(key)
            return pm
        if key not in self._pending:
            self._pending.add(key)
            self.pool.start(_Load(self.ws, r, self.size, self._signals))
        return self._placeholder

    def _loaded(self, image_id: int, mask_id: int, img: QImage) -> None:
        key = (image_id, mask_id)
        self._pending.discard(key)
        self._cache[key] = QPixmap.fromImage(img)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        row = self.row_of(image_id)
        if row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def wait_idle(self, ms: int = 5000) -> bool:
        """Block until background loads finish (tests, screenshots)."""
        return self.pool.waitForDone(ms)
