"""Background images (frames without polyps) in the dataset grid: a filter of their own, and
no role change offered for them (they have no mask to train or test on)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QItemSelectionModel, QPoint

from backend.data.importer import import_dataset


def test_background_images_have_a_filter_and_no_role_actions(state, demo_ws, tmp_path, qtbot):
    from diffgen_gui.dataset_view import DatasetView

    frames = tmp_path / "normal"
    frames.mkdir()
    for i in range(2):
        Image.fromarray(np.full((64, 64, 3), 120 + 40 * i, np.uint8)).save(frames / f"normal_{i}.png")
    assert import_dataset(demo_ws, frames, role="background").imported == 2
    dv = DatasetView(state)
    qtbot.addWidget(dv)
    dv.role.setCurrentIndex(dv.role.findData("background"))
    assert [r.image_id for r in dv.model.rows] == [13, 14]
    sel = dv.grid.selectionModel()
    sel.select(dv.model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    dv.grid.customContextMenuRequested.emit(QPoint(5, 5))
    assert [a.isEnabled() for a in dv.menu.actions()] == [False, False]
    dv.menu.close()
    dv.role.setCurrentIndex(dv.role.findData("train"))
    sel.select(dv.model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    dv.grid.customContextMenuRequested.emit(QPoint(5, 5))
    assert [a.isEnabled() for a in dv.menu.actions()] == [True, True]
    dv.menu.close()
