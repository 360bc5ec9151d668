"""Every preset value has a declared type and range, checked where it arrives (issue 28, item 4).

A preset file, a ``--set`` override, a queued job's parameters and the CLI's numbers are
refused with the field, the value and the allowed range, before anything is built or
allocated; the real CLI says so in one line (no traceback) and stays small doing it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import get_args, get_type_hints

import numpy as np
import pytest
from child_memory import BOMB_LIMIT_MB, run_cli

from backend.config.fields import RANGE, declared
from backend.config.presets import SECTIONS, apply_overrides, from_section, load_preset, preset_names
from backend.errors import BadInputError
from backend.masks.ops import apply_operation
from backend.survey.model import SurveyParams

# (--set value, the field as named in the message, the value as shown, the range as shown)
BAD_VALUES = [
    ("train.batch_size=1e9", "train.batch_size", "1e+09", "an integer in 1..4096"),
    ("train.batch_size=0", "train.batch_size", "0", "an integer in 1..4096"),
    ("train.lr=Infinity", "train.lr", "inf", "a finite number in 1e-08..1"),
    ("train.lr=NaN", "train.lr", "nan", "a finite number in 1e-08..1"),
    ("train.ema_rate=2", "train.ema_rate", "2", "a finite number in 0..1"),
    ("train.save_interval=0", "train.save_interval", "0", "an integer in 1..100000000 steps"),
    ("train.steps=-1", "train.steps", "-1", "an integer in 1..100000000 steps"),
    ("train.hflip=3", "train.hflip", "3", "true or false"),
    ("diffusion.diffusion_steps=1e9", "diffusion.diffusion_steps", "1e+09", "an integer in 1..100000 steps"),
    ("model.num_res_blocks=100000", "model.num_res_blocks", "100000", "an integer in 1..8"),
    ("model.num_channels=896", "model.num_channels", "896", "an integer in 32..512"),
    ("model.channel_mult=[1,2,1000]", "model.channel_mult", "[1, 2, 1000]", "a list of at most 8 values"),
    ("inpaint.samples=1000000000", "inpaint.samples", "1000000000", "an integer in 1..1000"),
    ("inpaint.dilate=1000000", "inpaint.dilate", "1000000", "an integer in 0..1024 px"),
    ("inpaint.batch_size=0", "inpaint.batch_size", "0", "an integer in 1..4096"),
    ("inpaint.jump_n_sample=1.5", "inpaint.jump_n_sample", "1.5", "an integer in 1..1000"),
    ("style.lambda_vgg=-1", "style.lambda_vgg", "-1", "a finite number in 0..1e+09"),
    ("style.dino_size=100000", "style.dino_size", "100000", "an integer in 16..1024 px"),
    ("cluster.k=0", "cluster.k", "0", "an integer in 1..10000"),
    ("segment.epochs=0", "segment.epochs", "0", "an integer in 1..100000"),
    ("segment.seeds=[-1]", "segment.seeds", "[-1]", "a list of at most 100 values"),
    ("gates.max_seam=5", "gates.max_seam", "5", "a finite number in 0..1"),
]


def _expect(message: str, field: str, shown: str, allowed: str) -> None:
    assert field in message and shown in message and allowed in message, message
    assert "out of bounds" in message


@pytest.mark.parametrize(("override", "field", "shown", "allowed"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_a_bad_set_value_is_refused_with_field_value_and_range(override, field, shown, allowed):
    with pytest.raises(BadInputError) as e:
        apply_overrides(load_preset("tiny"), [override])
    _expect(str(e.value), f"--set {field}", shown, allowed)


def _preset_file(tmp_path, override: str):
    """The same value written into a preset file that inherits ``tiny``."""
    key, _, value = override.partition("=")
    section, _, field = key.partition(".")
    value = {"Infinity": "inf", "NaN": "nan", "1e9": "1e9"}.get(value, value)
    p = tmp_path / "bad.toml"
    p.write_text(f'inherits = "tiny"\n\n[{section}]\n{field} = {value}\n')
    return p


@pytest.mark.parametrize(("override", "field", "shown", "allowed"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_a_bad_preset_file_value_is_refused_when_the_preset_loads(tmp_path, override, field, shown, allowed):
    p = _preset_file(tmp_path, override)
    with pytest.raises(BadInputError) as e:
        load_preset(str(p))
    _expect(str(e.value), field, shown, allowed)
    assert str(p) in str(e.value)


def test_a_bad_value_reaching_a_section_dataclass_directly_is_refused():
    """A stage builds its section with from_section (a queued job's merged values included)."""
    cls = declared(SECTIONS["inpaint"])
    with pytest.raises(BadInputError, match=r"inpaint\.samples = 0 is out of bounds: it must be an integer in 1\.\.1000"):
        from_section(cls, {"samples": 0}, "inpaint")


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_loads_and_builds_every_section(name):
    preset = load_preset(name)
    for section, ref in SECTIONS.items():
        assert section in preset, f"{name} lacks [{section}]"
        from_section(declared(ref), preset[section], section)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_numeric_preset_field_declares_its_range(section):
    cls = declared(SECTIONS[section])
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kinds = {hints[f.name], *get_args(hints[f.name])}
        if kinds & {int, float} or any(int in get_args(k) or float in get_args(k) for k in kinds):
            lo, hi = f.metadata.get(RANGE, (None, None))
            assert lo is not None and hi is not None and math.isfinite(hi), f"{section}.{f.name} has no range"


def test_a_text_field_keeps_a_number_given_with_set_as_text():
    assert apply_overrides(load_preset("tiny"), ["diffusion.timestep_respacing=25"])["diffusion"]["timestep_respacing"] == "25"


def test_a_preset_that_is_not_utf8_or_not_a_file_is_refused_by_name(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'inherits = "tiny"\n# caf\xe9\n')
    with pytest.raises(BadInputError, match=r"latin\.toml: not UTF-8 text \(byte 23\); save it as UTF-8"):
        load_preset(str(latin))
    folder = tmp_path / "x.toml"
    folder.mkdir()
    with pytest.raises(BadInputError, match=r"x\.toml is not a file"):
        load_preset(str(folder))
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * (2 << 20))
    with pytest.raises(BadInputError, match=r"more than a preset's"):
        load_preset(str(huge))


def test_a_queued_job_value_is_checked_against_its_declared_range():
    with pytest.raises(BadInputError, match=r"survey\.size = 0 is out of bounds: it must be .*an integer in 16\.\.4096 px"):
        SurveyParams.from_dict({"name": "s", "counts": {"real": 1}, "size": 0})
    assert SurveyParams.from_dict({"name": "s", "counts": {"real": 1}, "size": 64}).size == 64


def test_a_mask_operation_radius_is_bounded_before_a_kernel_is_built():
    mask = np.zeros((8, 8), np.uint8)
    for op, params in (("dilate", {"pixels": 10**6}), ("erode", {"pixels": 10**6}), ("smooth", {"radius": 10**6})):
        with pytest.raises(
            BadInputError, match=rf"mask {op}\.pixels = 1000000 is out of bounds: it must be an integer in -1024\.\.1024 px"
        ):
            apply_operation(mask, op, params)
    assert apply_operation(mask, "dilate", {"pixels": 3}).shape == (8, 8)


# The real CLI: one 'error:' line naming field, value and range; no traceback; and for the
# memory bombs of the issue, a small peak (the refusal comes before torch loads).
CLI_CASES = [
    (("train", "-w", "{ws}", "--set", "train.batch_size=1e9"), "train.batch_size = 1e+09", "1..4096", True),
    (("train", "-w", "{ws}", "--set", "train.save_interval=0"), "train.save_interval = 0", "1..100000000", False),
    (("inpaint", "-w", "{ws}", "--all", "--samples", "1000000000"), "inpaint.samples = 1000000000", "1..1000", True),
    (("inpaint", "-w", "{ws}", "--all", "--dilate", "1000000"), "inpaint.dilate = 1000000", "0..1024 px", True),
    (("dilate", "-w", "{ws}", "--pixels", "1000000"), "dilate.pixels = 1000000", "-1024..1024 px", True),
    (("survey", "create", "-w", "{ws}", "--name", "s", "--size", "0"), "survey.size = 0", "16..4096 px", False),
    (("demo-data", "{out}", "--count", "-5"), "demo-data.count = -5", "1..100000", False),
]


@pytest.mark.parametrize(("args", "shown", "allowed", "bomb"), CLI_CASES, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in CLI_CASES])
def test_the_cli_refuses_bad_numbers_in_one_line_and_small(tmp_path, args, shown, allowed, bomb):
    run = run_cli(*(a.format(ws=tmp_path / "ws", out=tmp_path / "demo") for a in args), tmp=tmp_path)
    assert run.rc != 0
    assert "Traceback" not in run.stderr, run.stderr
    assert shown in run.stderr and allowed in run.stderr, run.stderr
    assert re.search(r"^(diffgen [a-z -]+: )?error: ", run.stderr.splitlines()[-1]), run.stderr
    if bomb:
        assert run.peak_mb < BOMB_LIMIT_MB, f"peak {run.peak_mb:.0f} MB"
    assert not (tmp_path / "demo").exists()
