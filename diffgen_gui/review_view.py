"""Review view: a source image next to its inpainted and styled samples; keep / reject / undecided.

Rows: one per inpainted sample; columns: the original, the inpainted sample, then each
styled sample made from it. All pictures share one zoom. Decisions are stored at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
from PySide6.QtCore import QEvent, QPointF, Qt, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from backend.gates import LABELS, explain
from backend.workspace import SampleRecord, Workspace, queries
from diffgen_gui.state import WorkspaceState
from diffgen_gui.theme import mix, status_colour
from diffgen_gui.widgets.image_canvas import ImageCanvas
from diffgen_gui.widgets.welcome import Welcome

DECISIONS: dict[int, str] = {Qt.Key.Key_K: "keep", Qt.Key.Key_R: "reject", Qt.Key.Key_U: "undecided"}
SHOWN = {"keep": "kept", "reject": "rejected", "undecided": "undecided"}
KEYS = [
    ("K / R / U", "Keep / reject / undecided, then the next sample"),
    ("← → ↑ ↓", "Previous / next sample of this image"),
    ("PgDn / PgUp", "Next / previous source image"),
    ("N", "Next undecided sample (any image)"),
    ("Enter (note)", "Store the note on the selected sample"),
]
TILE = 260
FILTERS = (
    ("All samples", None),
    ("Undecided", "undecided"),
    ("Kept", "keep"),
    ("Rejected", "reject"),
    ("Passed all gates", "gates_passed"),
    ("Failed a gate", "gates_failed"),
)


def gate_tooltip(ws: Workspace, sample_id: int) -> str:
    """Each gate's number and threshold, failed ones first; or that the sample is not scored."""
    scores = sorted(ws.gates(sample_id), key=lambda g: (g.passed, queries.gate_order(g.gate)))
    if not scores:
        return "Quality gates: not scored (diffgen gates scores it)"
    return "Quality gates:\n" + "\n".join(f"{'✓' if g.passed else '✗'} {explain(g)}" for g in scores)


class Tile(QFrame):
    """One picture (original or sample) with a caption; its border is the decision colour,
    the selected tile has a highlighted background (so the decision stays visible)."""

    def __init__(
        self,
        caption: str,
        tooltip: str,
        sample_id: int | None,
        rgb,
        mask,
        mode: str,
        display_size: tuple[int, int] | None = None,
        failed_gates: Sequence[str] = (),
    ):
        super().__init__(objectName="tile")
        self.sample_id = sample_id
        self.caption = caption
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
        self.setToolTip(tooltip)
        # one badge per failed gate; its colours come from the style sheet (readable in any palette)
        self.badges = [QLabel(LABELS.get(g, g), objectName="gateBadge", toolTip=tooltip) for g in failed_gates]
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.canvas)
        if self.badges:
            row = QHBoxLayout()
            row.setSpacing(4)
            for badge in self.badges:
                row.addWidget(badge)
            row.addStretch(1)
            lay.addLayout(row)
        lay.addWidget(self.label)
        self.setFixedWidth(TILE + 18)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # no stretching into empty space

    def show_state(self, decision: str, focused: bool) -> None:
        border = status_colour(decision).name()
        pal = QApplication.palette()  # not the tile's own: its style sheet has changed that
        background = mix(pal.window().color(), pal.highlight().color(), 0.25).name() if focused else "transparent"
        self.setStyleSheet(f"QFrame#tile {{ border: 4px solid {border}; border-radius: 5px; background: {background}; }}")
        if self.sample_id is not None:
            self.label.setText(("▶ " if focused else "") + f"{self.caption} · {SHOWN[decision]}")


class ReviewView(QWidget):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.tiles: list[Tile] = []
        self.focus_sample: int | None = None
        self._syncing = False

        self.sources = QListWidget()
        self.sources.currentRowChanged.connect(lambda _r: self.show_source(self.current_source()))
        self.filter = QComboBox(
            toolTip="“Passed all gates”: scored samples that passed every quality gate; "
            "samples not scored yet show under “All samples”"
        )
        for label, value in FILTERS:
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
        self.note.returnPressed.connect(self._store_note)  # only Enter stores: leaving the field does not
        self.help = QLabel(
            "Click a sample, then K keep · R reject · U undecided (moves to the next) · "
            "PgDn/PgUp next/previous image · N next undecided",
            objectName="hint",
            wordWrap=True,
        )
        self.scroll_area = QScrollArea(widgetResizable=True)
        self._new_grid()
        top = QHBoxLayout()
        top.addWidget(self.mode)
        top.addWidget(self.note, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(top)
        rl.addWidget(self.help)
        rl.addWidget(self.scroll_area, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([260, 1000])
        split.setStretchFactor(1, 1)
        self.welcome = Welcome(
            "No samples to review yet",
            "Samples appear here once an inpainting job has made them. Train a "
            "model first if there is none, then queue “Inpaint (RePaint)” on some images.",
            f"diffgen inpaint --workspace {self.ws.root} --all --samples 3",
            "Generate samples…",
        )
        self.welcome.button.clicked.connect(lambda: self.state.jobRequested.emit("inpaint"))
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(split)
        QVBoxLayout(self).addWidget(self.pages)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        state.samplesChanged.connect(self.refresh)
        self.refresh()

    def _new_grid(self) -> None:
        """A fresh grid each time: a QGridLayout keeps the size of rows and columns it once had."""
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.scroll_area.setWidget(self.grid_host)

    # -- data ------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        keep = self.current_source()
        samples = self.ws.samples()
        shown = self.filtered_ids(samples)
        with_shown = None if shown is None else {s.source_image_id for s in samples if s.id in shown}
        summaries = queries.review_summary(self.ws)
        self.pages.setCurrentIndex(1 if summaries else 0)
        self.sources.blockSignals(True)
        self.sources.clear()
        for s in summaries:
            if with_shown is not None and s.image_id not in with_shown:
                continue
            item = QListWidgetItem(self._source_text(s))
            item.setData(Qt.ItemDataRole.UserRole, s.image_id)
            self.sources.addItem(item)
        self.sources.blockSignals(False)
        self._show_totals(summaries)
        rows = [i for i in range(self.sources.count()) if self.sources.item(i).data(Qt.ItemDataRole.UserRole) == keep]
        self.sources.setCurrentRow(rows[0] if rows else 0)
        if self.sources.count() == 0:
            self.show_source(None)

    def filtered_ids(self, samples: list[SampleRecord] | None = None) -> set[int] | None:
        """The samples (of ``samples``, default all) the filter lets through (None: every sample)."""
        wanted = self.filter.currentData()
        if wanted is None:
            return None
        ids = [s.id for s in (self.ws.samples() if samples is None else samples)]
        if wanted.startswith("gates_"):
            gates = queries.gate_filter(self.ws, ids)
            return set(gates.passed if wanted == "gates_passed" else gates.failed)
        decisions = queries.decisions(self.ws)
        return {i for i in ids if decisions.get(i, "undecided") == wanted}

    @staticmethod
    def _source_text(s: queries.SourceSummary) -> str:
        return f"{s.name}\n{s.total} samples · {s.counts['keep']} kept · {s.counts['reject']} rejected"

    def _show_totals(self, summaries: list[queries.SourceSummary]) -> None:
        t = queries.review_totals(summaries)
        self.counts.setText(f"{sum(t.values())} samples: {t['keep']} kept · {t['reject']} rejected · {t['undecided']} undecided")

    def _update_counts(self) -> None:
        """Live: the totals and every listed source's counts."""
        summaries = queries.review_summary(self.ws)
        by_id = {s.image_id: s for s in summaries}
        for i in range(self.sources.count()):
            item = self.sources.item(i)
            s = by_id.get(item.data(Qt.ItemDataRole.UserRole))
            if s is not None:
                item.setText(self._source_text(s))
        self._show_totals(summaries)

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
        self.tiles = []
        self._new_grid()  # the old tiles go with the old grid
        if image_id is None:
            self._select(None)
            return
        mode = self.mode.currentData()
        rows = self._layout_rows(image_id)
        wanted = self.filtered_ids([s for row in rows for s in row])
        failures = queries.gate_failures(self.ws)
        rec = self.ws.image(image_id)
        orig = Tile(
            f"Original · {rec.name}",
            f"{rec.name} (id {rec.id}), {rec.width}×{rec.height} px",
            None,
            self.ws.read_image(rec),
            self.ws.read_mask(rec.current_mask_id) if rec.current_mask_id else None,
            mode,
        )
        self._add_tile(orig, 0, 0)
        r = 0
        for row in rows:
            shown = [s for s in row if wanted is None or s.id in wanted]
            for c, s in enumerate(shown):  # packed from the left: no gap where a sample is filtered out
                img, mask = self.ws.read_sample(s)
                tip = (
                    f"{s.kind} sample {s.id} of {rec.name}, set {s.set_name}\nseed {s.seed}\n"
                    f"made {s.created_at[:19].replace('T', ' ')}\n{gate_tooltip(self.ws, s.id)}"
                )
                self._add_tile(
                    Tile(
                        f"{s.kind} #{s.id} · {s.set_name}",
                        tip,
                        s.id,
                        img,
                        mask,
                        mode,
                        (rec.width, rec.height),
                        failures.get(s.id, []),
                    ),
                    r,
                    c + 1,
                )
            r += bool(shown)
        ids = self.sample_ids()
        self._select(self.focus_sample if self.focus_sample in ids else ids[0] if ids else None)
        self._restyle()

    def _add_tile(self, tile: Tile, row: int, col: int) -> None:
        self.grid.addWidget(tile, row, col, Qt.AlignmentFlag.AlignTop)  # tiles with badges are taller
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
        self._select(sample_id)
        self.setFocus()
        self._restyle()

    def _select(self, sample_id: int | None) -> None:
        """The selected sample changes: the note field shows that sample's own stored note.
        Text typed and not stored with Enter is dropped: a note belongs to the one sample it
        was typed for, never to the next one selected."""
        self.focus_sample = sample_id
        self.note.setText("" if sample_id is None else self.ws.review(sample_id)[1])

    def decide(self, decision: str, advance: bool = True) -> None:
        sid = self.focus_sample
        if sid is None:
            return
        self.state.set_review(sid, decision, self.ws.review(sid)[1])  # its own note: the field may hold unstored text
        ids = self.sample_ids()
        if advance and sid in ids and ids.index(sid) + 1 < len(ids):
            self.focus(ids[ids.index(sid) + 1])
        self._restyle()
        self._update_counts()

    def step_source(self, delta: int) -> None:
        """The next / previous source image in the list."""
        row = self.sources.currentRow() + delta
        if 0 <= row < self.sources.count():
            self.sources.setCurrentRow(row)
            self.setFocus()

    def next_undecided(self) -> bool:
        """Focus the next undecided sample: later in this image, else in the following images
        (wrapping around); False when every sample is decided."""
        decisions = queries.decisions(self.ws)
        ids = self.sample_ids()
        start = ids.index(self.focus_sample) + 1 if self.focus_sample in ids else 0
        later = [i for i in ids[start:] if decisions.get(i, "undecided") == "undecided"]
        if later:
            self.focus(later[0])
            return True
        n = self.sources.count()
        for k in range(1, n + 1):
            row = (self.sources.currentRow() + k) % n
            image_id = self.sources.item(row).data(Qt.ItemDataRole.UserRole)
            todo = [s.id for s in self.ws.samples(source_image_id=image_id) if decisions.get(s.id, "undecided") == "undecided"]
            if todo:
                self.sources.setCurrentRow(row)
                self.focus(next((i for i in self.sample_ids() if i in todo), None))
                return True
        return False

    def _store_note(self) -> None:
        """Enter in the note field: the note goes to the selected sample (the one the field
        was loaded for), and the keys go back to the samples."""
        if self.focus_sample is not None:
            decision = self.ws.review(self.focus_sample)[0]
            self.state.set_review(self.focus_sample, decision, self.note.text())
        self.setFocus()

    def _restyle(self) -> None:
        d = queries.decisions(self.ws)
        for t in self.tiles:
            shown = "undecided" if t.sample_id is None else d.get(t.sample_id, "undecided")
            t.show_state(shown, t.sample_id is not None and t.sample_id == self.focus_sample)

    def changeEvent(self, e: QEvent) -> None:  # noqa: N802 - Qt API
        """A new theme: the focused tile's background is mixed from the palette in use (else it
        keeps the old theme's, and the new theme's text on it cannot be read)."""
        super().changeEvent(e)
        if e.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._restyle()

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        key = e.key()
        if key in DECISIONS and not e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.decide(DECISIONS[key])
        elif key in (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
            self.step_source(1 if key == Qt.Key.Key_PageDown else -1)
        elif key == Qt.Key.Key_N:
            self.next_undecided()
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Left):
            ids = self.sample_ids()
            if ids and self.focus_sample in ids:
                step = 1 if key in (Qt.Key.Key_Down, Qt.Key.Key_Right) else -1
                self.focus(ids[min(max(ids.index(self.focus_sample) + step, 0), len(ids) - 1)])
        else:
            super().keyPressEvent(e)
