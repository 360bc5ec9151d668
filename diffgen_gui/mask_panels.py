"""Two passive pieces of the mask editor: the view adjustments (never the data) and the status
bar (tool, zoom, the pixel under the cursor, the current hint). They emit or show; the
editor decides."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSlider, QStatusBar, QToolButton

from diffgen_gui.widgets.elided_label import ElidedLabel

BRIGHTNESS_SCALE = 1.28  # slider -100..100 -> -128..128 grey levels


class ViewAdjustBox(QGroupBox):
    """Opacity of the mask, brightness and contrast of the image: the view only, never the data."""

    opacityChanged = Signal(float)  # 0..1
    adjusted = Signal(float, float)  # brightness offset (grey levels), contrast factor

    def __init__(self) -> None:
        super().__init__("View")
        form = QFormLayout(self)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=40, toolTip="Mask fill opacity")
        self.opacity.valueChanged.connect(self._opacity)
        self.brightness = QSlider(
            Qt.Orientation.Horizontal,
            minimum=-100,
            maximum=100,
            value=0,
            toolTip="Brightness of the view (the image itself is not changed)",
        )
        self.contrast = QSlider(
            Qt.Orientation.Horizontal,
            minimum=25,
            maximum=300,
            value=100,
            toolTip="Contrast of the view, 25-300 % (the image itself is not changed)",
        )
        for s in (self.brightness, self.contrast):
            s.valueChanged.connect(self._adjust)
        reset = QToolButton(text="Reset", toolTip="Brightness and contrast back to normal")
        reset.clicked.connect(self.reset)
        form.addRow("Opacity", self.opacity)
        form.addRow("Brightness", self.brightness)
        row = QHBoxLayout()
        row.addWidget(self.contrast, 1)
        row.addWidget(reset)
        form.addRow("Contrast", row)

    @Slot(int)
    def _opacity(self, value: int) -> None:
        self.opacityChanged.emit(value / 100)

    @Slot()
    def _adjust(self) -> None:
        self.adjusted.emit(self.brightness.value() * BRIGHTNESS_SCALE, self.contrast.value() / 100)

    @Slot()
    def reset(self) -> None:
        self.brightness.setValue(0)
        self.contrast.setValue(100)


class EditorStatusBar(QStatusBar):
    """The hint (elided, never cut off under the labels beside it as a status bar message is),
    then the pixel under the cursor, the zoom and the tool."""

    def __init__(self) -> None:
        super().__init__()
        self.setSizeGripEnabled(False)
        self.hint = ElidedLabel(objectName="hint")
        self.addWidget(self.hint, 1)
        self.tool_label, self.zoom_label, self.pixel_label = QLabel(), QLabel(), QLabel()
        for w in (self.pixel_label, self.zoom_label, self.tool_label):
            self.addPermanentWidget(w)

    def show_tool(self, label: str, size: int | None) -> None:
        self.tool_label.setText(f"Tool: {label}" + (f", radius {size} px" if size is not None else ""))

    @Slot(float, QPointF)
    def show_zoom(self, scale: float, _offset: QPointF) -> None:
        self.zoom_label.setText(f"{scale * 100:.0f} %")

    def show_pixel(self, x: int, y: int, rgb: str, mask: int) -> None:
        self.pixel_label.setText(f"x {x}, y {y} · RGB {rgb} · mask {mask}")
