"""Light and dark themes: a palette, and a style sheet whose colours come from that palette.

The style sheet (``resources/style.qss``) names no text colour of its own: ``$hint``,
``$banner`` and the rest are mixed from the palette in use, so every text stays readable
under the system palette, the light one and the dark one. Status colours (keep, reject,
job states) are backgrounds; the text on them is chosen for contrast (:func:`text_on`).
"""

from __future__ import annotations

from string import Template

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from backend.config.paths import resource

THEMES = {"system": "System", "light": "Light", "dark": "Dark"}
R = QPalette.ColorRole
LIGHT = {
    R.Window: "#efefef",
    R.WindowText: "#1b1d20",
    R.Base: "#ffffff",
    R.AlternateBase: "#f4f5f6",
    R.Text: "#1b1d20",
    R.Button: "#e6e7e9",
    R.ButtonText: "#1b1d20",
    R.Highlight: "#5b3fa6",  # a selection is violet: no job state or decision is (a green one read as "done")
    R.HighlightedText: "#ffffff",
    R.ToolTipBase: "#ffffdc",
    R.ToolTipText: "#1b1d20",
    R.PlaceholderText: "#6b7178",
    R.Link: "#1d5fa8",
    R.BrightText: "#ffffff",
    R.Light: "#ffffff",
    R.Midlight: "#e3e4e6",
    R.Mid: "#b9bec4",
    R.Dark: "#9da3a9",
    R.Shadow: "#5a5f64",
}
DARK = {
    R.Window: "#25282c",
    R.WindowText: "#e4e6e8",
    R.Base: "#1c1e21",
    R.AlternateBase: "#2a2d31",
    R.Text: "#e4e6e8",
    R.Button: "#33373c",
    R.ButtonText: "#e4e6e8",
    R.Highlight: "#6a4fb5",
    R.HighlightedText: "#ffffff",
    R.ToolTipBase: "#33373c",
    R.ToolTipText: "#e4e6e8",
    R.PlaceholderText: "#9aa0a6",
    R.Link: "#7fb3f0",
    R.BrightText: "#ffffff",
    R.Light: "#4a4f55",
    R.Midlight: "#3a3e43",
    R.Mid: "#2e3135",
    R.Dark: "#17191b",
    R.Shadow: "#0d0e0f",
}
ACCENTS = {
    "accent": "#2f6f4f",
    "warning": "#c88a12",
    "error": "#d0342c",
    "keep": "#2f8f5f",
    "reject": "#c0392b",
    "undecided": "#6b7178",
    "running": "#3b82c4",
    "done": "#2f8f5f",
    "failed": "#c0392b",
    "cancelled": "#8a8a8a",
    "interrupted": "#d08a1e",
    "queued": "#bbbbbb",
}
FONT_PT = 10.0
_system_palette: QPalette | None = None


def luminance(c: QColor) -> float:
    """WCAG relative luminance."""

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """``a`` moved ``t`` of the way to ``b``."""
    return QColor.fromRgbF(*(x + (y - x) * t for x, y in zip(_rgb(a), _rgb(b))))


def _rgb(c: QColor) -> tuple[float, float, float]:
    return c.redF(), c.greenF(), c.blueF()


def text_on(background: str | QColor) -> QColor:
    """Black or white, whichever reads better on ``background``."""
    bg = QColor(background)
    black, white = QColor("#000000"), QColor("#ffffff")
    return black if contrast(bg, black) >= contrast(bg, white) else white


def readable(colour: str | QColor, background: QColor, minimum: float = 4.5) -> QColor:
    """``colour`` moved towards the palette's text colour until it reads on ``background``."""
    c, towards = QColor(colour), text_on(background)
    for step in range(11):
        candidate = mix(c, towards, step / 10)
        if contrast(candidate, background) >= minimum:
            return candidate
    return towards


def palette_for(name: str) -> QPalette:
    if name == "system":
        assert _system_palette is not None
        return QPalette(_system_palette)
    pal = QPalette()
    for role, colour in (DARK if name == "dark" else LIGHT).items():
        pal.setColor(role, QColor(colour))
    for role in (R.WindowText, R.Text, R.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, mix(pal.color(role), pal.color(R.Window), 0.55))
    return pal


def style_sheet(pal: QPalette) -> str:
    """``resources/style.qss`` with its colours taken from ``pal``."""
    window, text = pal.color(R.Window), pal.color(R.WindowText)
    accent = QColor(ACCENTS["accent"])
    colours = {
        "hint": readable(mix(text, window, 0.35), window),
        "warning": readable(ACCENTS["warning"], window),
        "error": readable(ACCENTS["error"], window),
        "banner": mix(window, QColor(ACCENTS["warning"]), 0.22),
        "banner_border": mix(window, QColor(ACCENTS["warning"]), 0.6),
        "badge": mix(window, QColor(ACCENTS["warning"]), 0.35),  # a failed quality gate (Review tiles)
        "badge_border": mix(window, QColor(ACCENTS["warning"]), 0.8),
        "border": mix(window, text, 0.3),
        "accent": accent,
        "on_accent": text_on(accent),
        # a disabled primary button looks like the other disabled buttons (light text on dark green
        # read as enabled under the dark palette), with a trace of the accent
        "accent_disabled": mix(accent, pal.color(R.Button), 0.8),
        "on_accent_disabled": pal.color(QPalette.ColorGroup.Disabled, R.ButtonText),
    }
    base = pal.color(R.Base)
    colours |= {"base": base, "indicator_border": mix(window, text, 0.55)}  # the style's outline vanishes on dark
    check = resource("icons", f"check-{'dark' if text_on(base) == QColor('#000000') else 'light'}.svg")
    return Template(resource("style.qss").read_text()).substitute(
        {k: v.name() for k, v in colours.items()} | {"check": check.as_posix()}
    )


def apply_theme(app: QApplication, name: str) -> None:
    """Use the ``name``d theme (``system``: the palette the platform gave the app)."""
    begin_theme(app, name)
    finish_theme(app, name)


def begin_theme(app: QApplication, name: str) -> None:
    """The first half of a theme switch: no style sheet, then the palette. Through no style sheet
    Qt restyles each widget once (a sheet replacing a sheet restyles each widget once per
    ancestor: 0.8-3.6 s for the window, issue 35), and the halves can run in two turns of the
    event loop (``MainWindow.set_theme``) so that neither stalls it for long."""
    global _system_palette
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}; known: {', '.join(THEMES)}")
    if _system_palette is None:
        _system_palette = QPalette(app.palette())
    app.setStyleSheet("")
    app.setPalette(palette_for(name))
    if app.font().pointSizeF() != FONT_PT:  # the app's, not the sheet's: no rule then matches every widget
        font = app.font()
        font.setPointSizeF(FONT_PT)
        app.setFont(font)


def finish_theme(app: QApplication, name: str) -> None:
    """The second half: the style sheet mixed from the palette ``begin_theme`` set."""
    app.setStyleSheet(style_sheet(app.palette()))
    app.setProperty("diffgen_theme", name)


def current_theme(app: QApplication) -> str:
    return app.property("diffgen_theme") or "system"


def status_colour(name: str) -> QColor:
    """Background colour of a decision or job state."""
    return QColor(ACCENTS[name])


def gui_app() -> QApplication:
    """The running QApplication (QApplication.instance() is typed as a plain QCoreApplication)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("the GUI needs a running QApplication")
    return app
