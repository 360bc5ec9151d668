"""Review view: a source image next to its inpainted and styled samples; keep / reject / undecided.

Rows: one per inpainted sample; columns: the original, the inpainted sample, then each
styled sample made from it. All pictures share one zoom. Decisions are stored at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence, QShowEvent
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
from backend.synthesis.sample_wanted import sample_wanted
from backend.words import counted
from backend.workspace import Workspace, queries, review_queue
from backend.workspace.review_queue import ReviewItem
from diffgen_gui.review_filters import ReviewFilters
from diffgen_gui.state import WorkspaceState
from diffgen_gui.theme import mix, status_colour
from diffgen_gui.widgets import sample_viewer
from diffgen_gui.widgets.image_canvas import ImageCanvas
from diffgen_gui.widgets.welcome import Welcome

DECISIONS: dict[int, str] = {Qt.Key.Key_K: "keep", Qt.Key.Key_R: "reject", Qt.Key.Key_U: "undecided"}
SHOWN = {"keep": "kept", "reject": "rejected", "undecided": "undecided"}
KEYS = [
    ("K / R / U", "Keep / reject / undecided, then the next undecided sample (any image)"),
    ("← → ↑ ↓", "Previous / next sample of this image"),
    ("PgDn / PgUp", "Next / previous source image"),
    ("N", "Next undecided sample (any image)"),
    ("Ctrl+Z", "Undo the last decision (with its note)"),
    ("/", "Type a note on the selected sample"),
    ("Enter / Esc (note)", "Store the note / leave the field without storing"),
    *sample_viewer.KEYS,
]
TILE_MIN = 160  # px: a tile's picture never gets smaller; it grows with the window
TILE_FRAME = 18  # px a tile adds to its picture's width (margins, border)
CAPTION_PX = 80  # px under a picture (badges, caption)
SIDE_BY_SIDE = 4  # samples without styled children: this many in a row beside the original


def tile_side(width: int, height: int, columns: int, rows: int) -> int:
    """A tile picture's side: the columns share the width and the rows the height (every
    sample of the image in view at once where it can be), never under ``TILE_MIN`` (a fixed
    side left most of a large window empty)."""
    return max(TILE_MIN, min(width // max(columns, 1) - TILE_FRAME, height // max(rows, 1) - CAPTION_PX))


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
        self.canvas.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the review
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
        self.set_side(TILE_MIN)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # no stretching into empty space

    def set_side(self, side: int) -> None:
        """The picture's side in pixels (the tile follows)."""
        self.canvas.setFixedSize(side, side)
        self.setFixedWidth(side + 18)
        self._fit_caption()

    def _fit_caption(self) -> None:
        """The caption as tall as its wrapped text at the picture's width: given less, a
        five-line caption (a bank mask's) spilled over the bottom of the picture."""
        width = self.canvas.width()
        self.label.setFixedWidth(width)
        self.label.setMinimumHeight(0)  # a label measures itself no shorter than its minimum: free it first
        self.label.setFixedHeight(self.label.heightForWidth(width))

    def show_state(self, decision: str, focused: bool) -> None:
        border = status_colour(decision).name()
        pal = QApplication.palette()  # not the tile's own: its style sheet has changed that
        background = mix(pal.window().color(), pal.highlight().color(), 0.25).name() if focused else "transparent"
        sheet = f"QFrame#tile {{ border: 4px solid {border}; border-radius: 5px; background: {background}; }}"
        if sheet == self.styleSheet():
            return  # a new style sheet repaints the tile and its picture: only where it changed
        self.setStyleSheet(sheet)
        if self.sample_id is not None:
            self.label.setText(("▶ " if focused else "") + f"{self.caption} · {SHOWN[decision]}")
            self._fit_caption()


class ReviewView(QWidget):
    """The review: filters and source images on the left, the selected image's tiles on the right.

    Keyboard-first: the view itself holds the focus (the combos, the list and the tiles never
    take it), so K/R/U/N/PgDn work as soon as the tab shows; text goes into the note field
    only after a click on it or ``/``, and Esc or Enter gives the keys back."""

    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.tiles: list[Tile] = []
        self.focus_sample: int | None = None
        self.items: dict[int, ReviewItem] = {}  # every sample, by id
        self.shown: list[int] = []  # the samples the filters let through, in review order
        self.undo: list[tuple[int, str, str]] = []  # (sample, decision, note) before each decision
        self._syncing = False

        self.sources = QListWidget()
        self.sources.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # PgDn / PgUp move it; letters never search it
        self.sources.currentRowChanged.connect(self._source_row_changed)
        self.filters = ReviewFilters()
        self.filter = self.filters.decision
        self.filters.changed.connect(self._apply_filters)
        self.counts = QLabel(objectName="hint", wordWrap=True)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.filters)
        ll.addWidget(self.sources, 1)
        ll.addWidget(self.counts)

        self.mode = QComboBox()
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for label, mode in sample_viewer.TILE_MODES:
            self.mode.addItem(label, mode)
        self.mode.currentIndexChanged.connect(self._source_row_changed)
        self.note = QLineEdit(placeholderText="Note on the selected sample (/ to type, Enter stores it, Esc leaves)")
        self.note.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # never reached by Tab: only a click or /
        self.note.returnPressed.connect(self._store_note)  # only Enter stores: leaving the field does not
        self.help = QLabel(
            "K keep · R reject · U undecided (then the next undecided sample) · Ctrl+Z undo · "
            "PgDn/PgUp next/previous image · N next undecided · / note · "
            "Space large view · O image/overlay/mask · L outlines",
            objectName="hint",
            wordWrap=True,
        )
        self.scroll_area = QScrollArea(widgetResizable=True)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # it would take PgDn and the arrows
        self.scroll_area.viewport().installEventFilter(self)
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
        state.reviewChanged.connect(self._review_changed)
        self.viewer = sample_viewer.SampleViewer(self, DECISIONS)
        self.viewer.bar.styleChanged.connect(self._tiles_follow)
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
        """Read every sample anew (new samples arrived, or the view opens)."""
        # beside its source: a sample imported without a workspace image is reviewed with 'diffgen review'
        items = [i for i in review_queue.review_items(self.ws) if i.source_image_id is not None]
        self.items = {i.sample_id: i for i in items}
        self.pages.setCurrentIndex(1 if items else 0)
        self.filters.set_options(items)
        self._apply_filters()

    @Slot()
    def _apply_filters(self) -> None:
        """List the sources with a sample the filters let through; keep the current source if listed."""
        keep = self.current_source()
        flt = self.filters.current()
        self.shown = [sid for sid, it in self.items.items() if flt.matches(it)]
        sources = list(dict.fromkeys(self.items[sid].source_image_id for sid in self.shown))
        self.sources.blockSignals(True)
        self.sources.clear()
        for image_id in sources:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, image_id)
            self.sources.addItem(item)
        self.sources.setCurrentRow(sources.index(keep) if keep in sources else 0 if sources else -1)
        self.sources.blockSignals(False)
        self._update_counts()
        self.show_source(self.current_source())

    def _update_counts(self, source: int | None = None) -> None:
        """Live: the totals of what the filters show, and the listed sources' counts (only
        ``source``'s when one decision changed them)."""
        shown = [self.items[sid] for sid in self.shown]
        by_source: dict[int | None, list[ReviewItem]] = {}
        for it in shown:
            if source is None or it.source_image_id == source:
                by_source.setdefault(it.source_image_id, []).append(it)
        for i in range(self.sources.count()):
            item = self.sources.item(i)
            image_id = item.data(Qt.ItemDataRole.UserRole)
            if source is not None and image_id != source:
                continue
            group = by_source.get(image_id, [])
            c = review_queue.counts(group)
            name = group[0].source_name if group else "?"
            item.setText(f"{name}\n{counted(len(group), 'sample')} · {c['keep']} kept · {c['reject']} rejected")
        t = review_queue.counts(shown)
        of = "" if len(shown) == len(self.items) else f" (of {len(self.items)})"
        self.counts.setText(
            f"{counted(len(shown), 'sample')}{of}: {t['keep']} kept · {t['reject']} rejected · {t['undecided']} undecided"
        )

    def current_source(self) -> int | None:
        item = self.sources.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    @Slot()
    def _source_row_changed(self) -> None:
        self.show_source(self.current_source())

    def show_source(self, image_id: int | None) -> None:
        self.tiles = []
        self._new_grid()  # the old tiles go with the old grid
        if image_id is None:
            self._select(None)
            return
        mode = self.mode.currentData()
        rows = review_queue.review_rows([self.items[sid] for sid in self.shown if self.items[sid].source_image_id == image_id])
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
        if all(len(row) == 1 for row in rows):  # no styled children: the samples side by side
            flat = [row[0] for row in rows]
            rows = [flat[k : k + SIDE_BY_SIDE] for k in range(0, len(flat), SIDE_BY_SIDE)]
        for r, row in enumerate(rows):
            for c, it in enumerate(row):  # packed from the left: no gap where a sample is filtered out
                s = self.ws.sample(it.sample_id)
                img, mask = self.ws.read_sample(s)
                tip = (
                    f"{s.kind} sample {s.id} of {rec.name}, set {s.set_name}\nseed {s.seed}\n"
                    f"made {s.created_at[:19].replace('T', ' ')}\n{gate_tooltip(self.ws, s.id)}"
                )
                wanted = sample_wanted(self.ws, s, (rec.width, rec.height))
                caption = f"{s.kind} #{s.id} · {s.set_name}" + (f"\n{wanted.line}" if wanted else "")
                tile = Tile(
                    caption,
                    tip + (f"\n{wanted.line}" if wanted else ""),
                    s.id,
                    img,
                    mask,
                    mode,
                    (rec.width, rec.height),
                    it.failed_gates,
                )
                tile.canvas.set_wanted(wanted.mask if wanted else None)
                self._add_tile(tile, r, c + 1)
        self._fit_tiles()
        ids = self.sample_ids()
        self._select(self.focus_sample if self.focus_sample in ids else ids[0] if ids else None)
        self._restyle()
        self._show_selected()

    def _add_tile(self, tile: Tile, row: int, col: int) -> None:
        self.grid.addWidget(tile, row, col, Qt.AlignmentFlag.AlignTop)  # tiles with badges are taller
        tile.canvas.viewChanged.connect(self._sync_view)
        tile.canvas.pressed.connect(lambda _p, _b, sid=tile.sample_id: self.focus(sid))
        tile.canvas.doubleClicked.connect(lambda _p: self.viewer.open(self.focus_sample))
        sample_viewer.style_tile(tile.canvas, self.viewer.style_)
        self.tiles.append(tile)

    @Slot(object)
    def _tiles_follow(self, style) -> None:
        """The grid shows the large view's mode (O, L) and opacity too."""
        self.mode.setCurrentIndex(self.mode.findData(sample_viewer.tile_mode(style)))
        for t in self.tiles:
            sample_viewer.style_tile(t.canvas, style)

    def _fit_tiles(self) -> None:
        """Tiles as large as the grid's columns and one row allow in the visible area."""
        vp, m = self.scroll_area.viewport(), self.grid.contentsMargins()
        columns = max(self.grid.columnCount(), 2)
        spacing = max(self.grid.horizontalSpacing(), self.grid.verticalSpacing(), 0)
        width = vp.width() - m.left() - m.right() - spacing * (columns - 1)
        side = tile_side(width, vp.height() - m.top() - m.bottom(), columns, self.grid.rowCount())
        for t in self.tiles:
            t.set_side(side)
        self._show_selected()

    def _show_selected(self) -> None:
        """The selected tile scrolled into view (a large tile may push it out)."""
        tile = next((t for t in self.tiles if t.sample_id is not None and t.sample_id == self.focus_sample), None)
        if tile is not None:
            self.grid.activate()  # the tiles' places, before they are first painted
            self.scroll_area.ensureWidgetVisible(tile, 0, 0)

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:  # noqa: N802 - Qt API
        """The grid's visible area changed size (the window did): the tiles follow."""
        if obj is self.scroll_area.viewport() and e.type() == QEvent.Type.Resize:
            self._fit_tiles()
        return super().eventFilter(obj, e)

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
        self._show_selected()

    def _select(self, sample_id: int | None) -> None:
        """The selected sample changes: the note field shows that sample's own stored note.
        Text typed and not stored with Enter is dropped: a note belongs to the one sample it
        was typed for, never to the next one selected."""
        if sample_id is not None and sample_id == self.focus_sample and self.note.hasFocus():
            return  # the same sample while its note is typed (new samples arrived): the text stays
        self.focus_sample = sample_id
        self.note.setText("" if sample_id is None else self.ws.review(sample_id)[1])

    def go_to(self, sample_id: int) -> None:
        """Select a sample, showing its source image first if another one is shown."""
        image_id = self.items[sample_id].source_image_id
        if image_id != self.current_source():
            rows = [i for i in range(self.sources.count()) if self.sources.item(i).data(Qt.ItemDataRole.UserRole) == image_id]
            if not rows:
                return
            self.focus_sample = sample_id  # show_source keeps it selected
            self.sources.setCurrentRow(rows[0])
        self.focus(sample_id)

    def decide(self, decision: str, advance: bool = True) -> None:
        """Store the decision at once (with the sample's own note), remember it for Ctrl+Z,
        then go to the next undecided sample the filters show, in any image."""
        sid = self.focus_sample
        if sid is None:
            return
        before = self.ws.review(sid)
        self.state.set_review(sid, decision, before[1])  # its own note: the field may hold unstored text
        self.undo.append((sid, *before))
        nxt = review_queue.next_undecided([self.items[i] for i in self.shown], sid) if advance else None
        if nxt is not None:
            self.go_to(nxt)

    def undo_decision(self) -> bool:
        """Ctrl+Z: the last decision's sample gets back its decision and note, and is selected."""
        if not self.undo:
            return False
        sid, decision, note = self.undo.pop()
        self.state.set_review(sid, decision, note)
        if sid in self.shown:
            self.go_to(sid)
        return True

    @Slot(int, str)
    def _review_changed(self, sample_id: int, decision: str) -> None:
        """A decision stored through the app's state (here or elsewhere): colours and counts follow."""
        if sample_id not in self.items:
            return
        self.items[sample_id] = review_queue.decided(self.items[sample_id], decision)
        self._restyle()
        self._update_counts(self.items[sample_id].source_image_id)

    def step_source(self, delta: int) -> None:
        """The next / previous source image in the list."""
        row = self.sources.currentRow() + delta
        if 0 <= row < self.sources.count():
            self.sources.setCurrentRow(row)
        self.setFocus()

    def next_undecided(self) -> bool:
        """Select the next undecided sample the filters show: later in this image, else in the
        following images (wrapping around); False when every one is decided."""
        nxt = review_queue.next_undecided([self.items[i] for i in self.shown], self.focus_sample)
        if nxt is None:
            return False
        self.go_to(nxt)
        return True

    def _store_note(self) -> None:
        """Enter in the note field: the note goes to the selected sample (the one the field
        was loaded for), and the keys go back to the samples."""
        if self.focus_sample is not None:
            decision = self.ws.review(self.focus_sample)[0]
            self.state.set_review(self.focus_sample, decision, self.note.text())
        self.setFocus()

    def _restyle(self) -> None:
        for t in self.tiles:
            it = self.items.get(t.sample_id) if t.sample_id is not None else None
            t.show_state(it.decision if it else "undecided", it is not None and t.sample_id == self.focus_sample)

    # -- keys and focus ----------------------------------------------------------------------
    def showEvent(self, e: QShowEvent) -> None:  # noqa: N802 - Qt API
        """The tab shows (Ctrl+4 or a click): the keys go to the samples at once."""
        super().showEvent(e)
        QTimer.singleShot(0, self._take_keys)

    @Slot()
    def _take_keys(self) -> None:
        if self.isVisible():
            self.setFocus()

    def changeEvent(self, e: QEvent) -> None:  # noqa: N802 - Qt API
        """A new theme: the focused tile's background is mixed from the palette in use (else it
        keeps the old theme's, and the new theme's text on it cannot be read)."""
        super().changeEvent(e)
        if e.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._restyle()

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """The review's keys; a key the note field does not use (PgDn, Esc) arrives here too."""
        key = e.key()
        if e.matches(QKeySequence.StandardKey.Undo):
            self.undo_decision()
        elif key == Qt.Key.Key_Escape:
            self.setFocus()
            self._select(self.focus_sample)  # the field's unstored text is dropped
        elif key == Qt.Key.Key_Slash and self.focus_sample is not None:
            self.note.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.note.selectAll()
        elif key in DECISIONS and not e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.decide(DECISIONS[key])
        elif key in (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
            self.step_source(1 if key == Qt.Key.Key_PageDown else -1)
        elif key == Qt.Key.Key_N:
            self.next_undecided()
        elif key == Qt.Key.Key_Space:
            self.viewer.open(self.focus_sample)
        elif key in (Qt.Key.Key_O, Qt.Key.Key_L):
            self.viewer.bar.flip() if key == Qt.Key.Key_O else self.viewer.bar.toggle_outlines()
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Left):
            ids = self.sample_ids()
            if ids and self.focus_sample in ids:
                step = 1 if key in (Qt.Key.Key_Down, Qt.Key.Key_Right) else -1
                self.focus(ids[min(max(ids.index(self.focus_sample) + step, 0), len(ids) - 1)])
        else:
            super().keyPressEvent(e)
