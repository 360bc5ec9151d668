"""Generate view: queue jobs (inpaint, style, train, masks...) and follow the queue."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPlainTextEdit, QProgressBar, QPushButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget, QAbstractItemView)

from backend.errors import DiffGenError
from backend.presets import apply_overrides, load_preset, preset_names
from diffgen_gui.state import WorkspaceState
from diffgen_gui.worker import JobQueue

KINDS = [("Inpaint (RePaint)", "inpaint"), ("Style transfer", "style"), ("Train diffusion model", "train"),
         ("Mask operation", "masks"), ("Cluster images", "cluster"), ("Segmentation experiment", "segment")]
MASK_OPS = ["dilate", "erode", "fill_holes", "remove_islands", "smooth"]
MASK_PARAM = {"dilate": "pixels", "erode": "pixels", "remove_islands": "min_size", "smooth": "radius"}
STATUS_COLOURS = {"running": "#3b82c4", "done": "#2f8f5f", "failed": "#c0392b", "cancelled": "#8a8a8a",
                  "interrupted": "#d08a1e", "queued": "#bbbbbb"}


def parse_overrides(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


class GenerateView(QWidget):
    def __init__(self, state: WorkspaceState, queue: JobQueue, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws, self.queue = state, state.workspace, queue
        self._build()
        queue.changed.connect(self.refresh)
        queue.progress.connect(self._on_progress)
        queue.finished.connect(self._on_finished)
        queue.devicesFound.connect(self._on_devices)
        if queue.devices is not None:
            self._on_devices(*queue.devices)
        state.clustersChanged.connect(self._fill_targets)
        state.selectionChanged.connect(lambda _ids: self._fill_targets(prefer_selection=True))
        self.refresh()

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        form_box = QGroupBox("New job")
        form = QFormLayout(form_box)
        self.kind = QComboBox()
        for label, kind in KINDS:
            self.kind.addItem(label, kind)
        self.kind.currentIndexChanged.connect(lambda _i: self._kind_changed())
        self.target = QComboBox()
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        self.overrides = QPlainTextEdit(placeholderText="one per line, e.g.\ninpaint.samples=5\ntrain.steps=200")
        self.overrides.setFixedHeight(80)
        self.mask_op = QComboBox()
        self.mask_op.addItems(MASK_OPS)
        self.mask_value = QSpinBox(minimum=1, maximum=500, value=20, suffix=" px")
        self.mask_op.currentTextChanged.connect(lambda op: self.mask_value.setEnabled(op in MASK_PARAM))
        self.device = QComboBox()
        self.device.addItem("auto", "auto")
        self.device_warning = QLabel(objectName="warning", wordWrap=True)
        self.queue_btn = QPushButton("Add to queue")
        self.queue_btn.setObjectName("primary")
        self.queue_btn.clicked.connect(self.queue_from_form)
        self.form_error = QLabel(objectName="error", wordWrap=True)
        form.addRow("Job", self.kind)
        form.addRow("Images", self.target)
        form.addRow("Preset", self.preset)
        form.addRow("Overrides", self.overrides)
        self.mask_row = QWidget()
        ml = QHBoxLayout(self.mask_row)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.mask_op)
        ml.addWidget(self.mask_value)
        form.addRow("Operation", self.mask_row)
        form.addRow("Device", self.device)
        form.addRow(self.device_warning)
        form.addRow(self.queue_btn)
        form.addRow(self.form_error)

        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["#", "Job", "Status", "Progress", "Message"])
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._show_details)
        buttons = QHBoxLayout()
        self.btn = {}
        for key, text, tip in (("cancel", "Cancel", "Cancel the running or a queued job"),
                               ("up", "Move up", "Run earlier"), ("down", "Move down", "Run later"),
                               ("remove", "Remove", "Delete a job that is not running"),
                               ("requeue", "Re-queue", "Run a failed, cancelled or interrupted job again")):
            b = QPushButton(text, toolTip=tip)
            b.clicked.connect(lambda _c=False, k=key: self._act(k))
            buttons.addWidget(b)
            self.btn[key] = b
        buttons.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.eta = QLabel(objectName="hint")
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.eta)
        self.details = QPlainTextEdit(readOnly=True, placeholderText="Select a job to see its log and report.")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QLabel("<b>Queue</b> — jobs run one after another and survive restarting the app"))
        rl.addWidget(self.table, 3)
        rl.addLayout(buttons)
        rl.addLayout(prog)
        rl.addWidget(self.details, 2)
        split = QSplitter()
        form_host = QWidget()
        fh = QVBoxLayout(form_host)
        fh.setContentsMargins(0, 0, 0, 0)
        fh.addWidget(form_box)
        fh.addStretch(1)  # the form keeps its natural height
        form_host.setMinimumWidth(320)
        split.addWidget(form_host)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([340, 900])
        QVBoxLayout(self).addWidget(split)
        self._fill_targets()
        self._kind_changed()

    def _fill_targets(self, prefer_selection: bool = False) -> None:
        """Target choices; a new selection in the Dataset tab becomes the target."""
        current = self.target.currentData()
        self.target.clear()
        sel = self.state.selected_ids
        if sel:
            self.target.addItem(f"Selected images ({len(sel)})", ("images", list(sel)))
        cid = self.ws.current_clustering_id()
        if cid is not None:
            for c, n in self.ws.query("SELECT cluster, COUNT(*) FROM cluster_assignments WHERE clustering_id = ?"
                                      " GROUP BY cluster ORDER BY cluster", (cid,)):
                self.target.addItem(f"Cluster {c} ({n} images)", ("cluster", c))
        self.target.addItem(f"All images ({len(self.ws.image_ids())})", ("all", None))
        idx = self.target.findData(current) if current and current[0] != "images" else -1
        self.target.setCurrentIndex(0 if prefer_selection or (current and current[0] == "images") else max(idx, 0))

    def _kind_changed(self) -> None:
        masks = self.kind.currentData() == "masks"
        form = self.mask_row.parentWidget().layout()
        form.setRowVisible(self.mask_row, masks)
        self.preset.setEnabled(not masks)
        self.overrides.setEnabled(not masks)

    def _on_devices(self, names: list, warning: str) -> None:
        for n in names:
            if self.device.findData(n) < 0:
                self.device.addItem(n, n)
        self.device_warning.setText(warning)
        self.device_warning.setVisible(bool(warning))

    # -- queueing ------------------------------------------------------------------------
    def job_params(self) -> tuple[str, dict]:
        """The job described by the form; raises DiffGenError on a bad override."""
        kind = self.kind.currentData()
        what, value = self.target.currentData()
        params: dict = {"device": self.device.currentData()}
        if what == "images":
            params["images"] = value
        elif what == "cluster":
            params["cluster"] = value
        else:
            params["all"] = True
        if kind == "masks":
            op = self.mask_op.currentText()
            params.update(operation=op, op_params={MASK_PARAM[op]: self.mask_value.value()} if op in MASK_PARAM else {})
        else:
            overrides = parse_overrides(self.overrides.toPlainText())
            apply_overrides(load_preset(self.preset.currentText()), overrides)  # validates now, not at run time
            params.update(preset=self.preset.currentText(), overrides=overrides)
        return kind, params

    def queue_from_form(self) -> int | None:
        try:
            kind, params = self.job_params()
            job_id = self.queue.enqueue(kind, params)
        except DiffGenError as e:
            self.form_error.setText(str(e))
            return None
        self.form_error.setText("")
        return job_id

    # -- queue display -------------------------------------------------------------------
    def refresh(self) -> None:
        keep = self.selected_job()
        jobs = self.queue.store.list()
        self.table.setRowCount(len(jobs))
        self._rows = {}
        for r, j in enumerate(jobs):
            prog = f"{j.progress_done}/{j.progress_total}" if j.progress_total else ""
            values = [str(j.id), j.describe(), j.status, prog, j.message.splitlines()[0] if j.message else ""]
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, j.id)
                if c == 2:
                    item.setForeground(Qt.GlobalColor.white)
                    from PySide6.QtGui import QColor

                    item.setBackground(QColor(STATUS_COLOURS[j.status]))
                if c == 4:
                    item.setToolTip(j.message)
                self.table.setItem(r, c, item)
            self._rows[j.id] = r
            if j.id == keep:
                self.table.selectRow(r)
        if not self.queue.busy():
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.eta.setText("idle")
        self._show_details()

    def selected_job(self) -> int | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _act(self, action: str) -> None:
        job_id = self.selected_job()
        if job_id is None:
            return
        try:
            {"cancel": self.queue.cancel, "up": lambda j: self.queue.move(j, -1),
             "down": lambda j: self.queue.move(j, +1), "remove": self.queue.remove,
             "requeue": self.queue.requeue}[action](job_id)
        except DiffGenError as e:
            self.details.setPlainText(str(e))

    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.eta.setText(f"job {job_id}: {message[:30]} · ETA {eta:.0f} s" if eta >= 0 else f"job {job_id}")
        row = self._rows.get(job_id)
        if row is not None and self.table.item(row, 3) is not None:
            self.table.item(row, 3).setText(f"{done}/{total}")

    def _on_finished(self, _job_id: int, _status: str, _message: str) -> None:
        self.state.samplesChanged.emit()
        self.state.maskChanged.emit(-1)
        self.state.clustersChanged.emit()

    def _show_details(self) -> None:
        job_id = self.selected_job()
        if job_id is None:
            self.details.clear()
            return
        j = self.queue.store.get(job_id)
        s = j.status
        self.btn["cancel"].setEnabled(s in ("queued", "running"))
        self.btn["up"].setEnabled(s == "queued")
        self.btn["down"].setEnabled(s == "queued")
        self.btn["remove"].setEnabled(s != "running")
        self.btn["requeue"].setEnabled(s in ("failed", "cancelled", "interrupted", "done"))
        report = dict(j.result or {})
        trace = report.pop("traceback", None)
        lines = [f"Job {j.id}: {j.describe()}  [{j.status}]", f"created {j.created_at}"
                 + (f" · started {j.started_at}" if j.started_at else "")
                 + (f" · finished {j.finished_at}" if j.finished_at else ""),
                 f"parameters: {json.dumps(j.params)}", "", j.message]
        if report:
            lines += ["", "Report:", json.dumps(report, indent=2, default=str)]
        lines += ["", "Log:"] + self.queue.logs.get(job_id, ["(no log in this session)"])
        if trace:
            lines += ["", trace]
        self.details.setPlainText("\n".join(lines))
