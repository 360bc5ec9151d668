"""The mask editor's Place polyp tool: draw a new polyp's shape on any image (brush, polygon or
ellipse), move, turn and scale it, then queue N mask-guided samples of it (issue 34).

The shape is a :class:`backend.synthesis.drawn_shape.DrawnShape` (all the maths is there) and
queueing is :func:`backend.synthesis.place_job.place_request`; this module turns mouse and keys
into calls on them and shows the shape on the editor's canvas, dashed, over the image and its
own mask. The shape is a request, not a label: it never enters the image's mask history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPointF, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox

from backend.errors import DiffGenError
from backend.synthesis.drawn_shape import DrawnShape, Point
from backend.synthesis.place_job import MAX_PLACED_SAMPLES, place_request
from backend.workspace import Workspace
from diffgen_gui.widgets.image_canvas import ImageCanvas
from diffgen_gui.worker import JobQueue

SHAPES = (("Brush", "brush"), ("Polygon", "polygon"), ("Ellipse", "ellipse"))
MOVE_PX, MOVE_FAR_PX = 1.0, 10.0  # an arrow key; with Shift
TURN_DEG, TURN_FAR_DEG = 5.0, 15.0  # , and . ; with Shift
GROW = 1.1  # PgUp larger, PgDn smaller
KEYS = [  # the tool's own key (G) is in the Edit menu with the other tools
    ("Ctrl+drag / Shift+drag", "Place polyp: move / turn and scale the shape"),
    ("← → ↑ ↓ (Place polyp)", "Move the shape 1 px (Shift: 10 px)"),
    ("PgUp / PgDn (Place polyp)", "Shape larger / smaller"),
    (". / , (Place polyp)", "Turn the shape 5° clockwise / anticlockwise (Shift: 15°)"),
    ("Del", "Place polyp: remove the shape"),
]
SHAPE_KEYS = "Ctrl+drag move · Shift+drag turn and scale · arrows move · PgUp/PgDn scale · , . turn · Del remove"
HINT = "Draw where a new polyp should be ({shape}), then Queue N samples. " + SHAPE_KEYS
ARROWS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


@dataclass(frozen=True)
class _Drag:
    """A drag in progress: what it does, where it began and the shape then (no drift)."""

    how: str  # move | turn | brush | ellipse
    start: Point
    shape: DrawnShape | None
    stroke: tuple[Point, ...] = ()


class PlaceTool(QObject):
    """The tool's state for the image shown (one shape per image, kept while the editor lives)
    and its panel (:attr:`box`). ``queue`` is the app's job queue (set by the main window)."""

    hintChanged = Signal(str)

    def __init__(self, ws: Workspace, canvas: ImageCanvas, brush_radius: Callable[[], int], parent: QObject | None = None):
        super().__init__(parent)
        self.ws, self.canvas, self.brush_radius = ws, canvas, brush_radius
        self.queue: JobQueue | None = None
        self.active = False
        self.image_id: int | None = None
        self.size = (0, 0)
        self.shapes: dict[int, DrawnShape] = {}
        self._drag: _Drag | None = None
        self._build()

    def _build(self) -> None:
        self.box = QGroupBox("Place polyp")
        form = QFormLayout(self.box)
        self.kind = QComboBox(toolTip="How the next shape is drawn")
        for label, kind in SHAPES:
            self.kind.addItem(label, kind)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.samples = QSpinBox(minimum=1, maximum=MAX_PLACED_SAMPLES, value=4, toolTip="Samples to generate of this shape")
        self.samples.valueChanged.connect(self._samples_changed)
        self.queue_btn = QPushButton(objectName="primary", toolTip="Store the shape as a wanted mask and queue a synthesis job")
        self.queue_btn.clicked.connect(self.queue_samples)
        clear = QPushButton("Remove", toolTip="Remove the drawn shape (Del)")
        clear.clicked.connect(self.clear_shape)
        self.message = QLabel(objectName="hint", wordWrap=True)
        form.addRow("Shape", self.kind)
        row = QHBoxLayout()
        row.addWidget(self.samples, 1)
        row.addWidget(clear)
        form.addRow("Samples", row)
        form.addRow(self.queue_btn)
        form.addRow(QLabel(SHAPE_KEYS, objectName="hint", wordWrap=True))  # the status bar's hint may be cut short
        form.addRow(self.message)
        self._samples_changed(self.samples.value())

    # -- the image and the tool ------------------------------------------------------------------
    @property
    def shape(self) -> DrawnShape | None:
        return self.shapes.get(self.image_id) if self.image_id is not None else None

    @shape.setter
    def shape(self, shape: DrawnShape | None) -> None:
        if self.image_id is None:
            return
        if shape is None:
            self.shapes.pop(self.image_id, None)
        else:
            self.shapes[self.image_id] = shape
        self._show(shape)

    def set_image(self, image_id: int | None, size: tuple[int, int]) -> None:
        self.cancel()
        self.image_id, self.size = image_id, size
        self.message.clear()
        self._show(self.shape)

    def set_active(self, on: bool) -> None:
        """The tool was chosen (or another was): its shape shows only while it is the tool."""
        if not on:
            self.cancel()
        self.active = on
        self.box.setVisible(on)
        self._brush_circle()
        self._show(self.shape)

    def hint(self) -> str:
        return HINT.format(shape=self.kind.currentText().lower())

    def _brush_circle(self) -> None:
        """The brush's circle under the mouse while the brush draws the shape."""
        if self.active:
            self.canvas.brush_radius = self.brush_radius() if self.kind.currentData() == "brush" else 0
            self.canvas.update()

    @Slot(int)
    def _kind_changed(self, _index: int) -> None:
        self.cancel()
        self._brush_circle()
        if self.active:
            self.hintChanged.emit(self.hint())

    @Slot(int)
    def _samples_changed(self, n: int) -> None:
        self.queue_btn.setText(f"Queue {n} sample{'s' if n != 1 else ''}")

    def _show(self, shape: DrawnShape | None) -> None:
        shown = shape is not None and self.active and self.size[0] > 0
        self.canvas.set_wanted(shape.raster(self.size) if shown and shape is not None else None, tint=True)

    # -- mouse -------------------------------------------------------------------------------------
    def press(self, pt: QPointF, modifiers: Qt.KeyboardModifier) -> None:
        p = (pt.x(), pt.y())
        kind = self.kind.currentData()
        if self.shape is not None and modifiers & Qt.KeyboardModifier.ControlModifier:
            self._drag = _Drag("move", p, self.shape)
        elif self.shape is not None and modifiers & Qt.KeyboardModifier.ShiftModifier:
            self._drag = _Drag("turn", p, self.shape)
        elif kind == "polygon":
            self.canvas.polyline.append(pt)
            self.canvas.update()
        else:
            self._drag = _Drag(kind, p, self.shape, (p,))
            self.drag(pt)

    def drag(self, pt: QPointF) -> None:
        d = self._drag
        if d is None:
            return
        p = (pt.x(), pt.y())
        if d.how in ("move", "turn") and d.shape is not None:
            self.shape = (
                d.shape.moved(p[0] - d.start[0], p[1] - d.start[1])
                if d.how == "move"
                else d.shape.dragged_about_centre(d.start, p)
            )
        elif d.how == "brush":
            if p != d.stroke[-1]:
                self._drag = d = _Drag("brush", d.start, d.shape, d.stroke + (p,))
            self._show(self._brushed(d))
        elif d.how == "ellipse":
            self._show(DrawnShape.ellipse(d.start, p))

    def release(self, pt: QPointF) -> None:
        d, self._drag = self._drag, None
        if d is None:
            return
        if d.how == "brush":
            self.shape = self._brushed(d)
        elif d.how == "ellipse":
            if abs(pt.x() - d.start[0]) >= 1 and abs(pt.y() - d.start[1]) >= 1:  # a click is no ellipse
                self.shape = DrawnShape.ellipse(d.start, (pt.x(), pt.y()))
            else:
                self._show(self.shape)

    def _brushed(self, d: _Drag) -> DrawnShape:
        """A stroke adds to a brush shape; over another shape it starts a new one."""
        if d.shape is not None and d.shape.kind == "brush":
            return d.shape.with_stroke(d.stroke)
        return DrawnShape.brush(d.stroke, self.brush_radius())

    def close_polygon(self) -> None:
        corners = [(q.x(), q.y()) for q in self.canvas.polyline]
        self.canvas.polyline = []
        self.canvas.update()
        if len(corners) >= 3:
            self.shape = DrawnShape.polygon(corners)

    def cancel(self) -> None:
        """Drop a polygon being clicked and a drag in progress (the shape stays)."""
        self._drag = None
        if self.canvas.polyline:
            self.canvas.polyline = []
            self.canvas.update()

    @Slot()
    def clear_shape(self) -> None:
        self.cancel()
        self.shape = None

    # -- keys --------------------------------------------------------------------------------------
    def key(self, key: int, shift: bool) -> bool:
        """The tool's keys; False for a key it does not use (the editor's then)."""
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close_polygon()
            return True
        if key == Qt.Key.Key_Delete:
            self.clear_shape()
            return True
        s = self.shape
        if s is None:
            return False
        if key in ARROWS:
            step = MOVE_FAR_PX if shift else MOVE_PX
            dx, dy = ARROWS[Qt.Key(key)]
            self.shape = s.moved(dx * step, dy * step)
        elif key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
            self.shape = s.scaled(GROW if key == Qt.Key.Key_PageUp else 1 / GROW)
        elif key in (Qt.Key.Key_Period, Qt.Key.Key_Comma, Qt.Key.Key_Greater, Qt.Key.Key_Less):
            turn = TURN_FAR_DEG if shift else TURN_DEG
            self.shape = s.rotated(turn if key in (Qt.Key.Key_Period, Qt.Key.Key_Greater) else -turn)
        else:
            return False
        return True

    # -- queueing ----------------------------------------------------------------------------------
    @Slot()
    def queue_samples(self) -> int | None:
        """Store the shape as this image's wanted mask and queue the synthesis job (its id); a
        refusal is said in the panel and the status bar (nothing stored, nothing queued)."""
        if self.image_id is None or self.queue is None:
            self._say("Choose an image first." if self.image_id is None else "No job queue in this window.")
            return None
        try:
            req = place_request(self.ws, self.image_id, self.shape, self.samples.value())
            job_id = self.queue.enqueue("synthesize", req.params.to_dict())
        except DiffGenError as e:
            self._say(f"Not queued: {e}")
            return None
        n = req.params.samples
        self._say(f"Queued job {job_id}: {n} sample{'s' if n != 1 else ''} with a polyp here (wanted mask {req.wanted.name}).")
        return job_id

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.hintChanged.emit(text)
