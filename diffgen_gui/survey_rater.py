"""The blinded rater window: one item at a time, answered from the keyboard.

It shows only the image and its mask: no file name, id, path, size or kind anywhere
(window title, labels, tooltips), and it offers no way to reach files: no file dialogs, no
context menus, no links, plain-text labels. (The truth sits in the workspace beside the
copies; raters who must not reach it get a rater pack on their own machine instead.)
Every key press is stored by the back end before the
window shows it as given, so closing or a crash loses nothing and reopening resumes at the
first unanswered item.

Rater mode is a closed room (issue 32 item 1): the window is the only one the application
shows while it is open (the Survey tab hides the main window), it has no parent that a key
could fall through to, and leaving (Esc, or closing it) asks first and then ends the session;
``ended`` then tells the owner (the kiosk form quits; the Survey tab shows the app again).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QGuiApplication, QImage, QKeyEvent, QKeySequence, QPainter, QPixmap, QScreen
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from backend.errors import DiffGenError
from backend.survey import RaterSession
from backend.survey.keys import button_text, commands, hint

HINT_COLOUR = "#b8b8b8"  # on the window's #1b1d1f: contrast 9.3, over the 4.5 of WCAG AA
# Qt's keys for the table's named keys (a printable one is its own QKeySequence)
_QT_KEYS = {
    "Left": (Qt.Key.Key_Left,),
    "Right": (Qt.Key.Key_Right,),
    "Enter": (Qt.Key.Key_Return, Qt.Key.Key_Enter),
    "Backspace": (Qt.Key.Key_Backspace,),
    "Escape": (Qt.Key.Key_Escape,),
}


def qt_keys(key: str) -> tuple[int, ...]:
    """The Qt key codes of one of the rater table's keys."""
    return _QT_KEYS.get(key) or (QKeySequence(key)[0].key(),)  # type: ignore[index]  # PySide6 stubs lack __getitem__


class _Picture(QLabel):
    """A label that fits its pixmap to the window, aspect kept. Enlarged by a whole factor
    with nearest-neighbour, so every pixel of a small item shows as it is (no smoothing
    that blurs detail the item never had); only a picture larger than the room shrinks."""

    def __init__(self):
        super().__init__()
        self._pix = QPixmap()
        self.magnification = 1.0
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet("background: #111;")

    def show_pixmap(self, pix: QPixmap) -> None:
        self._pix = pix
        self._rescale()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pix.isNull():
            self.clear()
            return
        fit = min(self.width() / self._pix.width(), self.height() / self._pix.height())
        if fit >= 1:
            self.magnification = float(int(fit))
            size = self._pix.size() * int(fit)
            self.setPixmap(self._pix.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
        else:
            self.magnification = fit
            self.setPixmap(
                self._pix.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            )

    @property
    def native(self) -> QSize:
        return self._pix.size()


OVERLAY_COLOUR = QColor(0, 255, 110)  # the mask over the image: a green no polyp has


def overlaid(image: QPixmap, mask: QPixmap, opacity: float) -> QPixmap:
    """``image`` with the mask's foreground painted over it at ``opacity`` (0: the image alone)."""
    if opacity <= 0 or image.isNull() or mask.isNull():
        return image
    tint = QImage(image.size(), QImage.Format.Format_ARGB32)
    tint.fill(OVERLAY_COLOUR)
    tint.setAlphaChannel(mask.toImage().convertToFormat(QImage.Format.Format_Grayscale8).scaled(image.size()))
    out = QPixmap(image)
    painter = QPainter(out)
    painter.setOpacity(opacity)
    painter.drawImage(0, 0, tint)
    painter.end()
    return out


def _lock_down(window: QWidget) -> None:
    """No way out to the file system: no context menu (a line edit's offers nothing useful
    here), no rich text or links in labels (a rater name like <a href=file:...>), no drops."""
    for w in [window] + window.findChildren(QWidget):
        w.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        w.setAcceptDrops(False)
        if isinstance(w, QLabel):
            w.setTextFormat(Qt.TextFormat.PlainText)
            w.setOpenExternalLinks(False)
            w.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)


class RaterWindow(QWidget):
    """Full-screen blinded rating of one rater's items (a face on ``RaterSession``).

    S asks for confirmation in ``confirm``, a window-modal message box (it does not block the
    event loop): Enter or Y submits, N or Esc goes back to the items. Esc (or closing the
    window) asks in ``leave_box`` whether to end the session; only a Yes closes the window.
    """

    closed = Signal()

    def __init__(self, session: RaterSession):
        super().__init__(None, Qt.WindowType.Window)  # no parent: nothing behind it to fall into
        self.session = session
        self.confirm: QMessageBox | None = None
        self.leave_box: QMessageBox | None = None
        self._leaving = False
        self.setWindowTitle("Blinded review")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setStyleSheet(
            "QWidget { background: #1b1d1f; color: #e6e6e6; font-size: 13pt; }"
            "QPushButton { padding: 6px 14px; border: 1px solid #555; border-radius: 4px; }"
            "QPushButton:checked { background: #2f6f4f; border-color: #6fcf97; }"
            "QPushButton:disabled { color: #666; }"
            "QLineEdit { border: 1px solid #555; padding: 4px; }"
        )
        self.progress = QLabel()
        self.progress.setStyleSheet("font-size: 16pt; font-weight: bold;")
        self.answered = QLabel()
        self.message = QLabel()
        self.message.setStyleSheet("color: #f2c94c;")
        self.rater_label = QLabel(f"Rater: {session.rater.name}")
        top = QHBoxLayout()
        top.addWidget(self.rater_label)
        top.addStretch(1)
        top.addWidget(self.message)
        top.addStretch(1)
        top.addWidget(self.answered)
        top.addSpacing(20)
        top.addWidget(self.progress)

        self.image, self.mask_picture = _Picture(), _Picture()
        pics = QGridLayout()
        self.captions = (QLabel("Image"), QLabel("Segmentation mask"))
        pics.addWidget(self.captions[0], 0, 0, Qt.AlignmentFlag.AlignHCenter)
        pics.addWidget(self.captions[1], 0, 1, Qt.AlignmentFlag.AlignHCenter)
        pics.addWidget(self.image, 1, 0)
        pics.addWidget(self.mask_picture, 1, 1)
        self.scale_label = QLabel()  # the item's own size and how much it is enlarged
        self.scale_label.setStyleSheet(f"color: {HINT_COLOUR}; font-size: 11pt;")
        self.overlay = QSlider(Qt.Orientation.Horizontal)
        self.overlay.setRange(0, 100)
        self.overlay.setMinimumWidth(180)
        self.overlay.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the answers
        self.overlay.setToolTip("Opacity of the mask drawn over the image")
        self.overlay.valueChanged.connect(self._show_pictures)
        self.overlay_label = QLabel()
        view_row = QHBoxLayout()
        view_row.addWidget(self.scale_label, 1)
        view_row.addWidget(self.overlay_label)
        view_row.addWidget(self.overlay)
        pics.addLayout(view_row, 2, 0, 1, 2)
        self.done_label = QLabel()
        self.done_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.done_label.setWordWrap(True)
        self.done_label.hide()

        self.buttons: dict[str, dict[str, QPushButton]] = {}
        questions = QGridLayout()
        for row, question in enumerate(session.template.questions):
            q = question.name
            questions.addWidget(QLabel(question.title), row, 0)
            self.buttons[q] = {}
            for col, answer in enumerate(question.answers):
                b = QPushButton(button_text(answer))
                b.setCheckable(True)
                b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                b.clicked.connect(lambda _=False, q=q, v=answer.value: self.give(q, v))
                questions.addWidget(b, row, col + 1)
                self.buttons[q][answer.value] = b
        self.comment = QLineEdit()
        self.comment.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # keys belong to the answers until C
        self.comment.setPlaceholderText("Optional comment: press C to type, Enter to save")
        self.comment.returnPressed.connect(self._save_comment)
        self.comment.editingFinished.connect(self._save_comment)

        self.back_button = QPushButton("← Back")
        self.next_button = QPushButton("Next →  (Enter)")
        self.submit_button = QPushButton("Submit all answers (S)")
        for b, slot in ((self.back_button, self.back), (self.next_button, self.next), (self.submit_button, self.submit)):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
        nav = QHBoxLayout()
        nav.addWidget(self.back_button)
        nav.addWidget(self.comment, 1)
        nav.addWidget(self.next_button)
        nav.addWidget(self.submit_button)
        self.hint = QLabel(hint(desktop=True, questions=session.template.questions))
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {HINT_COLOUR}; font-size: 11pt;")

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(pics, 1)
        lay.addWidget(self.done_label, 1)
        lay.addLayout(questions)
        lay.addLayout(nav)
        lay.addWidget(self.hint)
        _lock_down(self)
        self.key_actions = self._key_actions()
        self.refresh()

    # -- actions ---------------------------------------------------------------------
    def give(self, question: str, value: str) -> None:
        if self.session.finished() or self.session.submitted:
            return
        try:
            self.session.give(question, value)
        except DiffGenError as e:
            self.message.setText(str(e))
            return
        self.message.clear()
        self.refresh()

    def next(self) -> None:
        if self.session.finished():
            return
        self._save_comment()
        if self.session.next():
            self.message.clear()
        else:
            self.message.setText("Answer all three questions first")
        self.refresh()

    def back(self) -> None:
        if self.session.submitted:
            return
        self._save_comment()
        self.session.back()
        self.message.clear()
        self.refresh()

    def submit(self) -> None:
        """Ask first (answers are final once submitted); the answer arrives in ``_confirmed``."""
        if self.session.submitted or self.confirm is not None:
            return
        missing = self.session.total - self.session.complete_count
        if missing:
            self.message.setText(f"{missing} items still need an answer to all three questions")
            return
        self.confirm = self._ask(
            "Submit answers",
            f"Submit all {self.session.total} answers? They are then final and can no longer be changed.",
            "&Yes, submit",
            self._confirmed,
        )

    def _ask(self, title: str, text: str, yes: str, slot) -> QMessageBox:
        """A window-modal Yes/No box (Enter or Y: yes; N or Esc: no) answered in ``slot``."""
        box = QMessageBox(
            QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self
        )
        box.button(QMessageBox.StandardButton.Yes).setText(yes)
        box.button(QMessageBox.StandardButton.No).setText("&No")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setEscapeButton(QMessageBox.StandardButton.No)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(slot)
        box.open()
        return box

    def _answered_yes(self, box: QMessageBox | None) -> bool:
        """Whether ``box`` was answered Yes; it goes away and the keys come back here."""
        yes = box is not None and box.clickedButton() is box.button(QMessageBox.StandardButton.Yes)
        if box is not None:
            box.deleteLater()
        self.activateWindow()
        self.setFocus()
        return yes

    def leave(self) -> None:
        """Esc: ask whether to end the rating session (answers are stored already)."""
        if self.leave_box is not None or self.confirm is not None:
            return
        self.leave_box = self._ask(
            "End rating",
            "End this rating session? Your answers so far are saved; the window closes.",
            "&Yes, end",
            self._leave_answered,
        )

    @Slot(int)
    def _leave_answered(self, result: int) -> None:
        box, self.leave_box = self.leave_box, None
        if self._answered_yes(box):
            self._leaving = True
            self.close()

    @Slot(int)
    def _confirmed(self, result: int) -> None:
        box, self.confirm = self.confirm, None
        if not self._answered_yes(box):
            return
        try:
            self.session.submit()
        except DiffGenError as e:
            self.message.setText(str(e))
            return
        self.refresh()

    def _save_comment(self) -> None:
        if self.session.finished() or self.session.submitted:
            return
        text = self.comment.text().strip()
        if text != self.session.answer().comment:
            try:
                self.session.comment(text)
            except DiffGenError as e:
                self.message.setText(str(e))
        if self.comment.hasFocus():
            self.setFocus()

    # -- display ---------------------------------------------------------------------
    def refresh(self) -> None:
        s = self.session
        finished = s.finished() or s.submitted
        self.progress.setText(f"{s.total} / {s.total}" if finished else s.progress_text())
        self.answered.setText(f"{s.complete_count} answered")
        for w in (self.image, self.mask_picture, *self.captions, self.scale_label, self.overlay_label, self.overlay):
            w.setVisible(not finished)
        self.done_label.setVisible(finished)
        if s.submitted:
            self.done_label.setText("Thank you: your answers are submitted. Press Esc to end the session.")
        elif finished:
            self.done_label.setText(
                f"All {s.total} items are answered.\nPress S to submit (answers are then "
                "final) or ← to go back and change an answer."
            )
        else:
            s.mark_shown()
            self._show_pictures()
            if s.feedback():
                self.message.setText(s.feedback())
        ans = s.answer() if not finished else None
        for q, buttons in self.buttons.items():
            for value, b in buttons.items():
                b.setChecked(ans is not None and ans.values.get(q) == value)
                b.setEnabled(not finished)
        self.comment.setEnabled(not finished)
        self.comment.setText(ans.comment if ans else "")
        self.back_button.setEnabled(not s.submitted and s.index > 0)
        self.next_button.setEnabled(not finished)
        self.submit_button.setEnabled(not s.submitted and s.complete_count == s.total)

    @Slot()
    def _show_pictures(self) -> None:
        """The current item's image (with the mask over it at the slider's opacity) and mask,
        and a line that says at what size they are shown."""
        if self.session.finished() or self.session.submitted:
            return
        image, mask = QPixmap(str(self.session.current.image_path)), QPixmap(str(self.session.current.mask_path))
        opacity = self.overlay.value()
        self.overlay_label.setText(f"Mask over image: {opacity}%")
        self.image.show_pixmap(overlaid(image, mask, opacity / 100))
        self.mask_picture.show_pixmap(mask)
        self._say_scale()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)  # the layout has resized the pictures already
        self._say_scale()

    def _say_scale(self) -> None:
        shown, side = self.image.magnification, self.image.native
        how = f"enlarged {shown:g}× pixel for pixel (nearest neighbour)" if shown >= 1 else f"shrunk to {shown:.0%} to fit"
        self.scale_label.setText(f"Items are {side.width()} × {side.height()} px, {how}.")

    def show_full_screen(self, screen: QScreen | None = None) -> None:
        """Full screen on ``screen`` (the app's, else the primary one), also without a window
        manager (which alone would honour the full-screen state: the window kept its default size)."""
        self.setGeometry((screen or QGuiApplication.primaryScreen()).geometry())
        self.showFullScreen()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._say_scale()
        self.activateWindow()
        self.setFocus()

    def _key_actions(self) -> dict[int, Callable[[], object]]:
        """Every key of the rater table, bound to what the table says it does."""
        acts: dict[int, Callable[[], object]] = {}
        does = {"back": self.back, "next": self.next, "comment": self.start_comment, "submit": self.submit, "end": self.leave}
        for question in self.session.template.questions:
            for answer in question.answers:
                for k in qt_keys(answer.key):
                    acts[k] = partial(self.give, question.name, answer.value)
        for command in commands(desktop=True):
            for key in command.keys:
                for k in qt_keys(key):
                    acts[k] = does[command.name]
        return acts

    def start_comment(self) -> None:
        if self.comment.isEnabled():
            self.comment.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        act = self.key_actions.get(event.key())
        if act is None or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(event)
        else:
            act()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        """Closing by any way (the window manager's button, Alt+F4) asks first, as Esc does."""
        if not self._leaving:
            event.ignore()
            self.leave()
            return
        self._save_comment()
        self.closed.emit()
        super().closeEvent(event)
