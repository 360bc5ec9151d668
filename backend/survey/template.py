"""The survey's questions, from a template (issue 32 item 10).

A survey asks what its template says: by default the paper's two Good/Moderate/Poor scales and
real/fake; a TOML file given at creation (``diffgen survey create --questions FILE``) can ask
other things (CEMIS's realism or clinical utility on a Likert scale, ...) with no code change.
The template is copied into the survey's folder as ``questions.toml``; a survey made before
templates has none there and asks the default questions. The desktop rater, the web page, the
stored answers, the CSVs, the report and the statistics all read the questions from here.

A template from outside is untrusted: every name, count, length and choice is checked, and a
problem is a message naming the file and the field. Format::

    [[question]]
    name = "realism"                 # stored and in CSV columns: a-z, 0-9, _ (at most 32)
    title = "How realistic is the image?"
    short = "Realism"                # column heading in tables (default: the title)
    scale = "ordinal"                # answers in order (weighted kappa, ordinal alpha) or "nominal"
    likert = 5                       # answers "1".."5" (labels = [...] optional), or:
    # answers = [{ value = "good", label = "Good", key = "1" }, ...]
    # truth = true                   # the real/fake question (values "real" and "fake")

Keys are digits, then letters that mean nothing else in the app; given or handed out in order.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backend.errors import BadInputError

TEMPLATE_FILE = "questions.toml"
MAX_BYTES = 64 * 1024
MAX_QUESTIONS = 8
MIN_ANSWERS, MAX_ANSWERS = 2, 10
TITLE_LIMIT, LABEL_LIMIT, SHORT_LIMIT = 80, 40, 24
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_VALUE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# digits, then letters no view of the app uses (Review K R U N O L M, the editor B E F H P, the
# rater's C and S, its dialog's Y and N): a rater's key means one thing everywhere (issue 35)
KEY_POOL = tuple("1234567890") + tuple("adgijqtvwxz")
# names that are CSV columns of their own
RESERVED_NAMES = frozenset({"rater", "item", "comment", "truth", "simulated", "calibration"})
SCALES = ("ordinal", "nominal")
_QUESTION_FIELDS = {"name", "title", "short", "scale", "answers", "likert", "labels", "truth"}
_ANSWER_FIELDS = {"value", "label", "key"}


@dataclass(frozen=True)
class Answer:
    key: str  # one printable character, as printed on the button
    value: str  # as stored
    label: str  # as shown


@dataclass(frozen=True)
class Question:
    name: str  # as stored
    title: str  # as shown
    answers: tuple[Answer, ...]
    scale: str = "ordinal"  # "ordinal": the answers are in order; "nominal": they are not
    short: str = ""  # table heading (default: the title)
    truth: bool = False  # the real/fake question, scored against each item's truth

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(a.value for a in self.answers)

    @property
    def heading(self) -> str:
        return self.short or self.title.rstrip("?")


@dataclass(frozen=True)
class Template:
    questions: tuple[Question, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.questions)

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise BadInputError(f"unknown question {name!r}; questions: {', '.join(self.names)}")

    @property
    def truth_question(self) -> Question | None:
        return next((q for q in self.questions if q.truth), None)

    def complete(self, values: Mapping[str, str | None]) -> bool:
        return all(values.get(n) is not None for n in self.names)

    def check(self, name: str, value: str | None) -> str | None:
        """An answer in its stored form (its value, or its label: 'Good' -> 'good',
        'synthetic' -> 'fake'), or a clear error."""
        q = self.question(name)
        if value is None:
            return None
        v = str(value).strip().lower()
        for a in q.answers:
            if v in (a.value, a.label.lower()):
                return a.value
        raise BadInputError(f"{value!r} is not a valid answer to {name} (one of {', '.join(q.values)})")


def _quality(name: str, title: str, short: str, keys: str) -> Question:
    labels = ("Good", "Moderate", "Poor")
    return Question(name, title, tuple(Answer(k, lab.lower(), lab) for k, lab in zip(keys, labels)), "ordinal", short)


# the paper's questions (Table 7): what a survey without a template asks
DEFAULT = Template(
    (
        _quality("image_quality", "Image quality", "Image", "123"),
        _quality("mask_quality", "Segmentation quality", "Segmentation", "456"),
        Question(
            "real_fake",
            "Real or synthetic?",
            (Answer("7", "real", "Real"), Answer("8", "fake", "Synthetic")),
            "nominal",
            "Real or synthetic",
            truth=True,
        ),
    )
)


def _text(where: str, field: str, value: object, limit: int, pattern: re.Pattern | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{where}: field '{field}' must be non-empty text")
    value = value.strip()
    if len(value) > limit:
        raise BadInputError(f"{where}: field '{field}' is {len(value)} characters long (at most {limit})")
    if any(ord(ch) < 32 for ch in value) or "|" in value:  # '|' would split a report's table cell
        raise BadInputError(f"{where}: field '{field}' holds a control character or '|'")
    if pattern is not None and not pattern.fullmatch(value):
        raise BadInputError(f"{where}: field '{field}' is {value!r}: use lower-case a-z, 0-9 and _ (at most 32)")
    return value


def _answers(where: str, raw: dict) -> list[tuple[str, str, str | None]]:
    """(value, label, key or None) of one question, from ``answers`` or ``likert``."""
    if ("answers" in raw) == ("likert" in raw):
        raise BadInputError(f"{where}: give either field 'answers' or field 'likert' (a number of points)")
    if "likert" in raw:
        n = raw["likert"]
        if not isinstance(n, int) or isinstance(n, bool) or not MIN_ANSWERS <= n <= MAX_ANSWERS:
            raise BadInputError(f"{where}: field 'likert' must be a whole number from {MIN_ANSWERS} to {MAX_ANSWERS}")
        labels = raw.get("labels", [str(i) for i in range(1, n + 1)])
        if not isinstance(labels, list) or len(labels) != n:
            raise BadInputError(f"{where}: field 'labels' must list {n} labels, one per point")
        return [(str(i + 1), _text(where, f"labels[{i}]", lab, LABEL_LIMIT), None) for i, lab in enumerate(labels)]
    if "labels" in raw:
        raise BadInputError(f"{where}: field 'labels' goes with 'likert'; with 'answers' give each answer a label")
    given = raw["answers"]
    if not isinstance(given, list) or not MIN_ANSWERS <= len(given) <= MAX_ANSWERS:
        raise BadInputError(f"{where}: field 'answers' must list {MIN_ANSWERS} to {MAX_ANSWERS} answers")
    out = []
    for i, a in enumerate(given):
        at = f"{where} answers[{i}]"
        if not isinstance(a, dict):
            raise BadInputError(f'{at}: an answer is a table such as {{ value = "good", label = "Good" }}')
        if unknown := set(a) - _ANSWER_FIELDS:
            raise BadInputError(f"{at}: unknown field(s) {', '.join(sorted(unknown))} (known: value, label, key)")
        key = None
        if "key" in a:
            key = _text(at, "key", a["key"], 1).lower()
            if key not in KEY_POOL:
                raise BadInputError(f"{at}: field 'key' is {key!r}; keys: {' '.join(KEY_POOL)} (other keys mean something else)")
        out.append((_text(at, "value", a.get("value"), 32, _VALUE), _text(at, "label", a.get("label"), LABEL_LIMIT), key))
    return out


def parse_template(text: str, source: str) -> Template:
    """The template in ``text`` (TOML), every field checked; ``source`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadInputError(f"{source}: not valid TOML ({e})") from None
    if unknown := set(data) - {"question"}:
        raise BadInputError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}; questions go in [[question]] tables")
    raw_questions = data.get("question")
    if not isinstance(raw_questions, list) or not 1 <= len(raw_questions) <= MAX_QUESTIONS:
        raise BadInputError(f"{source}: give 1 to {MAX_QUESTIONS} questions as [[question]] tables")
    parsed, names = [], set()
    for n, raw in enumerate(raw_questions, start=1):
        where = f"{source}: question {n}"
        if unknown := set(raw) - _QUESTION_FIELDS:
            known = ", ".join(sorted(_QUESTION_FIELDS))
            raise BadInputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} (known: {known})")
        name = _text(where, "name", raw.get("name"), 32, _NAME)
        where = f"{source}: question {n} ({name})"
        if name in RESERVED_NAMES or name in names:
            raise BadInputError(f"{where}: field 'name' {name!r} is " + ("used twice" if name in names else "reserved"))
        names.add(name)
        title = _text(where, "title", raw.get("title"), TITLE_LIMIT)
        short = _text(where, "short", raw["short"], SHORT_LIMIT) if "short" in raw else ""
        scale = raw.get("scale", "ordinal")
        if scale not in SCALES:
            raise BadInputError(f"{where}: field 'scale' must be one of {', '.join(SCALES)}, not {scale!r}")
        truth = raw.get("truth", False)
        if not isinstance(truth, bool):
            raise BadInputError(f"{where}: field 'truth' must be true or false")
        answers = _answers(where, raw)
        values = [v for v, _, _ in answers]
        if len(set(values)) != len(values):
            raise BadInputError(f"{where}: field 'answers' gives a value twice")
        if truth and (sorted(values) != ["fake", "real"] or scale != "nominal"):
            raise BadInputError(f"{where}: a truth question is nominal with exactly the values 'real' and 'fake'")
        parsed.append((name, title, short, scale, truth, answers))
    if sum(p[4] for p in parsed) > 1:
        raise BadInputError(f"{source}: only one question may be the truth question (truth = true)")
    return Template(tuple(_with_keys(source, parsed)))


def _with_keys(source: str, parsed: list) -> list[Question]:
    """Questions with every answer's key: the given ones, the rest handed out from the pool."""
    given = [k for *_, answers in parsed for _, _, k in answers if k]
    if len(set(given)) != len(given):
        raise BadInputError(f"{source}: a key is given to two answers")
    free = [k for k in KEY_POOL if k not in given]
    needed = sum(1 for *_, answers in parsed for _, _, k in answers if not k)
    if needed > len(free):
        raise BadInputError(f"{source}: {needed + len(given)} answers in all but only {len(KEY_POOL)} keys; ask fewer")
    out = []
    for name, title, short, scale, truth, answers in parsed:
        out.append(Question(name, title, tuple(Answer(k or free.pop(0), v, lab) for v, lab, k in answers), scale, short, truth))
    return out


def read_template(path: Path) -> Template:
    """A template file, checked (size first: a template is a few lines)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BadInputError(f"cannot read the questions template {path}: {e.strerror or e}") from None
    if size > MAX_BYTES:
        raise BadInputError(f"{path}: {size} bytes; a questions template is at most {MAX_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(f"{path}: not UTF-8 text; save the template as UTF-8") from None
    return parse_template(text, str(path))


def template_toml(template: Template) -> str:
    """The template as TOML (written into each survey's folder, read back by ``parse_template``)."""
    out = []
    for q in template.questions:
        out += ["[[question]]", f"name = {_toml(q.name)}", f"title = {_toml(q.title)}"]
        out += [f"short = {_toml(q.short)}"] if q.short else []
        out += [f"scale = {_toml(q.scale)}"] + (["truth = true"] if q.truth else []) + ["answers = ["]
        out += [f"  {{ value = {_toml(a.value)}, label = {_toml(a.label)}, key = {_toml(a.key)} }}," for a in q.answers]
        out += ["]", ""]
    return "\n".join(out)


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for the characters a template allows)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
