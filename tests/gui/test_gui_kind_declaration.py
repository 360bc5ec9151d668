"""A new job kind is one declaration (issue 29): a parameters dataclass whose fields carry their
label, help, range, unit and choices, plus one registry line, and it appears in the Generate
form (a spin box with its range and unit, a combo box of its choices, a check box, its help as
tooltips) and in the CLI (``diffgen jobs add toy`` with the same flags and range checks), with
no form or CLI code written for it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

from backend.config.fields import param
from backend.jobs import kinds
from backend.jobs.context import JobContext
from backend.jobs.kinds import JobSpec
from backend.jobs.params import JobParams, JobResult
from backend.jobs.queue import JobStore
from diffgen_gui.launcher import main
from diffgen_gui.param_widgets import PRESET_VALUE


@dataclass(frozen=True)
class ToyParams(JobParams):
    """The whole declaration of the toy kind's parameters."""

    steps: int | None = param(None, 2, 9, unit="steps", label="Toy steps", help="how many toy steps", form=True)
    flavour: str = param("sweet", label="Flavour", help="which flavour", choices=("sweet", "sour"), form=True)
    loud: bool = param(False, label="Loud", help="shout each step", form=True)


def run_toy(ws, params: ToyParams, ctx: JobContext) -> JobResult:
    return JobResult(summary=f"{params.steps} {params.flavour} steps")


@pytest.fixture
def toy_kind(monkeypatch):
    """The one registry line."""
    monkeypatch.setitem(kinds.REGISTRY, "toy", JobSpec(f"{__name__}:run_toy", f"{__name__}:ToyParams", "Toy job"))


def test_a_kind_declared_once_is_in_the_form(toy_kind, state, qtbot):
    from diffgen_gui.job_form import JobForm

    f = JobForm(state)
    qtbot.addWidget(f)
    f.kind.setCurrentIndex(f.kind.findData("toy"))
    assert f.kind.currentText() == "Toy job"
    assert {name for name, w in f.rows.items() if f.form.isRowVisible(w)} == {"steps", "flavour", "loud"}
    steps, flavour, loud = f.rows["steps"], f.rows["flavour"], f.rows["loud"]
    assert isinstance(steps, QSpinBox) and isinstance(flavour, QComboBox) and isinstance(loud, QCheckBox)
    assert (steps.minimum(), steps.maximum(), steps.suffix()) == (1, 9, " steps")  # 1: the "preset value" step
    assert steps.text() == PRESET_VALUE and "how many toy steps" in steps.toolTip() and "2..9 steps" in steps.toolTip()
    assert [flavour.itemText(i) for i in range(flavour.count())] == ["sweet", "sour"]
    assert f.form.labelForField(steps).text() == "Toy steps"
    assert f.job_params() == ("toy", {"flavour": "sweet", "loud": False})  # None: left out, not invented
    steps.setValue(0)  # below the range: the spin box refuses it
    assert steps.value() == 1 and f.job_params()[1].get("steps") is None
    steps.setValue(4)
    flavour.setCurrentIndex(1)
    loud.setChecked(True)
    assert f.job_params() == ("toy", {"steps": 4, "flavour": "sour", "loud": True})


def test_a_kind_declared_once_is_in_the_cli_with_its_checks(toy_kind, demo_ws, capsys):
    w = str(demo_ws.root)
    with pytest.raises(SystemExit) as out:
        main(["jobs", "add", "-w", w, "toy", "--help"])
    shown = capsys.readouterr().out
    assert out.value.code == 0 and "--steps STEPS" in shown and "how many toy steps; 2..9 steps" in shown
    assert "--flavour {sweet,sour}" in shown and "--loud" in shown
    for bad, says in (
        (["--steps", "10"], "toy.steps = 10 is out of bounds: it must be an integer in 2..9 steps"),
        (["--steps", "two"], "toy.steps: 'two' is not an integer in 2..9 steps"),
        (["--flavour", "salty"], "invalid choice: 'salty'"),
    ):
        with pytest.raises(SystemExit):
            main(["jobs", "add", "-w", w, "toy", *bad])
        assert says in capsys.readouterr().err, bad
    assert main(["jobs", "add", "-w", w, "toy", "-p", "steps=1"]) == 1  # --param values meet the same declaration
    assert "toy.steps = 1 is out of bounds" in capsys.readouterr().err
    assert JobStore(demo_ws).list() == []
    assert main(["jobs", "add", "-w", w, "toy", "--steps", "3", "--flavour", "sour", "--loud"]) == 0
    (job,) = JobStore(demo_ws).list()
    assert (job.kind, job.params) == ("toy", {"steps": 3, "flavour": "sour", "loud": True})


def test_the_synthesis_declaration_alone_gives_its_form_and_flags(monkeypatch, state, qtbot, capsys):
    """Mask-guided synthesis (its stage lands separately): its registry line and its declared
    parameters are all the form and the flags need; its None fields start from the preset."""
    import argparse

    from backend.cli.flags import add_param_flags
    from backend.config.presets import load_preset
    from backend.synthesis.params import SynthesizeParams
    from diffgen_gui.job_form import JobForm

    monkeypatch.setitem(
        kinds.REGISTRY,
        "synthesize",
        JobSpec("backend.synthesis.generator:run_synthesize", "backend.synthesis.params:SynthesizeParams", "Synthesize"),
    )
    f = JobForm(state)
    qtbot.addWidget(f)
    f.kind.setCurrentIndex(f.kind.findData("synthesize"))
    f.preset.setCurrentText("tiny")
    shown = {name for name, w in f.rows.items() if f.form.isRowVisible(w)}
    rows = {"images", "backgrounds", "beside_polyps", "samples", "model", "preset", "dilate", "sampler", "device"}
    assert shown == rows | {"synthesis_contrast"}
    tiny = load_preset("tiny")["inpaint"]
    kind, params = f.job_params()
    assert kind == "synthesize" and (params["samples"], params["dilate"]) == (tiny["samples"], tiny["dilate"])
    assert (params["backgrounds"], params["beside_polyps"]) == (False, False)  # not the preset's: their own defaults
    assert params["sampler"] == tiny["sampler"] == "repaint"  # shown from the preset like samples and dilate
    assert params["synthesis_contrast"] == tiny["synthesis_contrast"] == 0.5
    p = argparse.ArgumentParser()
    add_param_flags(p, SynthesizeParams)
    assert p.parse_args(["--polyps", "1-3", "--masks", "drawn"]).polyps == (1, 3)
    with pytest.raises(SystemExit):
        p.parse_args(["--polyps", "1-9"])
    assert "--polyps: '1-9' must be A-B with 1 <= A <= B <= 8" in capsys.readouterr().err


def test_the_form_restores_a_kinds_last_values_and_survives_a_hand_edited_file(toy_kind, state, qtbot):
    """The last values come back from the settings file (a field's own value always, one left to
    the preset only on the same preset); a value the widget cannot show leaves its default."""
    from diffgen_gui.job_form import JobForm
    from diffgen_gui.prefs import save_pref

    def form() -> JobForm:
        f = JobForm(state)
        qtbot.addWidget(f)
        return f

    save_pref("generate", {"kind": "toy", "preset": "tiny", "values": {"steps": "lots", "flavour": "sour", "loud": True}})
    f = form()
    assert f.preset.currentText() == "tiny" and f.kind.currentData() == "toy"
    assert f.job_params() == ("toy", {"flavour": "sour", "loud": True})  # "lots" steps: still "preset value"
    save_pref("generate", {"kind": "toy", "preset": "tiny", "values": {"steps": 5, "loud": False}})
    assert form().job_params() == ("toy", {"steps": 5, "flavour": "sweet", "loud": False})
    save_pref("generate", {"kind": "toy", "preset": "tiny", "values": ["not", "a", "mapping"]})
    assert form().job_params() == ("toy", {"flavour": "sweet", "loud": False})
