"""The main window: menus, tabs, drag-and-drop import, close guard. Holds no logic of its own."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSize, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
)

from backend.config.paths import user_config_dir
from backend.data.import_params import ImportParams
from backend.errors import DiffGenError
from backend.exporters.params import ExportParams
from backend.io.files import atomic_write_text
from backend.masks.edit_session import images_with_recovery
from backend.workspace import Workspace
from diffgen_gui.clusters_view import ClustersView
from diffgen_gui.dataset_view import DatasetView
from diffgen_gui.export_dialog import ExportDialog, export_result
from diffgen_gui.generate_view import GenerateView
from diffgen_gui.job_watch import JobWatch, start_job
from diffgen_gui.prefs import save_pref
from diffgen_gui.quit_dialog import ask_leave_job
from diffgen_gui.reports_view import ReportsView
from diffgen_gui.review_view import ReviewView
from diffgen_gui.shortcuts import ShortcutsDialog
from diffgen_gui.state import WorkspaceState
from diffgen_gui.survey_view import SurveyView
from diffgen_gui.theme import THEMES, begin_theme, current_theme, finish_theme, gui_app
from diffgen_gui.widgets.elided_label import ElidedLabel
from diffgen_gui.worker import JobQueue

MAX_RECENT = 10
DEFAULT_SIZE = QSize(1400, 880)
TABS = ("Dataset", "Clusters", "Generate", "Review", "Survey", "Reports")


def initial_size(available: QSize) -> QSize:
    """The default window size, clamped to the screen's available area (e.g. at 150 % scale)."""
    return DEFAULT_SIZE.boundedTo(available)


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
    theme_switched = Signal(str)  # the theme's name, once its style sheet is in place

    def __init__(self, workspace: Workspace):
        super().__init__()
        screen = QGuiApplication.primaryScreen()
        self.resize(initial_size(screen.availableGeometry().size()) if screen else DEFAULT_SIZE)
        self.setAcceptDrops(True)
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.queue: JobQueue | None = None
        self.watch: JobWatch | None = None  # the last import or export started here
        self.last_import: dict | None = None  # the last import job's result
        self.last_export: dict | None = None  # the last export job's result
        self.report_dialog: QDialog | None = None
        self.tray: QSystemTrayIcon | None = None
        self.info = ElidedLabel(objectName="hint")
        self.info.setMinimumWidth(280)
        self.statusBar().addPermanentWidget(self.info)
        self._build_menus()
        self.set_workspace(workspace)

    # -- workspace -----------------------------------------------------------------------
    def set_workspace(self, workspace: Workspace) -> None:
        if self.queue is not None:
            self.queue.shutdown()
        self.workspace = workspace
        self.state = WorkspaceState(workspace, self)
        self.queue = JobQueue(workspace, self)
        old = [w for i in range(self.tabs.count()) if (w := self.tabs.widget(i)) is not None]
        self.tabs.clear()
        for w in old:  # their timers and models go with them
            w.deleteLater()
        self.dataset_view = DatasetView(self.state)
        self.dataset_view.editor.place.queue = self.queue  # the editor's Place polyp queues where Generate does
        self.clusters_view = ClustersView(self.state)
        self.generate_view = GenerateView(self.state, self.queue)
        self.review_view = ReviewView(self.state)
        self.survey_view = SurveyView(workspace, self.queue)
        self.reports_view = ReportsView(self.state)
        for view, name in zip(
            (self.dataset_view, self.clusters_view, self.generate_view, self.review_view, self.survey_view, self.reports_view),
            TABS,
        ):
            self.tabs.addTab(view, name)
        self.state.currentImageChanged.connect(self._show_in_dataset)
        self.state.jobRequested.connect(self._show_job_form)
        self.state.samplesChanged.connect(self.survey_view.reload)  # new sample kinds for the survey form
        self.queue.progress.connect(self._show_job_progress)
        self.queue.finished.connect(self._job_finished)
        self.queue.workspaceChanged.connect(self.state.workspace_changed)
        for changed in (self.state.imagesChanged, self.state.samplesChanged, self.state.maskChanged):
            changed.connect(self._update_status)  # the counts in the status bar
        self._fill_edit_menu()
        self.setWindowTitle(f"DiffGen Studio — {workspace.root.name}")
        remember_workspace(workspace.root)
        self._fill_recent()
        self._update_status()
        recovered = images_with_recovery(workspace)
        if recovered:
            self.statusBar().showMessage(
                f"Unsaved mask edits were recovered for {len(recovered)} image(s); "
                "open them in the Dataset tab to restore or discard.",
                15000,
            )

    @Slot(int)
    def _show_in_dataset(self, image_id: int) -> None:
        row = self.dataset_view.model.row_of(image_id)
        if row >= 0 and self.tabs.currentWidget() is self.clusters_view:
            self.dataset_view.select_row(row)
            self.tabs.setCurrentWidget(self.dataset_view)

    @Slot(int, int, int, str, float)
    def _show_job_progress(self, job_id: int, done: int, total: int, message: str, _eta: float) -> None:
        self.statusBar().showMessage(f"job {job_id}: {done}/{total} {message}", 3000)

    @Slot(str)
    def _show_job_form(self, kind: str) -> None:
        form = self.generate_view.form
        form.kind.setCurrentIndex(form.kind.findData(kind))
        self.tabs.setCurrentWidget(self.generate_view)

    @Slot(int, str, str)
    def _job_finished(self, job_id: int, status: str, message: str) -> None:
        """Say so in the status bar, and in a system tray message when the window is not active."""
        assert self.queue is not None  # the signal comes from this queue
        kind = self.queue.store.get(job_id).kind
        text = f"Job {job_id} ({kind}) {status}" + (f": {message.splitlines()[0]}" if message else "")
        self.statusBar().showMessage(text, 20000)
        if not self.isActiveWindow() and QSystemTrayIcon.isSystemTrayAvailable():
            if self.tray is None:
                self.tray = QSystemTrayIcon(self.windowIcon(), self)
                self.tray.show()
            icon = QSystemTrayIcon.MessageIcon.Information if status == "done" else QSystemTrayIcon.MessageIcon.Warning
            self.tray.showMessage("DiffGen Studio", text, icon, 10000)

    @Slot()
    def _update_status(self) -> None:
        info = self.workspace.info()
        self.info.setText(
            f"{info['images']} images · {info['mask_versions']} mask versions · "
            f"{sum(info['samples'].values())} samples · {self.workspace.root}"
        )

    # -- menus ---------------------------------------------------------------------------
    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        for text, key, slot in (
            ("&Open Workspace…", QKeySequence.StandardKey.Open, self.open_dialog),
            ("&Import Dataset Folder…", "Ctrl+I", self.import_dialog),
            ("&Export Kept Samples…", "Ctrl+E", self.export_dialog),
        ):
            a = QAction(text, self, shortcut=key)
            a.triggered.connect(slot)
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        m.addAction(quit_action)
        self.edit_menu = self.menuBar().addMenu("&Edit")
        v = self.menuBar().addMenu("&View")
        for i, name in enumerate(TABS):
            a = QAction(name, self, shortcut=f"Ctrl+{i + 1}")
            a.triggered.connect(lambda _c=False, i=i: self.tabs.setCurrentIndex(i))
            v.addAction(a)
        v.addSeparator()
        themes = v.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name, label in THEMES.items():
            a = QAction(label, self, checkable=True, checked=name == current_theme(gui_app()))
            a.triggered.connect(lambda _c=False, n=name: self.set_theme(n))
            group.addAction(a)
            themes.addAction(a)
            self.theme_actions[name] = a
        h = self.menuBar().addMenu("&Help")
        keys = QAction("&Keyboard Shortcuts", self, shortcut=QKeySequence.StandardKey.HelpContents)
        keys.triggered.connect(self.show_shortcuts)
        h.addAction(keys)

    def _fill_edit_menu(self) -> None:
        """The mask editor's undo, redo, save and tools (the editor is new with each workspace)."""
        self.edit_menu.clear()
        for a in self.dataset_view.editor.edit_actions():
            if a is None:
                self.edit_menu.addSeparator()
            else:
                self.edit_menu.addAction(a)

    def set_theme(self, name: str) -> None:
        """In three turns of the event loop (the palette, the style sheet, then the repaint) so
        that none stalls the window long; no frame is drawn half-styled (``theme_switched``
        says when all is done)."""
        self.setUpdatesEnabled(False)
        begin_theme(gui_app(), name)
        self.theme_actions[name].setChecked(True)
        save_pref("theme", name)
        self._pending_theme = name
        QTimer.singleShot(1, self._finish_theme)  # a timer, not 0: that runs before overdue timers

    @Slot()
    def _finish_theme(self) -> None:
        finish_theme(gui_app(), self._pending_theme)
        QTimer.singleShot(1, self._show_theme)

    @Slot()
    def _show_theme(self) -> None:
        self.setUpdatesEnabled(True)
        self.theme_switched.emit(self._pending_theme)

    def show_shortcuts(self) -> ShortcutsDialog:
        self.shortcuts_dialog = ShortcutsDialog(self.menuBar(), self)
        self.shortcuts_dialog.show()
        return self.shortcuts_dialog

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

    def import_folder(self, folder: str) -> JobWatch | None:
        return self._run("Importing", "import", ImportParams(folder), self._import_done)

    def _import_done(self, result: dict, summary: str) -> None:
        self.last_import = result  # the image list refreshes as any import ends (the kind changes "images")
        self._text_dialog("Import report", "\n".join([summary, "", *result["problems"]]))

    def export_dialog(self) -> ExportDialog:
        """Folder (typed or browsed) and options; the export starts when the user confirms."""
        self.export_form = ExportDialog(self)
        self.export_form.chosen.connect(self.export_to)
        self.export_form.open()
        return self.export_form

    @Slot(str, bool, str, bool, bool)
    def export_to(
        self, folder: str, with_real: bool = False, fmt: str = "kvasir", only_passed: bool = False, include_empty: bool = False
    ) -> JobWatch | None:
        params = ExportParams(folder, fmt, with_real, only_passed, include_empty)
        return self._run("Exporting", "export", params, self._export_done)

    def _export_done(self, result: dict, summary: str) -> None:
        self.last_export = result
        self.report_dialog = export_result(self, result["out"], summary)

    def _run(self, title: str, kind: str, params, on_done) -> JobWatch | None:
        """Queue a ``kind`` job (a row in the Jobs list, a log) behind a progress dialog."""
        assert self.queue is not None  # made with the workspace
        self.watch = start_job(
            self.queue, self, title, kind, params, on_done, lambda status, msg: self._failed(title, status, msg)
        )
        return self.watch

    def _failed(self, title: str, status: str, message: str) -> None:
        """A failure is a message box; a cancel is not (the user asked for it; the status bar says it)."""
        if status != "cancelled":
            QMessageBox.warning(self, f"{title} failed", message)

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
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved mask edits", f"{count} mask(s) have unsaved edits.", parent=self)
        box.setStandardButtons(
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        )
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(answer), "cancel"
        )

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

    def ask_running_job(self) -> str | None:
        """What becomes of the running job when the window closes (see ``quit_dialog``); "stop"
        when none runs, None to stay. A method so that tests can answer it."""
        job_id = self.queue.running_job() if self.queue is not None else None
        if self.queue is None or job_id is None:
            return "stop"
        return ask_leave_job(self, self.queue.store.get(job_id))

    def closeEvent(self, e) -> None:  # noqa: N802
        if not self.guard_unsaved():
            e.ignore()
            return
        how = self.ask_running_job()
        if how is None:
            e.ignore()
            return
        self.hide()  # at once: the job's process ends its job alone
        if self.queue is not None:
            self.queue.shutdown(how=how)
        e.accept()
