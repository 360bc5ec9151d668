"""The "New job" form of the Generate tab: the fields each job kind takes (``backend.jobs.queue.JOB_KINDS``),
the cost of an inpainting run before it is queued, and the values used last time.

A value changes only when the user changes it: a model that appears (a training finished) or is
chosen does not switch the preset, the samples or the dilation; a hint says when the preset is not
the model's. The hints sit below "Add to queue", so a hint that appears never moves the button
under the pointer."""

from __future__ import annotations

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

from backend.config.presets import apply_overrides, load_preset, preset_names
from backend.diffusion.samplers.schedule import RepaintSchedule
from backend.errors import DiffGenError
from backend.jobs.estimate import seconds_left
from backend.jobs.queue import FORM_FIELDS, JOB_KINDS
from backend.words import counted
from backend.workspace import queries
from diffgen_gui.prefs import load_prefs, save_pref
from diffgen_gui.state import WorkspaceState

MASK_OPS = ["dilate", "erode", "fill_holes", "remove_islands", "smooth"]
MASK_PARAM = {"dilate": "pixels", "erode": "pixels", "remove_islands": "min_size", "smooth": "radius"}
LABELS = {
    "images": "Images",
    "train_target": "Train",
    "model": "Model",
    "preset": "Preset",
    "overrides": "Overrides",
    "samples": "Samples / image",
    "dilate": "Dilation",
    "respacing": "Respacing",
    "jumps": "Jumps",
    "operation": "Operation",
    "device": "Device",
}
PREF = "generate"


def parse_overrides(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _spin(minimum: int, maximum: int, suffix: str = "") -> QSpinBox:
    return QSpinBox(minimum=minimum, maximum=maximum, suffix=suffix)


class JobForm(QGroupBox):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__("New job", parent)
        self.state, self.ws = state, state.workspace
        self.kind = QComboBox()
        for kind, spec in JOB_KINDS.items():
            if spec.in_form:
                self.kind.addItem(spec.label, kind)
        self.target = QComboBox()
        self.train_target = QComboBox()
        self.model = QComboBox(toolTip="Which trained model generates the samples")
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        self.overrides = QPlainTextEdit(placeholderText="one per line, e.g.\ntrain.steps=200")
        self.overrides.setFixedHeight(70)
        self.spins = {
            "samples": _spin(1, 100),
            "dilate": _spin(0, 200, " px"),
            "respacing": _spin(1, 4000),
            "jump_length": _spin(1, 500),
            "jump_n_sample": _spin(1, 50),
        }
        self.spins["jump_length"].setToolTip("RePaint jump length (steps gone back at each jump)")
        self.spins["jump_n_sample"].setToolTip("RePaint resampling count at each jump point")
        self.mask_op = QComboBox()
        self.mask_op.addItems(MASK_OPS)
        self.mask_value = QSpinBox(minimum=1, maximum=500, value=20, suffix=" px")
        self.device = QComboBox()
        self.auto_device = ""  # what "auto" runs on ("cpu", "cuda") once the worker has looked
        self.device.addItem("auto", "auto")
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
        self.mask_op.currentTextChanged.connect(self._mask_op_changed)
        self.target.currentIndexChanged.connect(self.update_estimate)
        self.device.currentIndexChanged.connect(self.update_estimate)
        for s in self.spins.values():
            s.valueChanged.connect(self.update_estimate)
        state.clustersChanged.connect(self.fill_targets)
        state.modelsChanged.connect(self.fill_models)
        state.samplesChanged.connect(self.update_estimate)  # a finished run times the next one
        state.selectionChanged.connect(self._selection_changed)
        self.fill_targets()
        self.fill_models()
        self.restore()

    def _layout(self) -> None:
        outer = QVBoxLayout(self)
        form = QFormLayout()
        outer.addLayout(form)
        jumps = QWidget()
        jl = QHBoxLayout(jumps)
        jl.setContentsMargins(0, 0, 0, 0)
        jl.addWidget(self.spins["jump_length"])
        jl.addWidget(QLabel("×"))
        jl.addWidget(self.spins["jump_n_sample"])
        op = QWidget()
        ol = QHBoxLayout(op)
        ol.setContentsMargins(0, 0, 0, 0)
        ol.addWidget(self.mask_op)
        ol.addWidget(self.mask_value)
        self.rows: dict[str, QWidget] = {
            "images": self.target,
            "train_target": self.train_target,
            "model": self.model,
            "preset": self.preset,
            "overrides": self.overrides,
            "samples": self.spins["samples"],
            "dilate": self.spins["dilate"],
            "respacing": self.spins["respacing"],
            "jumps": jumps,
            "operation": op,
            "device": self.device,
        }
        form.addRow("Job", self.kind)
        for name, widget in self.rows.items():
            widget.setToolTip(widget.toolTip() or FORM_FIELDS[name])
            form.addRow(LABELS[name], widget)
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
    def kind_spec(self):
        return JOB_KINDS[self.kind.currentData()]

    @Slot()
    def _kind_changed(self) -> None:
        fields = self.kind_spec().fields
        for name, widget in self.rows.items():
            self.form.setRowVisible(widget, name in fields)
        self.update_estimate()

    @Slot(str)
    def _preset_changed(self, preset: str) -> None:
        """The inpainting fields start from the preset's values."""
        try:
            section = load_preset(preset).get("inpaint", {})
        except DiffGenError as e:
            self.form_error.setText(str(e))
            return
        for name, spin in self.spins.items():
            if name in section:
                spin.blockSignals(True)
                spin.setValue(int(section[name]))
                spin.blockSignals(False)
        self.update_estimate()

    @Slot(str)
    def _mask_op_changed(self, op: str) -> None:
        self.mask_value.setEnabled(op in MASK_PARAM)

    def _image_count(self) -> int:
        what, value = self.target.currentData() or ("all", None)
        if what == "images":
            return len(value or ())
        if what == "cluster" and value is not None:
            return dict(queries.cluster_sizes(self.ws)).get(value, 0)
        return len(self.ws.image_ids())

    @Slot()
    def update_estimate(self) -> None:
        """Evaluations and time of an inpainting run, and a warning when the preset is not the model's."""
        inpaint = "model" in self.kind_spec().fields
        self.estimate.setVisible(inpaint)
        self.preset_warning.setVisible(False)
        if not inpaint:
            return
        v = {name: s.value() for name, s in self.spins.items()}
        per_sample = RepaintSchedule(v["respacing"], v["jump_length"], v["jump_n_sample"]).evaluations()
        n = self._image_count()
        total = n * v["samples"] * per_sample
        text = (
            f"{n} image{'s' * (n != 1)} × {v['samples']} sample{'s' * (v['samples'] != 1)} × {per_sample:,} "
            f"evaluations = {total:,} evaluations"
        )
        preset, device = self.preset.currentText(), self.device.currentData() or "auto"
        device = (self.auto_device if device == "auto" else device).split(":")[0]
        rate = queries.seconds_per_evaluation(self.ws, preset, device or None)
        on = f" on the {device.upper()}" if device else ""
        text += (
            f"; about {duration(seconds_left(total, rate))} at the last {preset} run's speed{on}"
            if rate
            else f"; no finished {preset} inpainting run{on} yet to time it by"
        )
        self.estimate.setText(text)
        trained = queries.model_preset(self.ws, self.model.currentData() or "cluster")
        if trained is None:
            self.preset_warning.setText("No trained model yet: queue “Train diffusion model” first.")
        elif trained != preset:
            self.preset_warning.setText(f"The model was trained with the {trained} preset; this run uses {preset}'s settings.")
        self.preset_warning.setVisible(trained != preset)

    # -- the job ----------------------------------------------------------------------------------
    def job_params(self) -> tuple[str, dict]:
        """The job the form describes, with only the fields its kind takes; raises DiffGenError
        on a bad override."""
        kind = self.kind.currentData()
        fields = self.kind_spec().fields
        params: dict = {}
        if "device" in fields:
            params["device"] = self.device.currentData()
        if "images" in fields:
            what, value = self.target.currentData()
            params.update({"images": value} if what == "images" else {"cluster": value} if what == "cluster" else {"all": True})
        if "train_target" in fields:
            params["target"] = self.train_target.currentData()
        if "model" in fields:
            params["model"] = self.model.currentData()
        if "preset" in fields:
            params["preset"] = self.preset.currentText()
        if "overrides" in fields:
            overrides = parse_overrides(self.overrides.toPlainText())
            apply_overrides(load_preset(params["preset"]), overrides)  # validates now, not at run time
            params["overrides"] = overrides
        for name in ("samples", "dilate", "respacing"):
            if name in fields:
                params[name] = self.spins[name].value()
        if "jumps" in fields:
            params.update(jump_length=self.spins["jump_length"].value(), jump_n_sample=self.spins["jump_n_sample"].value())
        if "operation" in fields:
            op = self.mask_op.currentText()
            params.update(operation=op, op_params={MASK_PARAM[op]: self.mask_value.value()} if op in MASK_PARAM else {})
        return kind, params

    def remember(self) -> None:
        save_pref(
            PREF,
            {
                "kind": self.kind.currentData(),
                "model": self.model.currentData(),
                "preset": self.preset.currentText(),
                "overrides": self.overrides.toPlainText(),
                "mask_op": self.mask_op.currentText(),
                "mask_value": self.mask_value.value(),
                "spins": {name: s.value() for name, s in self.spins.items()},
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
        self.mask_op.setCurrentText(last.get("mask_op", MASK_OPS[0]))
        self.mask_value.setValue(int(last.get("mask_value", 20)))
        self._preset_changed(self.preset.currentText())
        if last.get("preset") == self.preset.currentText():  # they were set on top of this preset's values
            for name, value in last.get("spins", {}).items():
                if name in self.spins:
                    self.spins[name].setValue(int(value))
