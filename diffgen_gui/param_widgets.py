"""A form widget for one declared job parameter (:func:`backend.config.fields.param`), the
magicgui way: the field's type and metadata pick it (a spin box with the range and unit for a
number, a combo box for choices, a check box for a flag, a line for text), its help is the
tooltip, and a field whose None means "the preset's value" offers that as a value of its own
("preset value"), so the form never has to invent one."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Union, get_args, get_origin

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from backend.config.fields import HELP, RANGE, UNIT, choices_of, range_words

PRESET_VALUE = "preset value"  # what None shows: the value comes from the preset
INT_LIMIT = 2**31 - 1  # a QSpinBox holds an int32


def optional(hint: Any) -> tuple[Any, bool]:
    """``(int, True)`` for ``int | None``; ``(hint, False)`` for a type without None."""
    if get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
        return next(a for a in get_args(hint) if a is not type(None)), True
    return hint, False


def tooltip(f: dataclasses.Field) -> str:
    where = range_words(f) if f.metadata.get(RANGE) or f.metadata.get(UNIT) else ""
    return str(f.metadata.get(HELP, "")) + (f" ({where})" if where else "")


def make_widget(f: dataclasses.Field, hint: Any) -> QWidget:
    """The widget of field ``f`` (type ``hint``) showing its default; TypeError for a type no
    widget edits (a tuple, a mapping: declare a named ``widget`` the form builds instead)."""
    base, nullable = optional(hint)
    choices = choices_of(f)
    w: QWidget
    if base is bool:
        w = QCheckBox()
        w.setTristate(nullable)  # partly checked: the preset's value
    elif choices is not None:
        w = QComboBox()
        if nullable:
            w.addItem(PRESET_VALUE, None)
        for c in choices:
            w.addItem(str(c), c)
    elif base in (int, float):
        lo, hi = f.metadata.get(RANGE, (None, None))
        w = QSpinBox() if base is int else QDoubleSpinBox(decimals=3)
        low = -INT_LIMIT if lo is None else lo
        w.setRange(low - 1 if nullable else low, INT_LIMIT if hi is None else hi)
        if nullable:  # the step below the range is "preset value"
            w.setSpecialValueText(PRESET_VALUE)
        if f.metadata.get(UNIT):
            w.setSuffix(f" {f.metadata[UNIT]}")
    elif base is str:
        w = QLineEdit(placeholderText=PRESET_VALUE if nullable else "")
    else:
        raise TypeError(f"no form widget edits {f.name}: {hint}; declare a widget= the form builds")
    w.setToolTip(tooltip(f))
    default = None if f.default is dataclasses.MISSING else f.default
    set_value(w, default)
    return w


def value(w: QWidget) -> Any:
    """The value ``w`` shows (None: the preset's)."""
    if isinstance(w, QCheckBox):
        state = w.checkState()
        return None if state == Qt.CheckState.PartiallyChecked else state == Qt.CheckState.Checked
    if isinstance(w, QComboBox):
        return w.currentData()
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return None if w.specialValueText() and w.value() == w.minimum() else w.value()
    assert isinstance(w, QLineEdit)
    return w.text() or None


def set_value(w: QWidget, v: Any) -> None:
    """Show ``v`` in ``w`` without announcing it (no estimate or hint reacts to the form itself);
    TypeError or ValueError for a value the widget cannot show (nothing changes then)."""
    was = w.blockSignals(True)
    try:
        if isinstance(w, QCheckBox):
            w.setCheckState(
                Qt.CheckState.PartiallyChecked if v is None else Qt.CheckState.Checked if v else Qt.CheckState.Unchecked
            )
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(max(w.findData(v), 0))
        elif isinstance(w, QSpinBox):
            w.setValue(w.minimum() if v is None else int(v))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(w.minimum() if v is None else float(v))
        elif isinstance(w, QLineEdit):
            w.setText("" if v is None else str(v))
    finally:
        w.blockSignals(was)


def changed(w: QWidget) -> SignalInstance:
    """The signal ``w`` sends when the user changes its value."""
    if isinstance(w, QCheckBox):
        return w.stateChanged
    if isinstance(w, QComboBox):
        return w.currentIndexChanged
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return w.valueChanged
    assert isinstance(w, QLineEdit)
    return w.textChanged
