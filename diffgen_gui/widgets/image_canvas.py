"""ImageCanvas: an image with its mask overlay, zoom and pan; the editor's drawing surface.

The canvas shares memory with the mask array it shows (the editor mutates it in place and
tells the canvas which box changed), so a brush dab repaints only a few pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QImage, QMouseEvent, QPainter, QPainterPath, QPen, QPolygonF, QTransform, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from diffgen_gui.render import PREVIEW_COLOUR, outline_path, paint_overlay, to_qimage, wrap_qimage

MODES = ("fill", "contour", "mask", "side", "image")  # image: the picture alone


def pixel_at(pt: QPointF) -> tuple[int, int]:
    """The (x, y) pixel containing image point ``pt`` (pixel centres at integers; a point on
    a border belongs to the pixel right / below, never rounded half to even)."""
    return math.floor(pt.x() + 0.5), math.floor(pt.y() + 0.5)


GAP = 8  # pixels between image and mask in side-by-side mode


class ImageCanvas(QWidget):
    """Shows one image + mask. Emits mouse events in image pixel coordinates."""

    pressed = Signal(QPointF, object)  # image coords, Qt.MouseButton
    dragged = Signal(QPointF)
    released = Signal(QPointF)
    doubleClicked = Signal(QPointF)
    viewChanged = Signal(float, QPointF)  # scale, offset (for linked canvases)
    hovered = Signal(QPointF)  # image coords under the mouse

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(120, 120)
        self._image: QImage | None = None
        self._mask: np.ndarray | None = None
        self._mask_q: QImage | None = None
        self._overlay: np.ndarray | None = None
        self._overlay_q: QImage | None = None
        self._outline: QPainterPath | None = None
        self._preview: QPainterPath | None = None
        self._preview_q: QImage | None = None
        self.preview_mask: np.ndarray | None = None
        self.wanted_mask: np.ndarray | None = None  # a mask-guided sample's request, or a shape being placed
        self._wanted: QPainterPath | None = None
        self._wanted_q: QImage | None = None
        self.mode = "fill"
        self.outlines = False  # the mask's outline on top, in any mode (the Review grid's L key)
        self.opacity = 0.4
        self.scale = 1.0
        self.offset = QPointF(0, 0)
        self.pan_with_left = False
        self.brush_radius = 0.0  # > 0 draws the brush outline under the mouse
        self.polyline: list[QPointF] = []
        self.handles: list[QPointF] = []  # vertices of a closed polygon that can still be moved
        self._rgb: np.ndarray | None = None
        self.brightness, self.contrast = 0.0, 1.0
        self._tool_cursor = QCursor(Qt.CursorShape.ArrowCursor)
        self._mouse: QPointF | None = None
        self.press_modifiers = Qt.KeyboardModifier.NoModifier  # the keys held at the last press (Ctrl+drag, ...)
        self._panning: QPointF | None = None
        self._fitted = True
        self.caption = ""
        self.empty_text = "no image"

    # -- content ---------------------------------------------------------------------
    def set_content(self, rgb: np.ndarray | None, mask: np.ndarray | None, keep_view: bool = False) -> None:
        self._rgb = rgb
        self._image = self._display_image()
        self.set_mask(mask)
        if not keep_view or self._fitted:
            self.fit()

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show ``mask`` (kept by reference: later in-place edits show after :meth:`mask_updated`)."""
        self._mask = mask
        if mask is None:
            self._mask_q = self._overlay_q = self._overlay = None
        else:
            self._mask_q = wrap_qimage(mask)
            self._overlay = np.zeros(mask.shape + (4,), np.uint8)
            paint_overlay(self._overlay, mask)
            self._overlay_q = wrap_qimage(self._overlay)
        self._outline = None
        self.update()

    def mask_updated(self, box: tuple[slice, slice] | None = None) -> None:
        """The shown mask changed inside ``box`` (None: anywhere)."""
        if self._mask is None or self._overlay is None:
            return
        paint_overlay(self._overlay, self._mask, box)
        self._outline = None
        if box is None or self.mode in ("contour", "side"):
            self.update()
        else:
            y, x = box
            r = self._transform().mapRect(QRectF(x.start, y.start, x.stop - x.start, y.stop - y.start))
            self.update(r.toAlignedRect().adjusted(-2, -2, 2, 2))

    def set_adjustment(self, brightness: float, contrast: float) -> None:
        """Brightness (added, -255..255) and contrast (a factor about mid-grey) of the shown
        image; the data are not changed."""
        self.brightness, self.contrast = float(brightness), float(contrast)
        self._image = self._display_image()
        self.update()

    def _display_image(self) -> QImage | None:
        if self._rgb is None:
            return None
        if self.brightness == 0 and self.contrast == 1:
            return to_qimage(self._rgb)
        lut = np.clip((np.arange(256) - 128.0) * self.contrast + 128.0 + self.brightness, 0, 255).astype(np.uint8)
        return to_qimage(lut[self._rgb])

    def set_tool_cursor(self, cursor: QCursor) -> None:
        self._tool_cursor = cursor
        if self._panning is None:
            self.setCursor(cursor)

    def set_preview(self, mask: np.ndarray | None) -> None:
        """Show a proposed mask (outline + tint) on top of the current one; None hides it."""
        self.preview_mask = mask
        if mask is None:
            self._preview = self._preview_q = None
        else:
            self._preview = outline_path(mask)
            rgba = np.zeros(mask.shape + (4,), np.uint8)
            paint_overlay(rgba, mask, colour=PREVIEW_COLOUR)
            self._preview_q = wrap_qimage(rgba).copy()
        self.update()

    def set_wanted(self, mask: np.ndarray | None, tint: bool = False) -> None:
        """Outline ``mask`` dashed in black and white on top in every mode (a wanted mask: readable
        over any picture and beside the green and amber masks); ``tint`` also shades its inside."""
        self.wanted_mask = mask
        self._wanted = None if mask is None else outline_path(mask)
        self._wanted_q = None
        if mask is not None and tint:
            rgba = np.zeros(mask.shape + (4,), np.uint8)
            paint_overlay(rgba, mask, colour=(255, 255, 255))
            self._wanted_q = wrap_qimage(rgba).copy()
        self.update()

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        self.mode = mode
        if self._fitted:
            self.fit()
        self.update()

    def set_outlines(self, on: bool) -> None:
        self.outlines = bool(on)
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(opacity)
        self.update()

    def image_size(self) -> tuple[int, int]:
        if self._image is None:
            return 0, 0
        return self._image.width(), self._image.height()

    # -- view ------------------------------------------------------------------------
    def _content_width(self) -> float:
        w, _ = self.image_size()
        return 2 * w + GAP if self.mode == "side" else w

    def fit(self) -> None:
        w, h = self.image_size()
        if not w:
            return
        cw = self._content_width()
        s = min((self.width() - 8) / cw, (self.height() - 8) / h)
        s = max(s, 0.01)
        self.set_view(s, QPointF((self.width() - cw * s) / 2, (self.height() - h * s) / 2), emit=True)
        self._fitted = True

    def one_to_one(self) -> None:
        w, h = self.image_size()
        self.set_view(1.0, QPointF((self.width() - self._content_width()) / 2, (self.height() - h) / 2), emit=True)
        self._fitted = False

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        anchor = anchor or QPointF(self.width() / 2, self.height() / 2)
        new = min(max(self.scale * factor, 0.02), 64.0)
        f = new / self.scale
        self.set_view(new, anchor - (anchor - self.offset) * f, emit=True)
        self._fitted = False

    def set_view(self, scale: float, offset: QPointF, emit: bool = False) -> None:
        self.scale, self.offset = scale, QPointF(offset)
        self._fitted = False
        self.update()
        if emit:
            self.viewChanged.emit(self.scale, self.offset)

    def _transform(self) -> QTransform:
        return QTransform(self.scale, 0, 0, self.scale, self.offset.x(), self.offset.y())

    def to_image(self, pos: QPointF) -> QPointF:
        """Widget position -> image pixel coordinates (pixel centres at integers)."""
        p = (pos - self.offset) / self.scale
        w, _ = self.image_size()
        if self.mode == "side" and p.x() > w + GAP / 2:
            p -= QPointF(w + GAP, 0)
        return p - QPointF(0.5, 0.5)

    # -- painting ----------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#16181b"))
        if self._image is None:
            p.setPen(QColor("#888"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.scale < 2)
        p.setTransform(self._transform())
        w, _ = self.image_size()
        if self.mode == "mask" and self._mask_q is not None:
            p.drawImage(0, 0, self._mask_q)
        else:
            p.drawImage(0, 0, self._image)
        if self._overlay_q is not None and self.mode in ("fill", "side"):
            p.setOpacity(self.opacity)
            p.drawImage(0, 0, self._overlay_q)
            p.setOpacity(1.0)
        if self._mask is not None and (self.mode == "contour" or self.outlines):
            if self._outline is None:
                self._outline = outline_path(self._mask)
            pen = QPen(QColor(0, 230, 120), 2)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.drawPath(self._outline)
        if self.mode == "side" and self._mask_q is not None:
            p.drawImage(w + GAP, 0, self._mask_q)
        if self._preview is not None and self._preview_q is not None:
            p.setOpacity(0.35)
            p.drawImage(0, 0, self._preview_q)
            p.setOpacity(1.0)
            pen = QPen(QColor(*PREVIEW_COLOUR), 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.drawPath(self._preview)
        self._paint_wanted(p)
        self._paint_tools(p)
        p.resetTransform()
        if self.caption:
            p.setPen(QColor("#ddd"))
            p.drawText(6, 16, self.caption)

    def _paint_wanted(self, p: QPainter) -> None:
        if self._wanted_q is not None:
            p.setOpacity(0.3)
            p.drawImage(0, 0, self._wanted_q)
            p.setOpacity(1.0)
        if self._wanted is not None:
            for colour, style in ((QColor(0, 0, 0), Qt.PenStyle.SolidLine), (QColor(255, 255, 255), Qt.PenStyle.DashLine)):
                pen = QPen(colour, 2, style)
                pen.setCosmetic(True)
                p.setPen(pen)
                p.drawPath(self._wanted)

    def _paint_tools(self, p: QPainter) -> None:
        pen = QPen(QColor(255, 255, 255, 200), 1)
        pen.setCosmetic(True)
        p.setPen(pen)
        if self.polyline:
            shifted = [q + QPointF(0.5, 0.5) for q in self.polyline]
            for a, b in zip(shifted, shifted[1:] + ([self._mouse + QPointF(0.5, 0.5)] if self._mouse else [])):
                p.drawLine(a, b)
        if self.handles:
            p.drawPolygon(QPolygonF([q + QPointF(0.5, 0.5) for q in self.handles]))
            r = 4 / self.scale
            for q in self.handles:
                p.drawRect(QRectF(q.x() + 0.5 - r, q.y() + 0.5 - r, 2 * r, 2 * r))
        if self.brush_radius > 0 and self._mouse is not None:
            c = self._mouse + QPointF(0.5, 0.5)
            p.drawEllipse(c, self.brush_radius, self.brush_radius)

    # -- input -------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802
        if self._fitted:
            self.fit()
        super().resizeEvent(event)

    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802
        self.zoom_by(1.25 ** (e.angleDelta().y() / 120), e.position())

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        pan = e.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton) or (
            e.button() == Qt.MouseButton.LeftButton and self.pan_with_left
        )
        if pan:
            self._panning = e.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        self.press_modifiers = e.modifiers()
        self.pressed.emit(self.to_image(e.position()), e.button())

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None:
            d = e.position() - self._panning
            self._panning = e.position()
            self.set_view(self.scale, self.offset + d, emit=True)
            return
        old = self._mouse
        self._mouse = self.to_image(e.position())
        self.hovered.emit(self._mouse)
        if e.buttons() & Qt.MouseButton.LeftButton:
            self.dragged.emit(self._mouse)
        if self.brush_radius > 0 or self.polyline or self.handles:
            self._update_around(old)
            self._update_around(self._mouse)

    def _update_around(self, pt: QPointF | None) -> None:
        if pt is None:
            return
        r = (self.brush_radius + 2) * self.scale + 4
        c = self._transform().map(pt + QPointF(0.5, 0.5))
        if self.polyline or self.handles:
            self.update()
        else:
            self.update(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r).toAlignedRect())

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None:
            self._panning = None
            self.setCursor(self._tool_cursor)
            return
        if e.button() == Qt.MouseButton.LeftButton:
            self.released.emit(self.to_image(e.position()))

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802
        self.doubleClicked.emit(self.to_image(e.position()))

    def leaveEvent(self, e) -> None:  # noqa: N802
        self._mouse = None
        self.update()
