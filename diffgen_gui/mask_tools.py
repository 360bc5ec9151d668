"""What the mask editor offers: its tools and commands with their keys, the operations,
the display modes, the tool cursors and how a mask version is named."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QCursor, QFont, QPainter, QPixmap

from backend.workspace import MaskVersion
from diffgen_gui.place_tool import KEYS as PLACE_KEYS

TOOLS = [
    ("pan", "Pan", "H"),
    ("brush", "Brush", "B"),
    ("eraser", "Eraser", "E"),
    ("polygon", "Polygon", "P"),
    ("fill", "Fill", "F"),
    ("place", "Place polyp", "G"),
]
# the tool bar's shorter word where the whole name would widen the window past a 1024 px
# screen; the Edit menu and the tooltip keep the whole name
BUTTON_TEXT = {"place": "Place"}
COMMANDS = [
    ("undo", "&Undo", ("Ctrl+Z",)),
    ("redo", "&Redo", ("Ctrl+Shift+Z", "Ctrl+Y")),
    ("save", "&Save Mask Version", ("Ctrl+S",)),
]
KEYS = [
    ("[  ]", "Brush smaller / larger"),
    ("0", "Fit to window"),
    ("1", "Actual pixels"),  # tools: Edit menu
    ("Enter / Shift+Enter", "Close the polygon: fill / cut out"),
    ("Esc", "Cancel the polygon or preview"),
    ("Shift+click", "Fill tool: clear a region"),
    ("Right-drag / wheel", "Pan / zoom"),
    *PLACE_KEYS,
]
OPERATIONS = {  # label -> (backend operation, parameter name, default (None: the preset's), minimum, label format)
    "Dilate": ("dilate", "pixels", None, 1, "by {} px"),
    "Erode": ("erode", "pixels", 3, 1, "by {} px"),
    "Fill holes": ("fill_holes", None, 0, 0, ""),
    "Remove small islands": ("remove_islands", "min_size", 50, 1, "below {} px"),
    "Smooth": ("smooth", "radius", 2, 1, "radius {} px"),
}
DISPLAY = [("Fill", "fill"), ("Contour only", "contour"), ("Mask only", "mask"), ("Side by side", "side")]
HINTS = {
    "pan": "Drag to pan, wheel to zoom.",
    "brush": "Paint the polyp. Right-drag pans.",
    "eraser": "Erase. Right-drag pans.",
    "polygon": "Click the corners; double-click or Enter fills, Shift+Enter cuts out; drag a corner to move it.",
    "fill": "Click a region to fill it (Shift+click clears it).",
}


def tool_cursor(letter: str) -> QCursor:
    """A crosshair with the tool's key letter beside it."""
    pm = QPixmap(32, 32)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    for colour, width in ((QColor(0, 0, 0), 3), (QColor(255, 255, 255), 1)):  # readable on any image
        p.setPen(colour)
        pen = p.pen()
        pen.setWidth(width)
        p.setPen(pen)
        p.drawLine(8, 1, 8, 15)
        p.drawLine(1, 8, 15, 8)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(12)
    p.setFont(font)
    p.setPen(QColor(0, 0, 0))
    p.drawText(17, 28, letter)
    p.setPen(QColor(255, 255, 255))
    p.drawText(16, 27, letter)
    p.end()
    return QCursor(pm, 8, 8)


def version_label(mv: MaskVersion) -> str:
    """What made a version: its stored label, else the operation and its parameters."""
    if mv.params.get("label"):
        return f"{mv.operation}: {mv.params['label']}" if mv.operation != "edit" else mv.params["label"]
    params = {k: v for k, v in mv.params.items() if k not in ("source", "notes", "edits", "job_id")}
    return mv.operation + (" " + ", ".join(f"{k} {v}" for k, v in params.items()) if params else "")
