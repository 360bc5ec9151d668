"""The dataset grid shows each image's role, filters by it, and sets it from the context menu."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt


def test_the_grid_shows_filters_and_sets_the_role(state, demo_ws, qtbot):
    from diffgen_gui.dataset_view import DatasetView

    demo_ws.set_role([2], "test")
    dv = DatasetView(state)
    qtbot.addWidget(dv)
    model = dv.model

    def shown(image_id: int, role=Qt.ItemDataRole.DisplayRole) -> str:
        return model.data(model.index(model.row_of(image_id)), role)

    assert shown(2).endswith("· test") and "test" not in shown(1)
    assert "held-out test image (never used for generation)" in shown(2, Qt.ItemDataRole.ToolTipRole)
    assert "training image" in shown(1, Qt.ItemDataRole.ToolTipRole)
    assert dv.count.text() == "12 of 12 images (1 held-out test)"
    dv.role.setCurrentIndex(dv.role.findData("test"))
    assert [r.image_id for r in model.rows] == [2]
    dv.role.setCurrentIndex(dv.role.findData("train"))
    assert [r.image_id for r in model.rows] == [1] + list(range(3, 13))

    sel = dv.grid.selectionModel()
    sel.select(model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    sel.select(model.index(1), QItemSelectionModel.SelectionFlag.Select)
    assert state.selected_ids == [1, 3]
    dv.grid.customContextMenuRequested.emit(QPoint(5, 5))
    assert [a.text() for a in dv.menu.actions()] == ["Mark as Test Image (held out of generation)", "Mark as Training Image"]
    dv.menu.close()

    dv.role_actions["test"].trigger()
    assert [r.id for r in demo_ws.images("role = 'test'")] == [1, 2, 3]
    assert [r.image_id for r in model.rows] == list(range(4, 13))  # the training filter hides them now
    assert dv.count.text() == "9 of 12 images (3 held-out test)"
    dv.role.setCurrentIndex(dv.role.findData(None))
    sel.select(model.index(model.row_of(2)), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    dv.role_actions["train"].trigger()
    assert [r.id for r in demo_ws.images("role = 'test'")] == [1, 3] and not shown(2).endswith("· test")
