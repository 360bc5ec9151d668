"""The main window: assembles the views; holds no logic of its own."""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow, QTabWidget

from backend.workspace import Workspace
from diffgen_gui.dataset_view import DatasetView


class MainWindow(QMainWindow):
    def __init__(self, workspace: Workspace):
        super().__init__()
        self.workspace = workspace
        self.setWindowTitle(f"DiffGen Studio — {workspace.root.name}")
        self.resize(1280, 800)
        self.tabs = QTabWidget()
        self.dataset_view = DatasetView(workspace)
        self.tabs.addTab(self.dataset_view, "Dataset")
        self.setCentralWidget(self.tabs)
        info = workspace.info()
        self.statusBar().showMessage(
            f"{info['images']} images · {info['mask_versions']} mask versions · {workspace.root}")
