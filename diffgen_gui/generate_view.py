"""Generate view: the new-job form (``job_form``) and the queue: progress, cancel, details, live log."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from backend.diffusion.train_params import ModelNameTaken
from backend.errors import DiffGenError
from backend.jobs import joblog
from backend.jobs.queue import JobRecord
from diffgen_gui.job_form import JobForm, duration
from diffgen_gui.state import WorkspaceState
from diffgen_gui.theme import status_colour, text_on
from diffgen_gui.widgets.elided_label import ElidedLabel
from diffgen_gui.worker import JobQueue

LOG_POLL_MS = 500  # the log pane follows the selected job's log this often


class GenerateView(QWidget):
    def __init__(self, state: WorkspaceState, queue: JobQueue, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws, self.queue = state, state.workspace, queue
        self.form = JobForm(state)
        self.form.queue_btn.clicked.connect(self.queue_from_form)
        self._shown_log: tuple[int | None, int] = (None, 0)
        self._bar_job: int | None = -1  # the job the progress bar and its estimate are of (-1: not drawn yet)
        self._build()
        queue.changed.connect(self.refresh)
        queue.progress.connect(self._on_progress)
        queue.devicesFound.connect(self.form.on_devices)
        if queue.devices is not None:
            self.form.on_devices(*queue.devices)
        self.log_timer = QTimer(self)
        self.log_timer.setInterval(LOG_POLL_MS)
        self.log_timer.timeout.connect(self._update_log)
        self.log_timer.start()
        self.refresh()

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
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
        for key, text, tip in (
            ("cancel", "Cancel", "Cancel the running or a queued job"),
            ("up", "Move up", "Run earlier"),
            ("down", "Move down", "Run later"),
            ("remove", "Remove", "Delete a job that is not running"),
            ("requeue", "Re-queue", "Run a failed, cancelled or interrupted job again"),
        ):
            b = QPushButton(text, toolTip=tip)
            b.clicked.connect(lambda _c=False, k=key: self._act(k))
            buttons.addWidget(b)
            self.btn[key] = b
        buttons.addStretch(1)
        self.progress = QProgressBar()
        self.eta = ElidedLabel(objectName="hint")  # the whole progress message, elided: never cut mid-word
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 3)
        prog.addWidget(self.eta, 2)
        self.details = QPlainTextEdit(readOnly=True, placeholderText="Select a job to see its parameters and report.")
        self.log_view = QPlainTextEdit(readOnly=True, placeholderText="Select a job to follow its log.")
        self.log_view.setMaximumBlockCount(5000)
        self.panes = QTabWidget()
        self.panes.addTab(self.log_view, "Log")
        self.panes.addTab(self.details, "Details")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(
            QLabel(
                "<b>Queue</b> — jobs run one after another and survive restarting the app",
                wordWrap=True,
                toolTip="Imports, exports and survey work run beside the job that holds the GPU, so they start at once",
            )
        )
        rl.addWidget(self.table, 3)
        rl.addLayout(buttons)
        rl.addLayout(prog)
        rl.addWidget(self.panes, 2)
        split = QSplitter()
        form_host = QWidget()
        fh = QVBoxLayout(form_host)
        fh.setContentsMargins(0, 0, 0, 0)
        fh.addWidget(self.form)
        fh.addStretch(1)  # the form keeps its natural height
        form_host.setMinimumWidth(320)
        split.addWidget(form_host)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([360, 900])
        QVBoxLayout(self).addWidget(split)

    # -- queueing ------------------------------------------------------------------------
    def queue_from_form(self) -> int | None:
        try:
            kind, params = self.form.job_params()
            try:
                job_id = self.queue.enqueue(kind, params)
            except ModelNameTaken as e:  # asked now, not when the job fails minutes later
                answer = self.ask_name_taken(e.names)
                if answer is None:
                    self.form.form_error.setText("Not queued: " + str(e).split(":")[0])
                    return None
                job_id = self.queue.enqueue(kind, {**params, **answer})
        except DiffGenError as e:
            self.form.form_error.setText(str(e))
            return None
        self.form.form_error.setText("")
        self.form.remember()
        return job_id

    def ask_name_taken(self, names: list[str]) -> dict | None:
        """A training job's model name is taken: resume that model's training, train under a new
        name, or replace it (kept as a backup); the parameters that say so, None to not queue.
        (A method so that tests can answer it; the real-window walk clicks the real dialog.)"""
        box = QMessageBox(self)
        box.setWindowTitle("A model of that name exists")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(f"A model named {', '.join(names)} already exists in this workspace.")
        box.setInformativeText(
            "Resume its training (to the steps of this job), train a new model under another name, or "
            "replace it (the old model is kept as a backup folder)."
        )
        resume = box.addButton("Resume its training", QMessageBox.ButtonRole.AcceptRole)
        rename = box.addButton("New name…", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is resume:
            return {"resume": True}
        if clicked is replace:
            return {"overwrite": True}
        if clicked is rename:
            name, ok = QInputDialog.getText(self, "New model name", "Name of the new model:", text=f"{names[0]}-2")
            return {"name": name.strip()} if ok and name.strip() else None
        return None

    # -- queue display -------------------------------------------------------------------
    def refresh(self) -> None:
        keep = self.selected_job()
        jobs = self.queue.store.list()
        self.table.setRowCount(len(jobs))
        self._rows = {}
        for r, j in enumerate(jobs):
            done, total = self.queue.progress_of(j)
            prog = f"{done}/{total}" if total else ""
            values = [str(j.id), j.describe(), j.status, prog, j.message.splitlines()[0] if j.message else ""]
            for c, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, j.id)
                if c == 2:
                    bg = status_colour(j.status)
                    item.setBackground(bg)
                    item.setForeground(text_on(bg))
                if c == 4:
                    item.setToolTip(j.message)
                self.table.setItem(r, c, item)
            self._rows[j.id] = r
            if j.id == keep:
                self.table.selectRow(r)
        running = self.queue.running_job()
        if running != self._bar_job:  # a job ended (its estimate goes with it) or one started
            self._bar_job = running
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("")  # no count beside "idle"
            # started, no progress yet: never "idle" beside a running job
            self.eta.setText("idle" if running is None else f"job {running}: starting")
        self._show_details()

    def selected_job(self) -> int | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _act(self, action: str) -> None:
        job_id = self.selected_job()
        if job_id is None:
            return
        try:
            {
                "cancel": self.cancel_job,
                "up": lambda j: self.queue.move(j, -1),
                "down": lambda j: self.queue.move(j, +1),
                "remove": self.queue.remove,
                "requeue": self.queue.requeue,
            }[action](job_id)
        except DiffGenError as e:
            self.details.setPlainText(str(e))

    def cancel_job(self, job_id: int) -> bool:
        """Cancel a queued job, or a running one once the user confirms; False if not cancelled."""
        job = self.queue.store.get(job_id)
        if job.status == "running" and not self.ask_cancel(job):
            return False
        self.queue.cancel(job_id)
        return True

    def ask_cancel(self, job: JobRecord) -> bool:
        """Whether to stop a running job (a method so tests can answer it)."""
        done, total = self.queue.progress_of(job)
        done_text = f" ({done}/{total} done)" if total else ""
        return (
            QMessageBox.question(
                self,
                "Cancel the running job?",
                f"Job {job.id}: {job.describe()}{done_text} is running. Stop it? "
                "Work it has finished stays; the rest is not made.",
            )
            == QMessageBox.StandardButton.Yes
        )

    @Slot(int, int, int, str, float)
    def _on_progress(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        """The job's row counts; the bar and the estimate follow the job that matters most (the GPU
        lane's; an export beside it has its own dialog)."""
        if job_id not in self.queue.running_jobs():  # a late report of a job that has ended: no estimate for it
            return
        if job_id == self.queue.running_job():
            self._show_bar(job_id, done, total, message, eta)
        row = self._rows.get(job_id)
        if row is None:
            return
        counts, note = self.table.item(row, 3), self.table.item(row, 4)
        if counts is not None:
            counts.setText(f"{done}/{total}")
        if note is not None and message:
            note.setText(message)
            note.setToolTip(message)

    def _show_bar(self, job_id: int, done: int, total: int, message: str, eta: float) -> None:
        self._bar_job = job_id
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat("%v / %m")
        left = f" · about {duration(eta)} left" if eta >= 0 else ""
        self.eta.setText(f"job {job_id}: {message}{left}" if message else f"job {job_id}{left}")

    @Slot()
    def _show_details(self) -> None:
        job_id = self.selected_job()
        self._update_log()
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
        lines = [
            f"Job {j.id}: {j.describe()}  [{j.status}]",
            f"created {j.created_at}"
            + (f" · started {j.started_at}" if j.started_at else "")
            + (f" · finished {j.finished_at}" if j.finished_at else ""),
            f"parameters: {json.dumps(j.params)}",
            "",
            j.message,
        ]
        if report:
            lines += ["", "Report:", json.dumps(report, indent=2, default=str)]
        if trace:
            lines += ["", trace]
        self.details.setPlainText("\n".join(lines))

    @Slot()
    def _update_log(self) -> None:
        """The selected job's log, read from its file (``logs/job-N.log``, also after a restart):
        the whole log when another job is selected, then what was added since."""
        job_id = self.selected_job()
        shown_id, offset = self._shown_log
        if job_id is None:
            if shown_id is not None:
                self.log_view.clear()
            self._shown_log = (None, 0)
            return
        if job_id != shown_id:
            text, offset = joblog.read(self.ws, job_id)
            self.log_view.setPlainText(text.rstrip("\n") or "(this job has no log yet)")
            bar = self.log_view.verticalScrollBar()
            bar.setValue(bar.maximum())  # the latest lines, as appending shows them
        else:
            text, offset = joblog.read(self.ws, job_id, offset)
            if text:
                if offset == len(text.encode("utf-8")):  # the first lines: the placeholder goes
                    self.log_view.clear()
                self.log_view.appendPlainText(text.rstrip("\n"))
        self._shown_log = (job_id, offset)
