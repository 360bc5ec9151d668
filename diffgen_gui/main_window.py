"""The main window: menus, tabs, drag-and-drop import, close guard. Holds no logic of its own."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QInputDialog, QMainWindow, QMessageBox,
                               QPlainTextEdit, QTabWidget, QVBoxLayout)

from backend.data.importer import ImportReport, import_dataset
from backend.errors import DiffGenError
from backend.export import export_kept
from backend.exporters import FORMATS
from backend.paths import user_config_dir
from backend.workspace import Workspace
from backend.workspace.files import atomic_write_text
from diffgen_gui.clusters_view import ClustersView
from diffgen_gui.dataset_view import DatasetView
from diffgen_gui.edit_session import images_with_recovery
from diffgen_gui.generate_view import GenerateView
from diffgen_gui.reports_view import ReportsView
from diffgen_gui.review_view import ReviewView
from diffgen_gui.state import WorkspaceState
from diffgen_gui.survey_view import SurveyView
from diffgen_gui.tasks import run_with_progress
from diffgen_gui.worker import JobQueue

MAX_RECENT = 10


def recent_file() -> Path:
    return user_config_dir() / "recent-workspaces.json"


def recent_workspaces() -> list[str]:
    try:
        return [p for p in json.loads(recent_file().read_text()) if (Path(p) / "workspace.sqlite").exists()]
    except (OSError, ValueError):
        return []


def remember_workspace(path: Path) -> None:
    items = [str(path)] + [p for p in recent_workspaces() if p != str(path)]
    atomic_write_text(recent_file(), json.dumps(items[:MAX_RECENT], indent=1))


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace):
        super().__init__()
        self.resize(1400, 880)
        self.setAcceptDrops(True)
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.queue: JobQueue | None = None
        self.task = None
        self.last_import: ImportReport | None = None
        self.last_export = None
        self._build_menus()
        self.set_workspace(workspace)

    # -- workspace -----------------------------------------------------------------------
    def set_workspace(self, workspace: Workspace) -> None:
        if self.queue is not None:
            self.queue.shutdown()
        self.workspace = workspace
        self.state = WorkspaceState(workspace, self)
        self.queue = JobQueue(workspace, self)
        old = [self.tabs.widget(i) for i in range(self.tabs.count())]
        self.tabs.clear()
        for w in old:  # their timers and models go with them
            w.deleteLater()
        self.dataset_view = DatasetView(self.state)
        self.clusters_view = ClustersView(self.state)
        self.generate_view = GenerateView(self.state, self.queue)
        self.review_view = ReviewView(self.state)
        self.survey_view = SurveyView(workspace)
        self.reports_view = ReportsView(self.state)
        for view, name in ((self.dataset_view, "Dataset"), (self.clusters_view, "Clusters"),
                           (self.generate_view, "Generate"), (self.review_view, "Review"),
                           (self.survey_view, "Survey"), (self.reports_view, "Reports")):
            self.tabs.addTab(view, name)
        self.clusters_view.state.currentImageChanged.connect(self._show_in_dataset)
        self.state.samplesChanged.connect(self.survey_view.reload)  # new sample kinds for the survey form
        self.queue.progress.connect(self._show_job_progress)
        self.state.imagesChanged.connect(self._update_status)
        self.setWindowTitle(f"DiffGen Studio — {workspace.root.name}")
        remember_workspace(workspace.root)
        self._fill_recent()
        self._update_status()
        recovered = images_with_recovery(workspace)
        if recovered:
            self.statusBar().showMessage(f"Unsaved mask edits were recovered for {len(recovered)} image(s); "
                                         "open them in the Dataset tab to restore or discard.", 15000)

    def _show_in_dataset(self, image_id: int) -> None:
        row = self.dataset_view.model.row_of(image_id)
        if row >= 0 and self.tabs.currentWidget() is self.clusters_view:
            self.dataset_view.select_row(row)
            self.tabs.setCurrentWidget(self.dataset_view)

    @Slot(int, int, int, str, float)
    def _show_job_progress(self, job_id: int, done: int, total: int, message: str, _eta: float) -> None:
        self.statusBar().showMessage(f"job {job_id}: {done}/{total} {message}", 3000)

    def _update_status(self) -> None:
        info = self.workspace.info()
        self.statusBar().showMessage(f"{info['images']} images · {info['mask_versions']} mask versions · "
                                     f"{sum(info['samples'].values())} samples · {self.workspace.root}")

    # -- menus ---------------------------------------------------------------------------
    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        for text, key, slot in (("&Open Workspace…", QKeySequence.StandardKey.Open, self.open_dialog),
                                ("&Import Dataset Folder…", "Ctrl+I", self.import_dialog),
                                ("&Export Kept Samples…", "Ctrl+E", self.export_dialog)):
            a = QAction(text, self, shortcut=key)
            a.triggered.connect(slot)
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        m.addAction(quit_action)
        v = self.menuBar().addMenu("&View")
        for i, name in enumerate(("Dataset", "Clusters", "Generate", "Review", "Survey", "Reports")):
            a = QAction(name, self, shortcut=f"Ctrl+{i + 1}")
            a.triggered.connect(lambda _c=False, i=i: self.tabs.setCurrentIndex(i))
            v.addAction(a)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in recent_workspaces():
            a = QAction(p, self)
            a.triggered.connect(lambda _c=False, p=p: self.open_workspace(p))
            self.recent_menu.addAction(a)
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def open_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open workspace folder")
        if path:
            self.open_workspace(path)

    def open_workspace(self, path: str) -> bool:
        if not self.guard_unsaved():
            return False
        try:
            ws = Workspace.open(path)
        except DiffGenError as e:
            QMessageBox.warning(self, "Cannot open workspace", str(e))
            return False
        self.set_workspace(ws)
        return True

    # -- import / export -------------------------------------------------------------------
    def import_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import dataset folder (images/ + masks/)")
        if path:
            self.import_folder(path)

    def import_folder(self, folder: str):
        ws = self.workspace
        return self._run("Importing", lambda prog, cancel: import_dataset(ws, folder, progress=prog, cancel=cancel),
                         self._import_done)

    def _import_done(self, report: ImportReport) -> None:
        self.last_import = report
        self.state.imagesChanged.emit()
        lines = [report.summary(), ""] + [str(p) for p in report.problems]
        self._text_dialog("Import report", "\n".join(lines))

    def export_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export kept samples to a new or empty folder")
        if not path:
            return
        fmt, ok = QInputDialog.getItem(self, "Export", "Format:", list(FORMATS), 0, False)
        if not ok:
            return
        with_real = QMessageBox.question(self, "Export", "Also export the real images with their masks?") \
            == QMessageBox.StandardButton.Yes
        self.export_to(path, with_real, fmt)

    def export_to(self, folder: str, with_real: bool = False, fmt: str = "kvasir"):
        ws = self.workspace

        def done(report) -> None:
            self.last_export = report
            self._text_dialog("Export finished", report.summary())
        return self._run("Exporting", lambda prog, cancel: export_kept(ws, folder, with_real, prog, cancel, fmt), done)

    def _run(self, title: str, func, on_done):
        self.task = run_with_progress(self, title, func, on_done,
                                      lambda msg: QMessageBox.warning(self, f"{title} failed", msg))
        return self.task

    def _text_dialog(self, title: str, text: str) -> QDialog:
        d = QDialog(self)
        d.setWindowTitle(title)
        lay = QVBoxLayout(d)
        body = QPlainTextEdit(text, readOnly=True)
        lay.addWidget(body)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(d.close)
        lay.addWidget(box)
        d.resize(720, 360)
        d.show()
        self.report_dialog = d
        return d

    # -- drag and drop ----------------------------------------------------------------------
    def dragEnterEvent(self, e) -> None:  # noqa: N802 - Qt API
        urls = e.mimeData().urls()
        if urls and all(Path(u.toLocalFile()).is_dir() for u in urls):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: N802
        for u in e.mimeData().urls()[:1]:
            self.import_folder(u.toLocalFile())

    # -- closing -----------------------------------------------------------------------------
    def ask_unsaved(self, count: int) -> str:
        """'save', 'discard' or 'cancel' (a method so tests can answer it)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved mask edits",
                          f"{count} mask(s) have unsaved edits.", parent=self)
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")

    def guard_unsaved(self) -> bool:
        editor = self.dataset_view.editor
        n = len(editor.unsaved())
        if not n:
            return True
        answer = self.ask_unsaved(n)
        if answer == "save":
            editor.save_all()
        elif answer == "discard":
            editor.discard_all()
        return answer != "cancel"

    def closeEvent(self, e) -> None:  # noqa: N802
        if not self.guard_unsaved():
            e.ignore()
            return
        if self.queue is not None:
            self.queue.shutdown()
        e.accept()
