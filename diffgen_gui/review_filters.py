"""The Review tab's filters: decision, quality gate, set, model and cluster, combined.

Each is a combo box that never takes the keyboard focus (``NoFocus``): a K, R or U meant as a
decision can never pick "Kept" or "Rejected" in a focused combo. The choices of set, model
and cluster come from the samples there are; a choice that is gone falls back to "all".
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QGridLayout, QWidget

from backend.gates import GATES, LABELS
from backend.workspace.review_queue import ReviewFilter, ReviewItem

DECISION_CHOICES = (("All samples", None), ("Undecided", "undecided"), ("Kept", "keep"), ("Rejected", "reject"))
GATE_CHOICES = (
    ("Any gates", None),
    ("Passed all gates", "passed"),
    ("Failed a gate", "failed"),
    *((f"Failed: {LABELS[g]}", g) for g in GATES),
)


def _combo(tooltip: str, choices: Sequence[tuple[str, object]] = ()) -> QComboBox:
    box = QComboBox(toolTip=tooltip)
    box.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a decision key never changes a filter
    for label, value in choices:
        box.addItem(label, value)
    return box


class ReviewFilters(QWidget):
    """Five combo boxes; ``changed`` when the combined filter changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.decision = _combo("Which decisions to show", DECISION_CHOICES)
        self.gates = _combo(
            "“Passed all gates”: scored samples that passed every quality gate; samples not scored yet show under “Any gates”",
            GATE_CHOICES,
        )
        self.set_name = _combo("Which sample set to show")
        self.model = _combo("Samples of which model")
        self.cluster = _combo("Samples of source images in which cluster (current clustering)")
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for n, box in enumerate((self.decision, self.gates, self.set_name, self.model, self.cluster)):
            lay.addWidget(box, n // 2, n % 2)
            box.currentIndexChanged.connect(self._changed)

    @Slot()
    def _changed(self) -> None:
        self.changed.emit()

    def current(self) -> ReviewFilter:
        return ReviewFilter(
            self.decision.currentData(),
            self.gates.currentData(),
            self.set_name.currentData(),
            self.model.currentData(),
            self.cluster.currentData(),
        )

    def set_options(self, items: Sequence[ReviewItem]) -> None:
        """The sets, models and clusters the samples have (the current choice kept if still there)."""
        self.blockSignals(True)  # one ``changed`` at most, from the caller's own refresh
        _fill(self.set_name, "All sets", [(s, s) for s in sorted({i.set_name for i in items})])
        _fill(self.model, "All models", [(m or "(no model)", m) for m in sorted({i.model for i in items})])
        clusters = sorted({i.cluster for i in items if i.cluster is not None})
        _fill(self.cluster, "All clusters", [(f"Cluster {c}", c) for c in clusters])
        self.cluster.setEnabled(bool(clusters))
        self.blockSignals(False)


def _fill(box: QComboBox, everything: str, choices: list[tuple[str, object]]) -> None:
    keep = box.currentData()
    box.blockSignals(True)
    box.clear()
    box.addItem(everything, None)
    for label, value in choices:
        box.addItem(label, value)
    box.setCurrentIndex(max(box.findData(keep), 0) if keep is not None else 0)
    box.blockSignals(False)
