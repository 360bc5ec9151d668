"""Review view: a source image next to its inpainted and styled samples; keep / reject / undecided.

Rows: one per inpainted sample; columns: the original, the inpainted sample, then each
styled sample made from it. All pictures share one zoom. Decisions are stored at once.
"""

from __future__ import annotations

import cv2

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QComboBox, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QScrollArea, QSplitter, QVBoxLayout, QWidget)

from backend.workspace import SampleRecord
from diffgen_gui.state import WorkspaceState
from diffgen_gui.widgets.image_canvas import ImageCanvas

DECISIONS = {Qt.Key.Key_K: "keep", Qt.Key.Key_R: "reject", Qt.Key.Key_U: "undecided"}
BADGE = {"keep": "#2f8f5f", "reject": "#c0392b", "undecided": "#555b61"}
TILE = 260


class Tile(QFrame):
    """One picture (original or sample) with a caption and its decision colour."""

    def __init__(self, caption: str, sample_id: int | None, rgb, mask, mode: str,
                 display_size: tuple[int, int] | None = None):
        super().__init__(objectName="tile")
        self.sample_id = sample_id
        self.canvas = ImageCanvas()
        self.canvas.setFixedSize(TILE, TILE)
        self.canvas.set_mode(mode)
        if display_size and rgb.shape[:2] != display_size[::-1]:
            # Samples are made at the model's resolution: show them over the original's
            # frame so that one shared zoom shows the same field of view in every tile.
            rgb = cv2.resize(rgb, display_size, interpolation=cv2.INTER_NEAREST)
            mask = None if mask is None else cv2.resize(mask, display_size, interpolation=cv2.INTER_NEAREST)
        self.canvas.set_content(rgb, mask)
        self.label = QLabel(caption, wordWrap=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.canvas)
        lay.addWidget(self.label)
        self.setFixedWidth(TILE + 14)

    def show_state(self, decision: str, focused: bool) -> None:
        border = "#f0c040" if focused else BADGE[decision]
        self.setStyleSheet(f"QFrame#tile {{ border: 3px solid {border}; border-radius: 4px; }}")


class ReviewView(QWidget):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.tiles: list[Tile] = []
        self.focus_sample: int | None = None
        self._syncing = False

        self.sources = QListWidget()
        self.sources.currentRowChanged.connect(lambda _r: self.show_source(self.current_source()))
        self.filter = QComboBox()
        for label, value in (("All samples", None), ("Undecided", "undecided"), ("Kept", "keep"),
                             ("Rejected", "reject")):
            self.filter.addItem(label, value)
        self.filter.currentIndexChanged.connect(lambda _i: self.refresh())
        self.counts = QLabel(objectName="hint", wordWrap=True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.filter)
        ll.addWidget(self.sources, 1)
        ll.addWidget(self.counts)

        self.mode = QComboBox()
        for label, mode in (("Mask outline", "contour"), ("Mask fill", "fill"), ("Side by side", "side")):
            self.mode.addItem(label, mode)
        self.mode.currentIndexChanged.connect(lambda _i: self.show_source(self.current_source()))
        self.note = QLineEdit(placeholderText="Note on the selected sample (Enter stores it)")
        self.note.editingFinished.connect(self._store_note)
        self.help = QLabel("Click a sample, then K keep · R reject · U undecided (moves to the next)",
                           objectName="hint")
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(self.grid_host)
        top = QHBoxLayout()
        top.addWidget(self.mode)
        top.addWidget(self.note, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(top)
        rl.addWidget(self.help)
        rl.addWidget(scroll, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([260, 1000])
        split.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(split)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        state.samplesChanged.connect(self.refresh)
        self.refresh()

    # -- data ------------------------------------------------------------------------
    def _decisions(self) -> dict[int, str]:
        return {r[0]: r[1] for r in self.ws.query("SELECT sample_id, decision FROM reviews")}

    def refresh(self) -> None:
        keep = self.current_source()
        decisions = self._decisions()
        wanted = self.filter.currentData()
        counts = {"keep": 0, "reject": 0, "undecided": 0}
        per_source: dict[int, list[str]] = {}
        for r in self.ws.query("SELECT id, source_image_id FROM samples WHERE source_image_id IS NOT NULL"):
            d = decisions.get(r[0], "undecided")
            counts[d] += 1
            per_source.setdefault(r[1], []).append(d)
        self.sources.blockSignals(True)
        self.sources.clear()
        names = {rec.id: rec.name for rec in self.ws.images()}
        for image_id, ds in sorted(per_source.items()):
            if wanted and wanted not in ds:
                continue
            item = QListWidgetItem(f"{names.get(image_id, image_id)}\n{len(ds)} samples · "
                                   f"{ds.count('keep')} kept · {ds.count('reject')} rejected")
            item.setData(Qt.ItemDataRole.UserRole, image_id)
            self.sources.addItem(item)
        self.sources.blockSignals(False)
        total = sum(counts.values())
        self.counts.setText(f"{total} samples: {counts['keep']} kept · {counts['reject']} rejected · "
                            f"{counts['undecided']} undecided")
        rows = [i for i in range(self.sources.count())
                if self.sources.item(i).data(Qt.ItemDataRole.UserRole) == keep]
        self.sources.setCurrentRow(rows[0] if rows else 0)
        if self.sources.count() == 0:
            self.show_source(None)

    def current_source(self) -> int | None:
        item = self.sources.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _layout_rows(self, image_id: int) -> list[list[SampleRecord]]:
        """Rows of [inpainted, styled children...]; samples without a listed parent start a row."""
        samples = self.ws.samples(source_image_id=image_id)
        ids = {s.id for s in samples}
        rows = {s.id: [s] for s in samples if s.parent_sample_id not in ids}
        for s in samples:
            if s.parent_sample_id in rows:
                rows[s.parent_sample_id].append(s)
        return list(rows.values())

    def show_source(self, image_id: int | None) -> None:
        for t in self.tiles:
            t.setParent(None)
            t.deleteLater()
        self.tiles = []
        if image_id is None:
            return
        mode = self.mode.currentData()
        decisions = self._decisions()
        wanted = self.filter.currentData()
        rec = self.ws.image(image_id)
        orig = Tile(f"Original · {rec.name}", None, self.ws.read_image(rec),
                    self.ws.read_mask(rec.current_mask_id) if rec.current_mask_id else None, mode)
        self._add_tile(orig, 0, 0)
        r = 0
        for row in self._layout_rows(image_id):
            shown = [s for s in row if not wanted or decisions.get(s.id, "undecided") == wanted]
            if not shown:
                continue
            for c, s in enumerate(row):
                if s not in shown:
                    continue
                img, mask = self.ws.read_sample(s)
                self._add_tile(Tile(f"{s.kind} #{s.id} · {s.set_name} · seed {s.seed}", s.id, img, mask, mode,
                                    (rec.width, rec.height)), r, c + 1)
            r += 1
        ids = self.sample_ids()
        if self.focus_sample not in ids:
            self.focus_sample = ids[0] if ids else None
        self._restyle()

    def _add_tile(self, tile: Tile, row: int, col: int) -> None:
        self.grid.addWidget(tile, row, col)
        tile.canvas.viewChanged.connect(self._sync_view)
        tile.canvas.pressed.connect(lambda _p, _b, sid=tile.sample_id: self.focus(sid))
        self.tiles.append(tile)

    def _sync_view(self, scale: float, offset: QPointF) -> None:
        if self._syncing:
            return
        self._syncing = True
        for t in self.tiles:
            if t.canvas is not self.sender():
                t.canvas.set_view(scale, offset)
        self._syncing = False

    def sample_ids(self) -> list[int]:
        return [t.sample_id for t in self.tiles if t.sample_id is not None]

    # -- deciding --------------------------------------------------------------------------
    def focus(self, sample_id: int | None) -> None:
        if sample_id is None:
            return
        self.focus_sample = sample_id
        self.note.setText(self.ws.review(sample_id)[1])
        self.setFocus()
        self._restyle()

    def decide(self, decision: str, advance: bool = True) -> None:
        sid = self.focus_sample
        if sid is None:
            return
        self.state.set_review(sid, decision, self.note.text() if self.note.text() else self.ws.review(sid)[1])
        ids = self.sample_ids()
        if advance and sid in ids and ids.index(sid) + 1 < len(ids):
            self.focus(ids[ids.index(sid) + 1])
        self._restyle()
        self._update_counts_only()

    def _store_note(self) -> None:
        if self.focus_sample is not None:
            decision = self.ws.review(self.focus_sample)[0]
            self.state.set_review(self.focus_sample, decision, self.note.text())

    def _update_counts_only(self) -> None:
        d = self._decisions()
        all_ids = [r[0] for r in self.ws.query("SELECT id FROM samples WHERE source_image_id IS NOT NULL")]
        vals = [d.get(i, "undecided") for i in all_ids]
        self.counts.setText(f"{len(vals)} samples: {vals.count('keep')} kept · {vals.count('reject')} rejected · "
                            f"{vals.count('undecided')} undecided")

    def _restyle(self) -> None:
        d = self._decisions()
        for t in self.tiles:
            t.show_state(d.get(t.sample_id, "undecided"), t.sample_id is not None and t.sample_id == self.focus_sample)

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if e.key() in DECISIONS and not e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.decide(DECISIONS[e.key()])
        elif e.key() in (Qt.Key.Key_Down, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Left):
            ids = self.sample_ids()
            if ids and self.focus_sample in ids:
                step = 1 if e.key() in (Qt.Key.Key_Down, Qt.Key.Key_Right) else -1
                self.focus(ids[min(max(ids.index(self.focus_sample) + step, 0), len(ids) - 1)])
        else:
            super().keyPressEvent(e)
