"""The Review tab's large view: the selected sample beside its source at the size of the view,
one zoom and pan for both, the mask as image / overlay / mask with an opacity, and both masks'
outlines on demand. It covers the review view it belongs to and decides through that view's own
``decide`` (one way to decide, whichever view is showing), then shows whatever sample the
review view selected next."""

from __future__ import annotations

from typing import Protocol, cast

import numpy as np
import shiboken6
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QFrame, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from backend.audit.distances import MIRROR_TAGS, mirrored
from backend.audit.store import nearest_of
from backend.synthesis.sample_wanted import sample_wanted
from backend.workspace import SampleRecord, Workspace
from diffgen_gui.overlay import MODE_LABELS, SAMPLE_OUTLINE, SOURCE_OUTLINE, OverlayStyle, fit_to_frame, line_width, render
from diffgen_gui.render import MASK_COLOUR
from diffgen_gui.theme import status_colour
from diffgen_gui.widgets.image_canvas import ImageCanvas

KEYS = [
    ("Space / double-click", "Large view of the selected sample beside its source (Space / Esc closes it)"),
    ("O", "Image / overlay / mask (the grid and the large view; the opacity slider: large view)"),
    ("L", "Outlines: in the large view the source's mask (blue) and the sample's (orange); in the grid each tile's own"),
    ("0 / 1 / + / −", "Large view: fit / actual pixels / zoom in / out (wheel, right-drag pans)"),
    ("M", "Large view: the sample's nearest training image by the memorisation audit in place of its source, and back"),
]
CLOSE_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_Escape)
# moving keys go to the review view, which knows what comes next; the viewer then follows it
REVIEW_MOVES = (
    Qt.Key.Key_N,
    Qt.Key.Key_PageDown,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_Left,
    Qt.Key.Key_Right,
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
)
ZOOM_STEP = 1.25
# the grid's picture modes (ImageCanvas modes), the first the default
TILE_MODES = (
    ("Mask outline", "contour"),
    ("Mask fill", "fill"),
    ("Side by side", "side"),
    ("Image only", "image"),
    ("Mask only", "mask"),
)


class ReviewHost(Protocol):
    """What the viewer needs of the review view it covers."""

    ws: Workspace
    focus_sample: int | None

    def decide(self, decision: str) -> None: ...


def tile_mode(style: OverlayStyle) -> str:
    """The grid's picture mode for the large view's ``style``."""
    return {"image": "image", "overlay": "fill", "mask": "mask"}[style.mode]


def style_tile(canvas: ImageCanvas, style: OverlayStyle) -> None:
    """A grid tile's opacity and outline as the large view's ``style`` says (its mode follows
    the grid's mode box): each tile outlines its own mask, the two masks together are the
    large view's."""
    canvas.set_opacity(style.opacity)
    canvas.set_outlines(style.outlines)


def swatch(colour: tuple[int, int, int], text: str) -> str:
    return f'<span style="color: rgb{colour}">■</span> {text}'


class OverlayBar(QWidget):
    """The mode button, the opacity slider, the outline switch and the legend of the colours.
    None of them takes the keyboard focus: the keys stay with the view."""

    styleChanged = Signal(object)  # OverlayStyle

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.style_ = OverlayStyle()
        self.mode = QPushButton(toolTip="Image / overlay / mask (O)", focusPolicy=Qt.FocusPolicy.NoFocus)
        self.mode.clicked.connect(self.flip)
        self.opacity = QSlider(
            Qt.Orientation.Horizontal,
            minimum=0,
            maximum=100,
            toolTip="Opacity of the mask overlay",
            focusPolicy=Qt.FocusPolicy.NoFocus,
        )
        self.opacity.setMaximumWidth(160)
        self.opacity.valueChanged.connect(self._opacity)
        self.outlines = QCheckBox(
            "Outlines (L)", toolTip="The source's and the sample's mask outlines", focusPolicy=Qt.FocusPolicy.NoFocus
        )
        self.outlines.toggled.connect(self._outlines)
        self.legend = QLabel(objectName="legend", textFormat=Qt.TextFormat.RichText)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.mode)
        lay.addWidget(QLabel("Opacity"))
        lay.addWidget(self.opacity)
        lay.addWidget(self.outlines)
        lay.addWidget(self.legend, 1)
        self._show(self.style_)

    def _show(self, style: OverlayStyle) -> None:
        self.style_ = style
        for w, value in ((self.opacity, round(style.opacity * 100)), (self.outlines, style.outlines)):
            w.blockSignals(True)
            w.setValue(value) if isinstance(w, QSlider) else w.setChecked(value)
            w.blockSignals(False)
        self.mode.setText(f"{MODE_LABELS[style.mode]} (O)")
        self.opacity.setEnabled(style.mode == "overlay")
        parts = [swatch(MASK_COLOUR, "each picture's own mask")] if style.mode == "overlay" else []
        if style.mode == "mask":
            parts.append("white: each picture's own mask")
        if style.outlines:
            parts += [
                swatch(SOURCE_OUTLINE, "source's mask (outside line)"),
                swatch(SAMPLE_OUTLINE, "sample's mask (inside line)"),
            ]
        self.legend.setText(" · ".join(parts))
        self.styleChanged.emit(style)

    @Slot()
    def flip(self) -> None:
        self._show(self.style_.flipped())

    @Slot(int)
    def _opacity(self, value: int) -> None:
        self._show(self.style_.with_opacity(value / 100))

    @Slot(bool)
    def _outlines(self, on: bool) -> None:
        self._show(self.style_.with_outlines(on))

    def toggle_outlines(self) -> None:
        self._show(self.style_.with_outlines(not self.style_.outlines))


class SampleViewer(QFrame):
    """Covers its review view while open (hidden otherwise)."""

    def __init__(self, host: ReviewHost, decision_keys: dict[int, str]):
        """``host``: the review view (a QWidget) that the viewer covers and decides through."""
        host_widget = cast(QWidget, host)
        super().__init__(host_widget, objectName="sampleViewer")
        self.host, self.host_widget, self.decision_keys = host, host_widget, decision_keys
        self.sample_id: int | None = None
        self._return_focus: QWidget | None = None
        self.last_decision = ""  # "#12: keep", shown once the view has moved on to the next sample
        self.nearest = False  # M: the left pane shows the sample's nearest training image, not its source
        self.line = 1  # outline width in image pixels, for the zoom shown
        self._pictures: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
        self._masks: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self.wanted: np.ndarray | None = None  # a mask-guided sample's wanted mask, over both panes
        self.rendered: dict[str, np.ndarray | None] = {}  # the arrays on screen, by pane
        self.setAutoFillBackground(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.title = QLabel(objectName="viewerTitle", wordWrap=True)
        self.source, self.sample = ImageCanvas(), ImageCanvas()
        self.sample_frame = QFrame(objectName="samplePane")
        source_frame = QFrame(objectName="sourcePane")  # the same border: panes of one size share one view
        source_frame.setStyleSheet("QFrame#sourcePane { border: 4px solid transparent; }")
        for frame, canvas in ((source_frame, self.source), (self.sample_frame, self.sample)):
            inner = QVBoxLayout(frame)
            inner.setContentsMargins(4, 4, 4, 4)
            inner.addWidget(canvas)
        for a, b in ((self.source, self.sample), (self.sample, self.source)):
            a.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            a.viewChanged.connect(b.set_view)  # set_view does not emit again: no ping-pong
            a.viewChanged.connect(self._zoomed)
        panes = QHBoxLayout()
        panes.addWidget(source_frame, 1)
        panes.addWidget(self.sample_frame, 1)
        self.bar = OverlayBar()
        self.bar.styleChanged.connect(self._restyle)
        hint = QLabel(
            "K keep · R reject · U undecided (then the next sample) · N next undecided · O image/overlay/mask · "
            "L outlines · M nearest training image / source · wheel zoom, right-drag pan (both pictures) · 0 fit · "
            "1 actual pixels · Space / Esc back to the grid",
            objectName="hint",
            wordWrap=True,
        )
        lay = QVBoxLayout(self)
        lay.addWidget(self.title)
        lay.addLayout(panes, 1)
        lay.addWidget(self.bar)
        lay.addWidget(hint)
        host_widget.installEventFilter(self)
        self.hide()

    @property
    def style_(self) -> OverlayStyle:
        return self.bar.style_

    # -- opening and closing ------------------------------------------------------------------
    def open(self, sample_id: int | None) -> None:
        """Show ``sample_id`` (None: nothing to show, stay closed) over the whole review view."""
        if sample_id is None:
            return
        if self.isHidden():
            self.last_decision = ""
            self._return_focus = QApplication.focusWidget()
            self.setGeometry(self.host_widget.rect())
            self.show()
            self.raise_()
        self.show_sample(sample_id)
        self.setFocus()

    def close_view(self) -> None:
        """Back to the grid, with the keyboard where it was before."""
        self.hide()
        back = self._return_focus
        # the grid is rebuilt for each source image: the widget the focus came from may be gone
        (back if back is not None and shiboken6.isValid(back) else self.host_widget).setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize and watched is self.host_widget:
            self.setGeometry(self.host_widget.rect())
        return False

    # -- content ------------------------------------------------------------------------------
    def show_sample(self, sample_id: int) -> None:
        ws = self.host.ws
        s = ws.sample(sample_id)
        rgb, mask = ws.read_sample(s)
        left, name, beside = self._left_picture(ws, s)
        if left[0] is not None:
            rgb, mask = fit_to_frame(rgb, mask, left[0].shape[1::-1])
        same_frame = self.sample_id is not None and self.sample.image_size() == rgb.shape[1::-1]
        self.sample_id = sample_id
        self._pictures = {"source": left, "sample": (rgb, mask)}
        self._masks = (left[1], mask)
        wanted = sample_wanted(ws, s, rgb.shape[1::-1])
        self.wanted = wanted.mask if wanted else None
        decision = ws.review(sample_id)[0]
        done = f"{self.last_decision} · now " if self.last_decision else ""
        self.title.setText(
            f"{done}{s.kind} sample #{s.id} · set {s.set_name} · decision: {decision} — {beside}"
            + (f"\n{wanted.line}" if wanted else "")
        )
        self.sample_frame.setStyleSheet(f"QFrame#samplePane {{ border: 4px solid {status_colour(decision).name()}; }}")
        self.source.caption = name
        self.sample.caption = f"{s.kind} #{s.id} · decision: {decision}"
        self._restyle(self.style_, keep_view=same_frame)

    def _left_picture(self, ws: Workspace, s: SampleRecord) -> tuple[tuple[np.ndarray | None, np.ndarray | None], str, str]:
        """The left pane's picture and mask, its caption and the title's 'beside ...': the
        source image, or with M the nearest training image the newest audit found (mirrored as
        it matched), so that a suspected copy is seen beside what it may copy."""
        if self.nearest:
            found = nearest_of(ws, s.id)
            if found is not None:
                rec = ws.image(found.nearest_image_id)
                rgb = mirrored(ws.read_image(rec), found.flip)
                mask = mirrored(ws.read_mask(rec.current_mask_id), found.flip) if rec.current_mask_id else None
                tag = f"{rec.name}{MIRROR_TAGS[found.flip]}"
                return (
                    (rgb, mask),
                    f"Nearest training image · {tag} · audit score {found.ratio:.2f}",
                    f"beside its nearest training image {tag} (audit score {found.ratio:.2f}; M: the source)",
                )
        if s.source_image_id is None:
            return (None, None), "no source image", "no source image"
        rec = ws.image(s.source_image_id)
        picture = (ws.read_image(rec), ws.read_mask(rec.current_mask_id) if rec.current_mask_id else None)
        unaudited = " (no audit of this sample yet: run 'diffgen audit')" if self.nearest else ""
        return picture, f"Source · {rec.name}", f"beside its source {rec.name}{unaudited}"

    @Slot(object)
    def _restyle(self, style: OverlayStyle, keep_view: bool = True) -> None:
        if self.isHidden():  # the grid's O and L while closed: drawn when next opened
            return
        for name, canvas in (("source", self.source), ("sample", self.sample)):
            rgb, own = self._pictures.get(name, (None, None))
            self.rendered[name] = None if rgb is None else render(rgb, own, style, *self._masks, self.line, self.wanted)
            canvas.set_content(self.rendered[name], None, keep_view=keep_view)

    @Slot(float, QPointF)
    def _zoomed(self, scale: float, _offset: QPointF) -> None:
        """Outlines drawn anew only when the zoom needs another width (not at every step)."""
        if line_width(scale) != self.line:
            self.line = line_width(scale)
            if self.style_.outlines:
                self._restyle(self.style_)

    # -- keys ------------------------------------------------------------------------------
    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        key = e.key()
        if e.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            super().keyPressEvent(e)
        elif key in CLOSE_KEYS:
            self.close_view()
        elif key in self.decision_keys or key in REVIEW_MOVES:
            if key in self.decision_keys:
                self.last_decision = f"#{self.sample_id}: {self.decision_keys[key]}"
                self.host.decide(self.decision_keys[key])
            else:
                QApplication.sendEvent(self.host_widget, QKeyEvent(e.type(), key, e.modifiers(), e.text()))
            self.open(self.host.focus_sample)
        elif key == Qt.Key.Key_O:
            self.bar.flip()
        elif key == Qt.Key.Key_L:
            self.bar.toggle_outlines()
        elif key == Qt.Key.Key_M and self.sample_id is not None:
            self.nearest = not self.nearest
            self.show_sample(self.sample_id)
        elif key == Qt.Key.Key_0:
            self.source.fit()
        elif key == Qt.Key.Key_1:
            self.source.one_to_one()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus):
            self.source.zoom_by(ZOOM_STEP if key != Qt.Key.Key_Minus else 1 / ZOOM_STEP)
        else:
            super().keyPressEvent(e)
