"""Dataset view: a grid of thumbnails with the mask outlined (the full browser comes with the app issue)."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from backend.workspace import Workspace

THUMB = 160


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def overlay_contour(rgb: np.ndarray, mask: np.ndarray, colour=(0, 255, 120)) -> np.ndarray:
    out = rgb.copy()
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, colour, max(1, rgb.shape[0] // 128))
    return out


class DatasetView(QWidget):
    def __init__(self, workspace: Workspace):
        super().__init__()
        self.workspace = workspace
        self.grid = QListWidget()
        self.grid.setViewMode(QListWidget.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.grid)
        self.reload()

    def reload(self) -> None:
        self.grid.clear()
        for rec in self.workspace.images():
            rgb = self.workspace.read_image(rec)
            mask = self.workspace.read_mask(rec.current_mask_id) if rec.current_mask_id else None
            if mask is not None:
                rgb = overlay_contour(rgb, mask)
            thumb = cv2.resize(rgb, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(thumb))), rec.name)
            item.setData(Qt.ItemDataRole.UserRole, rec.id)
            self.grid.addItem(item)
