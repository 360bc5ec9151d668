"""Figures of the reports, as PNG bytes: matplotlib's object API on its Agg canvas, never
pyplot, so that drawing a report keeps no global state and never switches the backend of a
process that shows a GUI (the survey view draws the same figures)."""

from __future__ import annotations

import io
from typing import Any


def new_figure(figsize: tuple[float, float], dpi: float | None = None) -> Any:
    """An empty matplotlib Figure on an Agg canvas (``dpi`` None: matplotlib's default)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Any, dpi: float | None = None, tight: bool = False) -> bytes:
    """``fig`` as PNG (``dpi`` None: the figure's own; ``tight``: cropped to what is drawn)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi if dpi is not None else "figure", bbox_inches="tight" if tight else None)
    return buf.getvalue()
