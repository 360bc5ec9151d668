"""Dataset view: filterable lazy thumbnail grid on the left, the mask editor on the right."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPoint, QSize, Qt
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from backend.workspace import BACKGROUND, TEST, TRAIN
from diffgen_gui.mask_editor import MaskEditor
from diffgen_gui.state import WorkspaceState
from diffgen_gui.thumbnails import IdRole, ThumbnailModel

KEYS = [
    ("→ / PgDn / .", "Next image in the grid"),
    ("← / PgUp / ,", "Previous image in the grid"),
    ("Ctrl+A (grid)", "Select every shown image (the Generate tab's target)"),
]


class DatasetView(QWidget):
    def __init__(self, state: WorkspaceState, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.ws = state, state.workspace
        self.model = ThumbnailModel(self.ws, parent=self)

        self.search = QLineEdit(placeholderText="Search by name…", clearButtonEnabled=True)
        self.search.textChanged.connect(lambda t: self._filter(search=t))
        self.cluster = QComboBox(toolTip="Show one cluster of the current clustering")
        self.cluster.currentIndexChanged.connect(lambda _i: self._filter(cluster=self.cluster.currentData()))
        self.edited = QCheckBox("Edited")
        self.edited.toggled.connect(lambda c: self._filter(edited=c))
        self.flagged = QCheckBox("Flagged")
        self.flagged.toggled.connect(lambda c: self._filter(flagged=c))
        self.role = QComboBox(
            toolTip="Training images feed generation; test images are held out for segmentation; "
            "background images (no polyp) receive new polyps from mask-guided synthesis"
        )
        roles = (("All roles", None), ("Training", TRAIN), ("Test (held out)", TEST), ("Background", BACKGROUND))
        for label, role in roles:
            self.role.addItem(label, role)
        self.role.currentIndexChanged.connect(lambda _i: self._filter(role=self.role.currentData()))
        self.count = QLabel(objectName="hint")

        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(self.model.size, self.model.size))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setSpacing(4)
        self.grid.setModel(self.model)
        self.grid.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.grid.selectionModel().selectionChanged.connect(self._selection_changed)
        self.role_actions = {
            role: QAction(text, self)
            for role, text in ((TEST, "Mark as Test Image (held out of generation)"), (TRAIN, "Mark as Training Image"))
        }
        for role, action in self.role_actions.items():
            action.triggered.connect(lambda _c=False, role=role: self.set_role(role))
        self.menu: QMenu | None = None  # the role context menu, while shown
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(self._context_menu)

        self.editor = MaskEditor(state)
        state.maskChanged.connect(lambda _i: self.refresh())
        state.imagesChanged.connect(self.refresh)
        state.clustersChanged.connect(self.refresh)

        filters = QGridLayout()  # two rows: all four fit the grid's 240 px uncut
        filters.addWidget(self.cluster, 0, 0)
        filters.addWidget(self.role, 0, 1)
        filters.addWidget(self.edited, 1, 0)
        filters.addWidget(self.flagged, 1, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.search)
        ll.addLayout(filters)
        ll.addWidget(self.grid, 1)
        ll.addWidget(self.count)
        left.setMinimumWidth(240)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.editor)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 1000])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._fill_clusters()
        self._update_count()
        if self.model.rows:
            self.select_row(0)

    def _fill_clusters(self) -> None:
        current = self.cluster.currentData()
        self.cluster.blockSignals(True)
        self.cluster.clear()
        self.cluster.addItem("All clusters", None)
        for c in self.model.clusters():
            self.cluster.addItem(f"Cluster {c}", c)
        idx = self.cluster.findData(current)
        self.cluster.setCurrentIndex(max(idx, 0))
        self.cluster.setEnabled(self.cluster.count() > 1)
        self.cluster.blockSignals(False)

    def _filter(self, **kw) -> None:
        keep = self.state.current_image_id
        self.model.set_filter(**kw)
        self._reselect(keep)

    def refresh(self) -> None:
        keep = self.state.current_image_id
        self.model.refresh()
        self._fill_clusters()
        self._reselect(keep)

    def _reselect(self, image_id: int | None) -> None:
        """Keep showing ``image_id`` if it is still listed, else the first match (else nothing)."""
        row = self.model.row_of(image_id) if image_id is not None else -1
        shown = self.editor.session is not None and self.editor.session.image_id == image_id
        if row >= 0 and not shown:  # listed again after a filter had hidden it
            self.select_row(row)
        elif row >= 0:
            self.grid.selectionModel().blockSignals(True)
            self.grid.setCurrentIndex(self.model.index(row))
            self.grid.selectionModel().blockSignals(False)
        elif self.model.rows:
            self.select_row(0)
        else:
            self.editor.clear()
        self._update_count()

    def _update_count(self) -> None:
        test = sum(r.role == TEST for r in self.model.all_rows)
        self.count.setText(f"{len(self.model.rows)} of {len(self.model.all_rows)} images ({test} held-out test)")

    def _current_changed(self, current, _previous) -> None:
        if current.isValid():
            image_id = current.data(IdRole)
            self.state.select_image(image_id)
            self.editor.load(image_id)

    def _selection_changed(self, *_args) -> None:
        rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
        self.state.set_selection([self.model.rows[r].image_id for r in rows if r < len(self.model.rows)])

    def _context_menu(self, pos: QPoint) -> None:
        if self.state.selected_ids:
            self.menu = QMenu(self)  # kept: popup() returns at once (no nested event loop)
            self.menu.addActions(list(self.role_actions.values()))
            # a background image has no mask: it can become neither (set_role refuses it)
            roles = {r.role for r in self.model.rows if r.image_id in set(self.state.selected_ids)}
            for action in self.role_actions.values():
                action.setEnabled(BACKGROUND not in roles)
            self.menu.popup(self.grid.viewport().mapToGlobal(pos))

    def set_role(self, role: str) -> None:
        """Give the selected images ``role`` (the roles filter then shows or hides them)."""
        if self.state.selected_ids:
            self.state.set_role(self.state.selected_ids, role)

    def select_row(self, row: int) -> None:
        if 0 <= row < len(self.model.rows):
            self.grid.selectionModel().setCurrentIndex(self.model.index(row), QItemSelectionModel.SelectionFlag.ClearAndSelect)
            self.grid.scrollTo(self.model.index(row))

    def step(self, delta: int) -> None:
        """Next / previous image in the filtered list."""
        row = self.grid.currentIndex().row()
        self.select_row(min(max(row + delta, 0), len(self.model.rows) - 1))

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if e.key() in (Qt.Key.Key_Right, Qt.Key.Key_PageDown, Qt.Key.Key_Period):
            self.step(+1)
        elif e.key() in (Qt.Key.Key_Left, Qt.Key.Key_PageUp, Qt.Key.Key_Comma):
            self.step(-1)
        else:
            super().keyPressEvent(e)
