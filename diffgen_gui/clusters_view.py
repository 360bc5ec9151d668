"""Clusters view: the current clustering as rows of thumbnails, or how to make one."""

from __future__ import annotations

import html
import json
from pathlib import PurePath

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QListView, QScrollArea, QVBoxLayout, QWidget

from backend.words import counted
from backend.workspace import queries
from diffgen_gui.state import WorkspaceState
from diffgen_gui.thumbnails import ThumbnailModel
from diffgen_gui.widgets.welcome import Welcome

THUMB = 96
IN_TITLE = {"k", "seed"}


def settings_text(params: dict) -> str:
    """A clustering's other settings in words ("features balanced · min cluster size 2 ·
    inception weights inception_v3.pth"): a path shows its file name, the tooltip the whole."""
    words = []
    for key, value in params.items():
        if key in IN_TITLE:
            continue
        if isinstance(value, str) and ("/" in value or "\\" in value):
            value = PurePath(value).name
        words.append(f"{key.replace('_', ' ')} {value}")
    return " · ".join(words)


class ClustersView(QWidget):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.header = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.scroll_area = QScrollArea(widgetResizable=True)
        self.scroll_area.setWidget(self.body)
        self.welcome = Welcome(
            "No clustering yet",
            "Group the images by appearance so that one diffusion model can be trained "
            "per cluster: queue a clustering job (it runs in the background; the clusters appear here).",
            f"diffgen cluster --workspace {self.ws.root}",
            "Cluster images…",
        )
        self.welcome.button.clicked.connect(lambda: self.state.jobRequested.emit("cluster"))
        lay = QVBoxLayout(self)
        lay.addWidget(self.welcome)
        lay.addWidget(self.header)
        lay.addWidget(self.scroll_area, 1)
        self.models: list[ThumbnailModel] = []
        state.clustersChanged.connect(self.refresh)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        while self.body_layout.count():
            item = self.body_layout.takeAt(0)
            w = item.widget() if item is not None else None
            if w:
                w.deleteLater()
        self.models = []
        c = queries.current_clustering(self.ws)
        self.scroll_area.setVisible(c is not None)
        self.header.setVisible(c is not None)
        self.welcome.setVisible(c is None)
        if c is None:
            return
        self.header.setText(
            f"<h3>Clustering #{c.id}: k = {c.k}, {c.extractor} features, seed {c.seed}</h3>"
            f"<p>{c.created_at[:19].replace('T', ' ')} UTC"
            + (f" · {html.escape(settings_text(c.params))}" if c.params else "")
            + "</p>"
        )
        self.header.setToolTip(json.dumps(c.params, indent=1) if c.params else "")
        if c.sheet_path and self.ws.path(c.sheet_path).exists():
            sheet = QLabel()
            sheet.setPixmap(
                QPixmap(str(self.ws.path(c.sheet_path))).scaledToWidth(900, Qt.TransformationMode.SmoothTransformation)
            )
            self.body_layout.addWidget(sheet)
        clusters = [k for k, _n in queries.cluster_sizes(self.ws)]
        for k in clusters:
            model = ThumbnailModel(self.ws, THUMB, parent=self)
            model.set_filter(cluster=k)
            self.models.append(model)
            self.body_layout.addWidget(QLabel(f"<b>Cluster {k}</b> — {counted(len(model.rows), 'image')}"))
            view = QListView()
            view.setViewMode(QListView.ViewMode.IconMode)
            view.setFlow(QListView.Flow.LeftToRight)
            view.setWrapping(False)
            view.setIconSize(QSize(THUMB, THUMB))
            view.setUniformItemSizes(True)
            view.setFixedHeight(THUMB + 56)
            view.setModel(model)
            view.doubleClicked.connect(lambda idx, m=model: self.state.select_image(m.rows[idx.row()].image_id))
            self.body_layout.addWidget(view)
