"""Survey tab: create a blinded survey, add raters, start rating, show the results.

The numbers come from ``backend.survey_report`` (the same Markdown and figures as the
``diffgen survey report`` command); this view only arranges them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QMessageBox, QPushButton, QScrollArea, QSpinBox, QSplitter,
                               QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)

from backend.errors import DiffGenError
from backend.survey import (SurveyConfig, RaterSession, add_rater, create_survey, get_survey, parse_ids,
                            raters, summary, surveys)
from backend.survey_report import (ALL_RATERS, SurveyResults, compute_results, confusion_figure,
                                   ratings_figure, results_markdown, write_report)
from backend.workspace import Workspace
from diffgen_gui.survey_rater import RaterWindow


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


class Table7Widget(QTableWidget):
    """The paper's Table 7 layout: two header rows, one row per data type."""

    def __init__(self):
        super().__init__(0, 9)
        self.horizontalHeader().hide()
        self.verticalHeader().hide()
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def show_rows(self, rows) -> None:
        self.clearSpans()
        self.setRowCount(2 + len(rows))
        head = [("", 0, 1), ("Image Quality", 1, 3), ("Segmentation Quality", 4, 3), ("Real or Fake", 7, 2)]
        for text, col, span in head:
            self._cell(0, col, text, bold=True)
            if span > 1:
                self.setSpan(0, col, 1, span)
        for col, text in enumerate(["Data type", "Good", "Moderate", "Poor", "Good", "Moderate", "Poor",
                                    "Real", "Fake"]):
            self._cell(1, col, text, bold=True)
        for r, row in enumerate(rows, start=2):
            self._cell(r, 0, row.label, bold=True)
            for c, v in enumerate(row.cells(), start=1):
                self._cell(r, c, str(v))
        self.resizeColumnsToContents()
        for c in range(1, 9):  # equal number columns, wide enough for the spanning headers
            self.setColumnWidth(c, 84)
        self.setFixedWidth(self.columnWidth(0) + 8 * 84 + 4)
        self.setFixedHeight(self.verticalHeader().length() + 4)

    def _cell(self, r: int, c: int, text: str, bold: bool = False) -> None:
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        if bold:
            f = item.font()
            f.setBold(True)
            item.setFont(f)
        self.setItem(r, c, item)


class SurveyView(QWidget):
    def __init__(self, workspace: Workspace):
        super().__init__()
        self.workspace = workspace
        self.results: SurveyResults | None = None
        self.rater_window: RaterWindow | None = None

        # -- left: surveys, creation, raters
        self.survey_combo = QComboBox()
        self.survey_combo.currentTextChanged.connect(self._survey_changed)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. radiologist-2024")
        self.real_spin = _spin(10000, 10)
        self.kind_spins: dict[str, QSpinBox] = {}
        self.kinds_form = QFormLayout()
        self.only_kept = QCheckBox("Only samples marked keep in review")
        self.real_ids_edit = QLineEdit()
        self.real_ids_edit.setPlaceholderText("any (or image ids, e.g. 3,7,12: images raters have not seen)")
        self.seed_spin = _spin(2**31 - 1)
        self.seed_spin.setMinimum(-1)
        self.seed_spin.setValue(-1)
        self.seed_spin.setSpecialValueText("random")  # -1: a random draw seed, recorded with the survey
        self.seed_spin.setToolTip("Seed of the draw (which images and samples); item codes and order "
                                  "are always random")
        create = QPushButton("Create survey")
        create.clicked.connect(self.create_survey)
        new_box = QGroupBox("New survey")
        form = QFormLayout(new_box)
        form.addRow("Name", self.name_edit)
        form.addRow("Real images", self.real_spin)
        form.addRow("Real images from", self.real_ids_edit)
        form.addRow(self.kinds_form)
        form.addRow(self.only_kept)
        form.addRow("Seed", self.seed_spin)
        form.addRow(create)

        self.rater_list = QListWidget()
        self.rater_edit = QLineEdit()
        self.rater_edit.setPlaceholderText("rater name")
        add = QPushButton("Add rater")
        add.clicked.connect(self.add_rater)
        self.rate_button = QPushButton("Start rating as selected rater…")
        self.rate_button.clicked.connect(self.start_rating)
        rater_box = QGroupBox("Raters")
        rl = QVBoxLayout(rater_box)
        rl.addWidget(self.rater_list)
        row = QHBoxLayout()
        row.addWidget(self.rater_edit, 1)
        row.addWidget(add)
        rl.addLayout(row)
        rl.addWidget(self.rate_button)

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

        # -- right: results
        self.table_rater = QComboBox()
        self.table_rater.currentTextChanged.connect(self._show_table)
        self.table7 = Table7Widget()
        self.confusion = QLabel()
        self.ratings = QLabel()
        self.details = QTextBrowser()
        self.details.setMinimumHeight(400)
        refresh = QPushButton("Compute results")
        refresh.clicked.connect(self.show_results)
        report = QPushButton("Write report (Markdown + CSV + PNG)")
        report.clicked.connect(self.write_report)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Table 7 for"))
        bar.addWidget(self.table_rater, 1)
        bar.addWidget(refresh)
        bar.addWidget(report)
        body = QWidget()
        bl = QVBoxLayout(body)
        bl.addLayout(bar)
        bl.addWidget(self.table7)
        bl.addWidget(self.confusion)
        bl.addWidget(self.ratings)
        bl.addWidget(self.details, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(scroll)
        split.setStretchFactor(1, 3)
        QVBoxLayout(self).addWidget(split)
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
        kinds = [r[0] for r in self.workspace.query("SELECT DISTINCT kind FROM samples ORDER BY kind")]
        for kind in kinds:
            if kind not in self.kind_spins:
                self.kind_spins[kind] = _spin(10000, 10)
                self.kinds_form.addRow(f"{kind.capitalize()} samples", self.kind_spins[kind])
        self._survey_changed(self.survey_combo.currentText())

    def _survey_changed(self, name: str) -> None:
        self.rater_list.clear()
        self.results = None
        if not name:
            self.status.setText("No survey yet: create one below.")
            return
        info = summary(self.workspace, get_survey(self.workspace, name))
        for r in info["raters"]:
            state = "submitted" if r["submitted"] else "in progress"
            self.rater_list.addItem(f"{r['rater']}: {r['complete']} / {r['items']}, {state}")
        self.status.setText(f"{name}: {info['items']} items.")

    def _selected(self):
        name = self.survey_combo.currentText()
        return get_survey(self.workspace, name) if name else None

    # -- actions ---------------------------------------------------------------------
    def _run(self, action, done_message: str | None = None) -> bool:
        """Run a back-end action, turning its errors into a message (never a crash)."""
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            action()
        except DiffGenError as e:
            self.status.setText(f"<span style='color:#c8423b'>{e}</span>")
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        if done_message:
            self.status.setText(done_message)
        return True

    def create_survey(self) -> None:
        counts = {"real": self.real_spin.value()} | {k: s.value() for k, s in self.kind_spins.items()}
        seed = self.seed_spin.value() if self.seed_spin.value() >= 0 else None
        ids = self.real_ids_edit.text().strip()
        made = []

        def create() -> None:
            cfg = SurveyConfig(self.name_edit.text(), counts, self.only_kept.isChecked(), seed,
                               real_images=parse_ids(ids) if ids else None)
            made.append(create_survey(self.workspace, cfg))

        if self._run(create):
            self.reload()
            self.survey_combo.setCurrentText(made[0].name)
            self.status.setText(f"Created survey {made[0].name!r}. Add raters, then start rating.")

    def add_rater(self) -> None:
        survey = self._selected()
        if survey is None:
            self.status.setText("Create a survey first.")
            return
        name = self.rater_edit.text()
        if self._run(lambda: add_rater(self.workspace, survey, name)):
            self.rater_edit.clear()
            self._survey_changed(survey.name)

    def start_rating(self) -> None:
        survey = self._selected()
        row = self.rater_list.currentRow()
        if survey is None or row < 0:
            self.status.setText("Select a rater first.")
            return
        rater = raters(self.workspace, survey)[row]
        if rater.simulated:
            self.status.setText("Simulated raters cannot rate.")
            return

        def open_window() -> None:
            self.rater_window = RaterWindow(RaterSession.open(self.workspace, survey.name, rater.name), self)
            self.rater_window.closed.connect(lambda: self._survey_changed(survey.name))
            self.rater_window.showFullScreen()

        self._run(open_window)

    def show_results(self) -> None:
        survey = self._selected()
        if survey is None:
            return

        def compute() -> None:
            self.results = compute_results(self.workspace, survey)

        if not self._run(compute):
            return
        res = self.results
        self.table_rater.blockSignals(True)
        self.table_rater.clear()
        names = list(res.tables)
        self.table_rater.addItems(names)
        if ALL_RATERS in names:
            self.table_rater.setCurrentText(ALL_RATERS)
        self.table_rater.blockSignals(False)
        self._show_table(self.table_rater.currentText())
        self.confusion.setPixmap(_pixmap(confusion_figure(res)))
        self.ratings.setPixmap(_pixmap(ratings_figure(res)))
        self.details.setMarkdown(results_markdown(res, tables=False))
        if not res.raters:
            self.status.setText("No answers yet.")

    def _show_table(self, name: str) -> None:
        if self.results and name in self.results.tables:
            self.table7.show_rows(self.results.tables[name])

    def write_report(self) -> None:
        survey = self._selected()
        if survey is None:
            return
        out = {}
        if self._run(lambda: out.update(write_report(self.workspace, survey))):
            folder = next(iter(out.values())).parent
            QMessageBox.information(self, "Report written", f"{len(out)} files written to\n{folder}")
