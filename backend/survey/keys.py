"""The survey rater's keys: one table for the desktop window and the web page.

The answer buttons (their keys from the survey's template), the on-screen hint, Help > Keyboard
shortcuts and the key handling of both raters all read this table, so what a rater is told and
what a key does cannot disagree.
The keys are chosen so that none means something else elsewhere in the app (issue 35): Review
decides with K / R / U and moves with N, the mask editor's tools sit on B, E, F, H and P and Space
belongs to Review's large view, so every answer is a digit (1 is also the editor's "actual
pixels", a view key, never an edit).
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.survey.template import DEFAULT, Answer, Question

# the questions' keys come with the survey's template (``backend.survey.template``); these are
# the default template's, which Help > Keyboard shortcuts lists
QUESTIONS = DEFAULT.questions


@dataclass(frozen=True)
class Command:
    name: str
    keys: tuple[str, ...]  # a printable character, or one of NAMED
    does: str
    desktop_only: bool = False  # the web page cannot close its own tab


COMMANDS = (
    Command("back", ("Left", "Backspace"), "Previous item"),
    Command("next", ("Right", "Enter"), "Next item (once its questions are answered)"),
    Command("comment", ("C",), "Write a comment (Enter saves it)"),
    Command("submit", ("S",), "Submit every answer (asks first)"),
    Command("end", ("Escape",), "End the rating session (asks first; answers are saved as you go)", desktop_only=True),
)
NAMED = {"Left": "←", "Right": "→", "Enter": "Enter", "Backspace": "Backspace", "Escape": "Esc"}


def shown(key: str) -> str:
    """A key as people read it (arrows as arrows)."""
    return NAMED.get(key, key.upper())


def commands(desktop: bool) -> tuple[Command, ...]:
    return tuple(c for c in COMMANDS if desktop or not c.desktop_only)


def hint(desktop: bool, questions: tuple[Question, ...] = QUESTIONS) -> str:
    """The line under the rater's buttons: every key, in the table's order."""
    parts = ["/".join(shown(a.key) for a in q.answers) + " " + q.title.rstrip("?").lower() for q in questions]
    parts += ["/".join(map(shown, c.keys)) + " " + c.name for c in commands(desktop)]
    return "Keys: " + " · ".join(parts)


def button_text(answer: Answer) -> str:
    return f"{shown(answer.key)}  {answer.label}"
