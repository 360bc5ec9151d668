"""Survey view (blinded expert survey). Placeholder until the survey issue lands its view."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from backend.workspace import Workspace


class SurveyView(QWidget):
    def __init__(self, workspace: Workspace):
        super().__init__()
        self.workspace = workspace
        QVBoxLayout(self).addWidget(QLabel("Blinded expert surveys: see 'diffgen survey --help'."))
