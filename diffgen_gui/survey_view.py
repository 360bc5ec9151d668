"""Survey tab: create a blinded survey, add raters, start rating, show the results.

The numbers come from ``backend.survey.report`` (the same Markdown and figures as the
``diffgen survey report`` command); this view only arranges them. Compute results is a
"survey-results" job, Write report a "survey-report" job (the command's) and Create survey a
"survey" job: each with a row and a log, off the GUI thread, its result back here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from backend.errors import DiffGenError
from backend.survey import RaterSession, SurveyConfig, add_rater, get_survey, parse_ids, raters, summary, surveys
from backend.survey.links import DEFAULT_BASE_URL, issue_link, link_url
from backend.survey.model import Survey, SurveyReportParams, SurveyResultsParams, template_of
from backend.survey.report import ALL_RATERS, Table7Row
from backend.survey.template import Template
from backend.workspace import Workspace, queries
from diffgen_gui.job_watch import Done, JobWatch, start_job
from diffgen_gui.survey_rater import RaterWindow
from diffgen_gui.widgets.table7 import Table7Widget
from diffgen_gui.worker import JobQueue

PROGRESS_POLL_MS = 2000  # how often the rater list re-reads progress (web raters answer meanwhile)
LINK_SHOWN_MS = 60_000  # a new web link stays on screen this long at most (issue 32 item 2)


def _spin(maximum: int, value: int = 0) -> QSpinBox:
    box = QSpinBox()
    box.setMaximum(maximum)
    box.setValue(value)
    return box


def _pixmap(png: bytes | None, max_width: int = 900) -> QPixmap:
    pix = QPixmap()
    if png:
        pix.loadFromData(png, "PNG")
    if pix.width() > max_width:
        pix = pix.scaledToWidth(max_width, Qt.TransformationMode.SmoothTransformation)
    return pix


@dataclass(frozen=True)
class ShownTables:
    """What the results pane holds of a finished survey-results job: Table 7 of each rater, and
    the survey's questions that head its columns."""

    tables: dict[str, list[Table7Row]]
    template: Template


def _figure(result: dict, name: str) -> bytes | None:
    """A figure of the results job (None when it drew none: no answers)."""
    return base64.b64decode(result["figures"][name]) if name in result["figures"] else None


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")


def rater_line(r: dict) -> str:
    """One rater in the list: progress, state, web link, time of the last answer."""
    state = "submitted" if r["submitted"] else "in progress"
    line = f"{r['rater']}: {r['complete']} / {r['items']}, {state}"
    if r["link"]:
        line += ", web link"
    if r["last_answer"] and not r["submitted"]:
        line += f", last answer {_clock(r['last_answer'])}"
    return line


class SurveyView(QWidget):
    def __init__(self, workspace: Workspace, queue: JobQueue):
        super().__init__()
        self.workspace = workspace
        self.queue = queue  # the app's job queue: drawing a survey and its report are jobs
        self.results: ShownTables | None = None
        self.rater_window: RaterWindow | None = None
        self._hidden: list[QWidget] = []  # windows hidden while a rater rates here
        self.job: JobWatch | None = None  # the survey or report job this view waits for, if any

        # -- left: surveys, creation, raters
        self.survey_combo = QComboBox()
        self.survey_combo.currentTextChanged.connect(self._survey_changed)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. radiologist-2024")
        self.real_spin = _spin(10000, 10)
        self.kind_spins: dict[str, QSpinBox] = {}
        self.kinds_form = QFormLayout()
        self.only_kept = QCheckBox("Only samples marked keep in review")
        self.only_passed = QCheckBox(
            "Only samples that passed the quality gates",
            toolTip="Leave out samples that failed a gate (no polyp, cut off, copy, seam); "
            "samples not scored yet stay in the draw",
        )
        self.real_ids_edit = QLineEdit()
        self.real_ids_edit.setPlaceholderText("any (or image ids, e.g. 3,7,12: images raters have not seen)")
        self.seed_spin = _spin(2**31 - 1)
        self.seed_spin.setMinimum(-1)
        self.seed_spin.setValue(-1)
        self.seed_spin.setSpecialValueText("random")  # -1: a random draw seed, recorded with the survey
        self.seed_spin.setToolTip("Seed of the draw (which images and samples); item codes and order are always random")
        self.create_button = create = QPushButton("Create survey")
        create.clicked.connect(self.create_survey)
        new_box = QGroupBox("New survey")
        form = QFormLayout(new_box)
        form.addRow("Name", self.name_edit)
        form.addRow("Real images", self.real_spin)
        form.addRow("Real images from", self.real_ids_edit)
        form.addRow(self.kinds_form)
        form.addRow(self.only_kept)
        form.addRow(self.only_passed)
        form.addRow("Seed", self.seed_spin)
        self.repeat_spin = _spin(50)
        self.repeat_spin.setSuffix(" %")
        self.repeat_spin.setToolTip("Share of the items each rater sees twice, far apart: their agreement with themselves")
        form.addRow("Shown twice", self.repeat_spin)
        self.questions_edit = QLineEdit(
            placeholderText="the paper's: image and segmentation quality, real or synthetic",
            toolTip="A questions template (TOML), e.g. docs/survey-questions.toml; empty: the paper's",
        )
        questions = QHBoxLayout()
        questions.addWidget(self.questions_edit, 1)
        questions.addWidget(QPushButton("Choose…", clicked=self._choose_questions))
        form.addRow("Questions", questions)
        form.addRow(create)

        self.rater_list = QListWidget()
        self.rater_list.currentRowChanged.connect(self._rater_selected)
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("rater name (Enter: start rating as this rater)")
        self.rater_edit.returnPressed.connect(self.rate_as_named)
        add = QPushButton("Add rater")
        add.clicked.connect(self.add_rater)
        self.rate_button = QPushButton("Start rating as selected rater…")
        self.rate_button.clicked.connect(self.start_rating)
        new_link = QPushButton("New web link")
        new_link.setToolTip("Issue a new personal link for the selected rater (the old one stops working)")
        new_link.clicked.connect(self.new_link)
        self.base_url_edit = QLineEdit(DEFAULT_BASE_URL)
        self.base_url_edit.setToolTip("Where raters reach 'diffgen survey serve' (host and port it prints)")
        self.link_edit = QLineEdit(readOnly=True)
        self.link_edit.setPlaceholderText("a rater's web link shows here once, when issued")
        self._link_owner: int | None = None  # the rater whose link the field shows
        self.link_timer = QTimer(self, singleShot=True, interval=LINK_SHOWN_MS)
        self.link_timer.timeout.connect(self.clear_link)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the link and take it off the screen")
        copy.clicked.connect(self.copy_link)
        rater_box = QGroupBox("Raters")
        rl = QVBoxLayout(rater_box)
        rl.addWidget(self.rater_list)
        row = QHBoxLayout()
        row.addWidget(self.rater_edit, 1)
        row.addWidget(add)
        rl.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.rate_button, 1)
        row.addWidget(new_link)
        rl.addLayout(row)
        web = QFormLayout()
        web.addRow("Web address", self.base_url_edit)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link_edit, 1)
        link_row.addWidget(copy)
        web.addRow("Web link", link_row)
        rl.addLayout(web)

        self.status = QLabel()
        self.status.setWordWrap(True)
        left = QWidget()
        ll = QVBoxLayout(left)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Survey"))
        pick.addWidget(self.survey_combo, 1)
        ll.addLayout(pick)
        ll.addWidget(rater_box, 1)
        ll.addWidget(new_box)
        ll.addWidget(self.status)

        # -- right: the buttons stay in view; below them one scroll area (no scroll box inside)
        self.table_rater = QComboBox()
        self.table_rater.currentTextChanged.connect(self._show_table)
        self.table7 = Table7Widget()
        self.confusion = QLabel()
        self.ratings = QLabel()
        self.details = QLabel()
        self.details.setTextFormat(Qt.TextFormat.MarkdownText)
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.compute_button = QPushButton("Compute results")
        self.compute_button.clicked.connect(self.show_results)
        self.report_button = QPushButton("Write report (Markdown + CSV + PNG)")
        self.report_button.clicked.connect(self.write_report)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Table 7 for"))
        bar.addWidget(self.table_rater, 1)
        bar.addWidget(self.compute_button)
        bar.addWidget(self.report_button)
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.addWidget(self.table7)
        bl.addWidget(self.confusion)
        bl.addWidget(self.ratings)
        bl.addWidget(self.details)
        bl.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(body)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(bar)
        rl.addWidget(self.scroll_area, 1)

        left_scroll = QScrollArea()  # the forms scroll on a low screen (1024x700) instead of heightening the window
        left_scroll.setWidgetResizable(True)
        left_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        left_scroll.setWidget(left)
        left_scroll.setMinimumWidth(left.minimumSizeHint().width() + left_scroll.verticalScrollBar().sizeHint().width())
        left_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        split = QSplitter()
        split.addWidget(left_scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        QVBoxLayout(self).addWidget(split)
        self.progress_timer = QTimer(self)
        self.progress_timer.setInterval(PROGRESS_POLL_MS)
        self.progress_timer.timeout.connect(self.refresh_progress)
        self.reload()

    # -- data ------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read surveys, sample kinds and raters from the workspace."""
        current = self.survey_combo.currentText()
        self.survey_combo.blockSignals(True)
        self.survey_combo.clear()
        self.survey_combo.addItems([s.name for s in surveys(self.workspace)])
        if current:
            self.survey_combo.setCurrentText(current)
        self.survey_combo.blockSignals(False)
        for kind in queries.sample_kinds(self.workspace):
            if kind not in self.kind_spins:
                self.kind_spins[kind] = _spin(10000, 10)
                self.kinds_form.addRow(f"{kind.capitalize()} samples", self.kind_spins[kind])
        self._survey_changed(self.survey_combo.currentText())

    def _survey_changed(self, name: str) -> None:
        self.clear_link()
        self.rater_list.clear()
        self.results = None
        if not name:
            self.status.setText("No survey yet: create one below.")
            return
        info = self.refresh_progress()
        self.status.setText(f"{name}: {info['items']} items." if info else f"{name}: not found.")

    @Slot()
    def refresh_progress(self) -> dict | None:
        """Bring the rater list up to date (answers given on the web or elsewhere meanwhile),
        keeping the selected rater selected. Called by the poll timer while the tab shows."""
        survey = self._selected()
        if survey is None:
            return None
        info = summary(self.workspace, survey)
        selected = self._selected_rater_id()
        ids = [r["id"] for r in info["raters"]]
        if ids != [self.rater_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.rater_list.count())]:
            self.rater_list.clear()
            for rid in ids:
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, rid)
                self.rater_list.addItem(item)
        for i, r in enumerate(info["raters"]):
            item = self.rater_list.item(i)
            if item.text() != (line := rater_line(r)):
                item.setText(line)
            if r["id"] == selected and self.rater_list.currentRow() != i:
                self.rater_list.setCurrentRow(i)
        return info

    def _selected(self):
        name = self.survey_combo.currentText()
        return get_survey(self.workspace, name) if name else None

    def _selected_rater_id(self) -> int | None:
        item = self.rater_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _selected_rater(self):
        survey, rid = self._selected(), self._selected_rater_id()
        if survey is None or rid is None:
            self.status.setText("Select a rater first.")
            return None, None
        return survey, next(r for r in raters(self.workspace, survey) if r.id == rid)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.progress_timer.start()
        self.refresh_progress()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.progress_timer.stop()
        self.clear_link()  # leaving the tab leaves no link behind
        super().hideEvent(event)

    # -- actions ---------------------------------------------------------------------
    def _run(self, action, done_message: str | None = None) -> bool:
        """Run a back-end action, turning its errors into a message (never a crash)."""
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            action()
        except DiffGenError as e:
            self._error(str(e))
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        if done_message:
            self.status.setText(done_message)
        return True

    def _error(self, message: str) -> None:
        self.status.setText(f"<span style='color:#c8423b'>{message}</span>")

    def create_survey(self) -> None:
        """Draw and write the blinded copies in the background (seconds for hundreds of items)."""
        counts = {"real": self.real_spin.value()} | {k: s.value() for k, s in self.kind_spins.items()}
        seed = self.seed_spin.value() if self.seed_spin.value() >= 0 else None
        ids = self.real_ids_edit.text().strip()
        try:
            cfg = SurveyConfig(
                self.name_edit.text(),
                counts,
                self.only_kept.isChecked(),
                seed,
                real_images=parse_ids(ids) if ids else None,
                only_passed=self.only_passed.isChecked(),
                repeat_share=self.repeat_spin.value() / 100,
                questions=self.questions_edit.text().strip() or None,
            )
        except DiffGenError as e:
            self._error(str(e))
            return
        self._queue_job("Creating survey", "survey", cfg, lambda result, _summary: self._survey_created(result["name"]))

    @Slot()
    def _choose_questions(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Questions template", "", "Questions template (*.toml)")
        if path:
            self.questions_edit.setText(path)

    def _survey_created(self, name: str) -> None:
        made = get_survey(self.workspace, name)
        self.reload()
        self.survey_combo.setCurrentText(made.name)
        gates = made.params.get("gates")
        self.status.setText(
            f"Created survey {made.name!r}" + (f" ({gates['note']})" if gates else "") + ". Add raters, then start rating."
        )

    def add_rater(self) -> None:
        survey = self._selected()
        if survey is None:
            self.status.setText("Create a survey first.")
            return
        name = self.rater_edit.text()
        made = []
        if self._run(lambda: made.append(add_rater(self.workspace, survey, name))):
            self.rater_edit.clear()
            self.refresh_progress()
            self._issue_link(made[0])

    @Slot()
    def rate_as_named(self) -> None:
        """Enter in the name field: rate as that rater, added first when new (issue 32 item 9)."""
        survey, name = self._selected(), self.rater_edit.text().strip()
        if survey is None or not name:
            return
        known = {r.name: r.id for r in raters(self.workspace, survey)}
        if name not in known:
            self.add_rater()
            known = {r.name: r.id for r in raters(self.workspace, survey)}
        if name in known:
            self.rater_edit.clear()
            row = [self.rater_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.rater_list.count())]
            self.rater_list.setCurrentRow(row.index(known[name]))
            self.start_rating()

    def new_link(self) -> None:
        survey, rater = self._selected_rater()
        if rater is not None:
            self._issue_link(rater)

    def _issue_link(self, rater) -> None:
        tokens = []
        if self._run(lambda: tokens.append(issue_link(self.workspace, rater))):
            self.link_edit.setText(link_url(tokens[0], self.base_url_edit.text().strip() or DEFAULT_BASE_URL))
            self._link_owner = rater.id
            self.link_timer.start()
            self.status.setText(
                f"Web link of {rater.name!r} below: copy it now (it is shown only once) and give "
                "it to this rater only. Serve the page with 'diffgen survey serve'."
            )
            self.refresh_progress()

    # -- a web link is shown once: copied, timed out, another rater or survey, rating here -----
    @Slot()
    def clear_link(self) -> None:
        """Take the link off the screen (its token is stored only as a hash: it is gone for good)."""
        self.link_timer.stop()
        self.link_edit.clear()
        self._link_owner = None

    @Slot()
    def copy_link(self) -> None:
        if not self.link_edit.text():
            self.status.setText("No link to copy: a link shows once, when issued (New web link issues another).")
            return
        QGuiApplication.clipboard().setText(self.link_edit.text())
        self.clear_link()
        self.status.setText("Link copied to the clipboard and taken off the screen. Give it to this rater only.")

    @Slot(int)
    def _rater_selected(self, _row: int) -> None:
        selected = self._selected_rater_id()
        if self._link_owner is not None and selected is not None and selected != self._link_owner:
            self.clear_link()

    def start_rating(self) -> None:
        survey, rater = self._selected_rater()
        if rater is None:
            return
        if rater.simulated:
            self.status.setText("Simulated raters cannot rate.")
            return

        self.clear_link()

        def open_window() -> None:
            """The rater window alone: every other window of the app hides until the session
            ends, so nothing of the workspace (samples, sources, review) is in reach."""
            window = RaterWindow(RaterSession.open(self.workspace, survey.name, rater.name))
            window.closed.connect(self._rater_window_closed)
            self.rater_window = window
            self._hidden = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window]
            window.show_full_screen(self.window().screen())
            for w in self._hidden:
                w.hide()

        self._run(open_window)

    @Slot()
    def _rater_window_closed(self) -> None:
        """The session ended: the app comes back as it was."""
        for w in self._hidden:
            w.show()
        self._hidden = []
        self.refresh_progress()

    # -- jobs: a survey drawn, its report written (in the job queue's CPU lane) ------------
    def _queue_job(self, title: str, kind: str, params, on_done: Done) -> None:
        """Queue a ``kind`` job behind a progress dialog, the buttons that start one off until it
        ends; ``on_done(result, summary)`` back here, a failure in the status line."""
        if self.job is not None:
            return
        self._enable_jobs(False)

        def done(result: dict, summary: str) -> None:
            self._job_ended()
            on_done(result, summary)

        def failed(_status: str, message: str) -> None:
            self._job_ended()
            self._error(message)

        self.job = start_job(self.queue, self, title, kind, params, done, failed)

    def _job_ended(self) -> None:
        self.job = None
        self._enable_jobs(True)

    def _enable_jobs(self, enabled: bool) -> None:
        for b in (self.compute_button, self.report_button, self.create_button):
            b.setEnabled(enabled)

    def show_results(self) -> None:
        survey = self._selected()
        if survey is not None:
            params = SurveyResultsParams(survey.name)
            self._queue_job("Computing survey results", "survey-results", params, lambda r, _s: self._show_results(survey, r))

    def _show_results(self, survey: Survey, result: dict) -> None:
        tables = {name: [Table7Row(**row) for row in rows] for name, rows in result["tables"].items()}
        self.results = ShownTables(tables, template_of(self.workspace, survey))
        self.table_rater.blockSignals(True)
        self.table_rater.clear()
        self.table_rater.addItems(list(tables))
        if ALL_RATERS in tables:
            self.table_rater.setCurrentText(ALL_RATERS)
        self.table_rater.blockSignals(False)
        self._show_table(self.table_rater.currentText())
        self.confusion.setPixmap(_pixmap(_figure(result, "confusion")))
        self.ratings.setPixmap(_pixmap(_figure(result, "ratings_by_kind")))
        self.details.setText(result["markdown"])
        self.status.setText("No answers yet." if not result["raters"] else f"Results of {survey.name!r} computed.")

    def _show_table(self, name: str) -> None:
        if self.results and name in self.results.tables:
            self.table7.show_rows(self.results.tables[name], self.results.template)

    def write_report(self) -> None:
        survey = self._selected()
        if survey is not None:
            self._queue_job("Writing the survey report", "survey-report", SurveyReportParams(survey.name), self._written)

    def _written(self, result: dict, _summary: str) -> None:
        self.status.setText(f"Report written: {len(result['files'])} files in {result['folder']}")
