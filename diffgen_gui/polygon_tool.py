"""The polygon tool: corners clicked on the canvas, then a filled (or cut) polygon whose
corners can still be dragged while it is the last edit (each drag replaces that edit)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF

from backend.masks import ops as masks
from backend.masks.edit_session import Step
from diffgen_gui.edit_session import EditSession
from diffgen_gui.widgets.image_canvas import ImageCanvas

HANDLE_PX = 6  # how near (screen pixels) a click must be to grab a corner


@dataclass
class _Polygon:
    points: list[QPointF]
    paint: bool
    step: Step


class PolygonTool:
    def __init__(self, canvas: ImageCanvas):
        self.canvas = canvas
        self._poly: _Polygon | None = None
        self._dragged: int | None = None

    def press(self, session: EditSession, pt: QPointF) -> None:
        """Grab a corner of the last polygon, else add a corner to a new one."""
        poly = self._editable(session)
        self._dragged = self._corner_at(poly, pt) if poly else None
        if self._dragged is None:
            self.end_edit()
            self.canvas.polyline.append(pt)
            self.canvas.update()

    def drag(self, pt: QPointF) -> None:
        if self._dragged is not None and self._poly is not None:
            self._poly.points[self._dragged] = pt
            self.canvas.handles = self._poly.points
            self.canvas.update()

    def release(self, session: EditSession) -> None:
        """A corner was moved: the polygon edit is replaced by one with the new outline."""
        if self._dragged is None:
            return
        self._dragged = None
        poly = self._editable(session)
        if poly is None:
            return
        session.undo()
        if not self._fill(session, poly.points, poly.paint):
            self.end_edit()

    def close(self, session: EditSession | None, paint: bool = True) -> None:
        corners = list(self.canvas.polyline)
        self.canvas.polyline = []
        self.canvas.update()
        if session is not None and len(corners) >= 3:
            self._fill(session, corners, paint)

    def _fill(self, session: EditSession, corners: list[QPointF], paint: bool) -> bool:
        pts = [(p.x(), p.y()) for p in corners]
        if not session.apply(masks.fill_polygon(session.mask, pts, paint), "polygon" if paint else "polygon cut", counted=True):
            return False
        self._poly = _Polygon(corners, paint, session.last_step())
        self.canvas.handles = self._poly.points
        return True

    def _editable(self, session: EditSession | None) -> _Polygon | None:
        p = self._poly
        return p if p is not None and session is not None and session.last_step() is p.step else None

    def _corner_at(self, poly: _Polygon, pt: QPointF) -> int | None:
        reach2 = (HANDLE_PX / self.canvas.scale) ** 2
        dist = [(q.x() - pt.x()) ** 2 + (q.y() - pt.y()) ** 2 for q in poly.points]
        i = min(range(len(dist)), key=dist.__getitem__)
        return i if dist[i] <= reach2 else None

    def check(self, session: EditSession | None) -> None:
        """Drop the handles once the polygon is no longer the last edit (undone, or edited over)."""
        if self._poly is not None and self._editable(session) is None:
            self.end_edit()

    def cancel(self) -> None:
        self.canvas.polyline = []
        self.end_edit()

    def end_edit(self) -> None:
        self._poly = None
        self._dragged = None
        self.canvas.handles = []
        self.canvas.update()
