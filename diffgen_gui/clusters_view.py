"""Clusters view: the current clustering as rows of thumbnails, or how to make one."""

from __future__ import annotations

import json

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QListView, QScrollArea, QVBoxLayout, QWidget

from diffgen_gui.state import WorkspaceState
from diffgen_gui.thumbnails import ThumbnailModel

THUMB = 96


class ClustersView(QWidget):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.header = QLabel(wordWrap=True, alignment=Qt.AlignmentFlag.AlignTop)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body = QWidget()
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.scroll = QScrollArea(widgetResizable=True)
        self.scroll.setWidget(self.body)
        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(self.scroll, 1)
        lay.addStretch(0)
        self.models: list[ThumbnailModel] = []
        state.clustersChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        while self.body_layout.count():
            w = self.body_layout.takeAt(0).widget()
            if w:
                w.deleteLater()
        self.models = []
        cid = self.ws.current_clustering_id()
        self.scroll.setVisible(cid is not None)
        if cid is None:
            self.header.setText(
                "<h3>No clustering yet</h3><p>Group the images by appearance so that one diffusion model "
                "can be trained per cluster:</p><pre>diffgen cluster --workspace "
                f"{self.ws.root}</pre><p>or queue a <i>Cluster images</i> job in the Generate tab.</p>")
            return
        c = self.ws.query("SELECT * FROM clusterings WHERE id = ?", (cid,))[0]
        params = json.loads(c["params_json"] or "{}")
        self.header.setText(f"<h3>Clustering #{cid}: k = {c['k']}, {c['extractor']} features, seed {c['seed']}</h3>"
                            f"<p>{c['created_at'][:19].replace('T', ' ')}"
                            + (f" · {params}" if params else "") + "</p>")
        if c["sheet_path"] and self.ws.path(c["sheet_path"]).exists():
            sheet = QLabel()
            sheet.setPixmap(QPixmap(str(self.ws.path(c["sheet_path"]))).scaledToWidth(
                900, Qt.TransformationMode.SmoothTransformation))
            self.body_layout.addWidget(sheet)
        clusters = [r[0] for r in self.ws.query("SELECT DISTINCT cluster FROM cluster_assignments"
                                                " WHERE clustering_id = ? ORDER BY cluster", (cid,))]
        for k in clusters:
            model = ThumbnailModel(self.ws, THUMB, parent=self)
            model.set_filter(cluster=k)
            self.models.append(model)
            self.body_layout.addWidget(QLabel(f"<b>Cluster {k}</b> — {len(model.rows)} images"))
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
