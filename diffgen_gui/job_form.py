"""The "New job" form of the Generate tab, derived from the job kinds' declarations: each kind
of ``backend.jobs.kinds.REGISTRY`` offered in the form shows the fields its parameters class
declares with a form row (:func:`backend.config.fields.param`), each drawn by
:mod:`diffgen_gui.param_widgets` (or, for a value chosen from the workspace, by a named widget
built here: images, model, preset, ...), so that a new kind is its declaration. Also the cost of
an inpainting run before it is queued, and the values used last time.

A value changes only when the user changes it: a model that appears (a training finished) or is
chosen does not switch the preset, the samples or the dilation; a hint says when the preset is not
the model's. The hints sit below "Add to queue", so a hint that appears never moves the button
under the pointer."""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from backend.config.fields import FORM, WIDGET, label_of
from backend.config.presets import apply_overrides, load_preset, preset_names
from backend.errors import DiffGenError
from backend.inpaint.config import resolve_config
from backend.jobs.estimate import seconds_left
from backend.jobs.kinds import REGISTRY, JobSpec
from backend.jobs.mask_params import OPERATION_VALUE
from backend.jobs.queue import params_class
from backend.words import counted
from backend.workspace import queries
from diffgen_gui import param_widgets
from diffgen_gui.param_widgets import tooltip
from diffgen_gui.prefs import load_prefs, save_pref
from diffgen_gui.state import WorkspaceState

PREF = "generate"
SHARED_ROW_MIN_PX = 60  # the least width of a field sharing a row, so that the form fits its column


def parse_overrides(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def form_fields(cls: type) -> list[tuple[str, dataclasses.Field]]:
    """The (row, field) pairs of ``cls`` that the form shows, in field order."""
    return [
        (f.name if f.metadata[FORM] is True else f.metadata[FORM], f) for f in dataclasses.fields(cls) if f.metadata.get(FORM)
    ]


def row_order(kinds: list[list[str]]) -> list[str]:
    """One order of the rows of every kind in which each kind's rows keep their own order: a
    row new to a kind goes right after that kind's row before it (the form is one layout)."""
    order: list[str] = []
    for rows in kinds:
        before = -1
        for row in rows:
            if row not in order:
                order.insert(before + 1, row)
            before = order.index(row)
    return order


class JobForm(QGroupBox):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__("New job", parent)
        self.state, self.ws = state, state.workspace
        self.kind = QComboBox()
        self.kinds: dict[str, list[tuple[str, dataclasses.Field]]] = {}  # kind -> its (row, field) pairs
        self.classes: dict[str, type] = {}
        for kind, spec in REGISTRY.items():
            if spec.in_form:
                self.kind.addItem(spec.label, kind)
                self.classes[kind] = params_class(kind)
                self.kinds[kind] = form_fields(self.classes[kind])
        # the widgets the workspace fills (named by a declaration's widget=)
        self.target = QComboBox()
        self.train_target = QComboBox()
        self.model = QComboBox()
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        self.overrides = QPlainTextEdit(placeholderText="one per line, e.g.\ntrain.steps=200")
        self.overrides.setFixedHeight(70)
        self.mask_value = QSpinBox(minimum=1, maximum=500, value=20, suffix=" px")
        self.device = QComboBox()
        self.auto_device = ""  # what "auto" runs on ("cpu", "cuda") once the worker has looked
        self.device.addItem("auto", "auto")
        self.named: dict[str, QWidget] = {
            "images": self.target,
            "train_target": self.train_target,
            "model": self.model,
            "preset": self.preset,
            "overrides": self.overrides,
            "op_params": self.mask_value,
            "device": self.device,
        }
        # every other field: a widget from its type and declaration, one per field name
        self.widgets: dict[str, QWidget] = {}
        for kind, pairs in self.kinds.items():
            hints = get_type_hints(self.classes[kind])
            for _row, f in pairs:
                if f.name not in self.widgets:
                    self.widgets[f.name] = (
                        self.named[f.metadata[WIDGET]] if f.metadata.get(WIDGET) else param_widgets.make_widget(f, hints[f.name])
                    )
                    self.widgets[f.name].setToolTip(self.widgets[f.name].toolTip() or tooltip(f))
        self.spins = {name: w for name, w in self.widgets.items() if isinstance(w, QSpinBox) and w is not self.mask_value}
        mask_op = self.widgets["operation"]  # the masks kind's operation: declared with choices
        assert isinstance(mask_op, QComboBox)
        self.mask_op: QComboBox = mask_op
        self.device_warning = QLabel(objectName="warning", wordWrap=True)
        self.preset_warning = QLabel(objectName="warning", wordWrap=True)
        self.estimate = QLabel(objectName="hint", wordWrap=True)
        self.queue_btn = QPushButton("Add to queue")
        self.queue_btn.setObjectName("primary")
        self.form_error = QLabel(objectName="error", wordWrap=True)
        self._layout()
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.model.currentIndexChanged.connect(self.update_estimate)  # the hint only: never the preset
        self.preset.currentTextChanged.connect(self._preset_changed)
        self.mask_op.currentIndexChanged.connect(self._mask_op_changed)
        self.target.currentIndexChanged.connect(self.update_estimate)
        self.device.currentIndexChanged.connect(self.update_estimate)
        for w in self._plain_widgets().values():
            param_widgets.changed(w).connect(self.update_estimate)
        state.clustersChanged.connect(self.fill_targets)
        state.modelsChanged.connect(self.fill_models)
        state.samplesChanged.connect(self.update_estimate)  # a finished run times the next one
        state.selectionChanged.connect(self._selection_changed)
        self.fill_targets()
        self.fill_models()
        self.restore()

    def _layout(self) -> None:
        """One form row per declared row, in an order that keeps each kind's field order; the
        fields sharing a row sit side by side, each after its label ("×")."""
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
        fields: dict[str, list[dataclasses.Field]] = {}
        for pairs in self.kinds.values():
            for row, f in pairs:
                if f.name not in [g.name for g in fields.setdefault(row, [])]:
                    fields[row].append(f)
        self.rows: dict[str, QWidget] = {}
        for row in row_order([list(dict.fromkeys(r for r, _ in pairs)) for pairs in self.kinds.values()]):
            first, *rest = fields[row]
            if not rest:
                self.rows[row] = self.widgets[first.name]
            else:
                self.rows[row] = QWidget()
                line = QHBoxLayout(self.rows[row])
                line.setContentsMargins(0, 0, 0, 0)
                for i, f in enumerate(fields[row]):
                    if i:
                        line.addWidget(QLabel(label_of(f)))
                    self.widgets[f.name].setMinimumWidth(SHARED_ROW_MIN_PX)  # "preset value" may show cut: the row fits
                    line.addWidget(self.widgets[f.name])
        form.addRow("Job", self.kind)
        for row, widget in self.rows.items():
            form.addRow(label_of(fields[row][0]), widget)
        # the button first: hints that come and go below it never move it under the pointer
        for w in (self.queue_btn, self.form_error, self.estimate, self.preset_warning, self.device_warning):
            outer.addWidget(w)  # below the form: a form row does not give wrapped text its height
        self.form = form

    # -- choices ---------------------------------------------------------------------------
    @Slot()
    def fill_targets(self, prefer_selection: bool = False) -> None:
        """Image choices (a new selection in the Dataset tab becomes the target) and training targets."""
        current = self.target.currentData()
        self.target.blockSignals(True)
        self.target.clear()
        sel = self.state.selected_ids
        if sel:
            self.target.addItem(f"Selected images ({len(sel)})", ("images", list(sel)))
        sizes = queries.cluster_sizes(self.ws)
        for c, n in sizes:
            self.target.addItem(f"Cluster {c} ({counted(n, 'image')})", ("cluster", c))
        self.target.addItem(f"All images ({len(self.ws.image_ids())})", ("all", None))
        idx = self.target.findData(current) if current and current[0] != "images" else -1
        self.target.setCurrentIndex(0 if prefer_selection or (current and current[0] == "images") else max(idx, 0))
        self.target.blockSignals(False)
        self.train_target.clear()
        self.train_target.addItem("Full set (one model)", "full")
        if sizes:
            self.train_target.addItem(f"Every cluster ({len(sizes)} models)", "clusters")
        for c, n in sizes:
            self.train_target.addItem(f"Cluster {c} ({counted(n, 'image')})", f"cluster:{c}")
        self.update_estimate()

    @Slot(list)
    def _selection_changed(self, _ids: list) -> None:
        self.fill_targets(prefer_selection=True)

    @Slot()
    def fill_models(self) -> None:
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem("Cluster model of each image", "cluster")
        self.model.setItemData(
            0, "The model of the image's cluster (the full-set model where there is none)", Qt.ItemDataRole.ToolTipRole
        )
        self.model.addItem("Full-set model", "full")
        for m in queries.models(self.ws):
            self.model.addItem(f"{m.name} ({m.target}, {m.preset})", str(self.ws.path(m.path)))
        self.model.setCurrentIndex(max(self.model.findData(current), 0))
        self.model.blockSignals(False)
        self.update_estimate()

    def on_devices(self, names: list, warning: str) -> None:
        self.auto_device = "cuda" if any(n.startswith("cuda") for n in names) else "cpu"
        for n in names:
            if self.device.findData(n) < 0:
                self.device.addItem(n, n)
        self.device_warning.setText(warning)
        self.device_warning.setVisible(bool(warning))
        self.update_estimate()

    # -- reacting ----------------------------------------------------------------------------
    def kind_spec(self) -> JobSpec:
        return REGISTRY[self.kind.currentData()]

    def kind_rows(self) -> set[str]:
        return {row for row, _ in self.kinds[self.kind.currentData()]}

    @Slot()
    def _kind_changed(self) -> None:
        rows = self.kind_rows()
        for name, widget in self.rows.items():
            self.form.setRowVisible(widget, name in rows)
        self.update_estimate()

    @Slot(str)
    def _preset_changed(self, preset: str) -> None:
        """The fields whose None means the preset's value (of a kind's PRESET_SECTION) start from
        the preset's values; those the preset leaves out show "preset value"."""
        try:
            loaded = load_preset(preset)
        except DiffGenError as e:
            self.form_error.setText(str(e))
            return
        for kind, pairs in self.kinds.items():
            section = loaded.get(getattr(self.classes[kind], "PRESET_SECTION", ""))
            if section is None:
                continue
            for _row, f in pairs:
                if f.default is None and not f.metadata.get(WIDGET):  # None: "the preset's value"
                    param_widgets.set_value(self.widgets[f.name], section.get(f.name))
        self.update_estimate()

    @Slot()
    def _mask_op_changed(self) -> None:
        self.mask_value.setEnabled(self.mask_op.currentData() in OPERATION_VALUE)

    def _image_count(self) -> int:
        what, value = self.target.currentData() or ("all", None)
        if what == "images":
            return len(value or ())
        if what == "cluster" and value is not None:
            return dict(queries.cluster_sizes(self.ws)).get(value, 0)
        return len(self.ws.image_ids())

    @Slot()
    def update_estimate(self) -> None:
        """Evaluations and time of an inpainting run (the sampler's own count, with the preset's
        values for those the form leaves to it), and a warning when the preset is not the model's."""
        inpaint = "model" in self.kind_rows()
        self.estimate.setVisible(inpaint)
        self.preset_warning.setVisible(False)
        if not inpaint:
            return
        preset, device = self.preset.currentText(), self.device.currentData() or "auto"
        explicit = {
            name: param_widgets.value(w) for name, w in self.widgets.items() if w in self.spins.values() or name == "sampler"
        }
        try:
            cfg = resolve_config(explicit, preset)
        except DiffGenError as e:
            self.estimate.setText(str(e))
            return
        per_sample = cfg.schedule().evaluations()
        n = self._image_count()
        total = n * cfg.samples * per_sample
        text = (
            f"{n} image{'s' * (n != 1)} × {cfg.samples} sample{'s' * (cfg.samples != 1)} × {per_sample:,} "
            f"evaluations = {total:,} evaluations"
        )
        device = (self.auto_device if device == "auto" else device).split(":")[0]
        kind = self.kind.currentData()
        rate = queries.seconds_per_evaluation(self.ws, preset, device or None, kind)
        on = f" on the {device.upper()}" if device else ""
        text += (
            f"; about {duration(seconds_left(total, rate))} at the last {preset} {kind} run's speed{on}"
            if rate
            else f"; no finished {preset} {kind} run{on} yet to time it by"
        )
        self.estimate.setText(text)
        trained = queries.model_preset(self.ws, self.model.currentData() or "cluster")
        if trained is None:
            self.preset_warning.setText("No trained model yet: queue “Train diffusion model” first.")
        elif trained != preset:
            self.preset_warning.setText(f"The model was trained with the {trained} preset; this run uses {preset}'s settings.")
        self.preset_warning.setVisible(trained != preset)

    # -- the job ----------------------------------------------------------------------------------
    def _value(self, f: dataclasses.Field) -> dict[str, Any]:
        """The job parameters field ``f``'s widget gives: ``{name: value}``, flattened for the
        image selection, empty for "preset value"."""
        role, w = f.metadata.get(WIDGET), self.widgets[f.name]
        if role == "images":
            what, value = self.target.currentData()
            return {"images": value} if what == "images" else {"cluster": value} if what == "cluster" else {"all": True}
        if role == "overrides":
            overrides = parse_overrides(self.overrides.toPlainText())
            apply_overrides(load_preset(self.preset.currentText()), overrides)  # validates now, not at run time
            return {f.name: overrides}
        if role == "op_params":
            key = OPERATION_VALUE.get(str(self.mask_op.currentData()))
            return {f.name: {key: self.mask_value.value()} if key else {}}
        if role == "preset":
            return {f.name: self.preset.currentText()}
        value = w.currentData() if isinstance(w, QComboBox) and role else param_widgets.value(w)
        return {} if value is None else {f.name: value}

    def job_params(self) -> tuple[str, dict]:
        """The job the form describes, with only the fields its kind shows; raises DiffGenError
        on a bad override."""
        kind = self.kind.currentData()
        params: dict = {}
        for _row, f in self.kinds[kind]:
            params.update(self._value(f))
        return kind, params

    def _plain_widgets(self) -> dict[str, QWidget]:
        """The widgets made from a field's type (not filled from the workspace)."""
        named = list(self.named.values())
        return {name: w for name, w in self.widgets.items() if w not in named}

    def remember(self) -> None:
        save_pref(
            PREF,
            {
                "kind": self.kind.currentData(),
                "model": self.model.currentData(),
                "preset": self.preset.currentText(),
                "overrides": self.overrides.toPlainText(),
                "mask_value": self.mask_value.value(),
                "values": {name: param_widgets.value(w) for name, w in self._plain_widgets().items()},
            },
        )

    def restore(self) -> None:
        """The values queued last time (the newest model's preset the first time)."""
        last = load_prefs().get(PREF, {})
        self.kind.setCurrentIndex(max(self.kind.findData(last.get("kind")), 0))
        self.model.setCurrentIndex(max(self.model.findData(last.get("model")), 0))
        self.preset.setCurrentText(last.get("preset") or queries.default_preset(self.ws))
        self._kind_changed()
        self.overrides.setPlainText(last.get("overrides", ""))
        self.mask_value.setValue(int(last.get("mask_value", 20)))
        self._preset_changed(self.preset.currentText())
        values = last.get("values")
        plain = self._plain_widgets()
        from_preset = {f.name for pairs in self.kinds.values() for _row, f in pairs if f.default is None}
        for name, value in values.items() if isinstance(values, dict) else ():
            if name in plain and (name not in from_preset or last.get("preset") == self.preset.currentText()):
                try:  # a value set on top of this preset's values, or one of the field's own
                    param_widgets.set_value(plain[name], value)
                except (TypeError, ValueError):
                    continue  # a hand-edited settings file: the form's value stays
        self._mask_op_changed()
        self.update_estimate()
