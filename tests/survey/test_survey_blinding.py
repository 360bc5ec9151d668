"""Survey blinding (issue 14): codes and order from secrets, files that do not follow the kind,
one processing for real and synthetic items, names that are safe folder names."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from survey_support import _png_chunks

from backend import survey as sv
from backend.cli import main as cli_main
from backend.errors import BadInputError
from backend.survey.report import compute_results, results_markdown

COUNTS = {"real": 10, "inpainted": 10, "styled": 10}
OLD_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"


def _attack(seed: int, counts: dict[str, int], pool: dict[str, int]) -> dict[str, str]:
    """code -> kind, replaying how codes were made before the fix: draw, order and codes all
    came from one generator of the survey's seed, so the seed alone gave every item's truth."""
    rng = np.random.default_rng(seed)
    kinds = []
    for kind, n in counts.items():
        rng.choice(pool[kind], n, replace=False)
        kinds += [kind] * n
    order = rng.permutation(len(kinds))
    codes: list[str] = []
    while len(codes) < len(kinds):
        code = "".join(rng.choice(list(OLD_ALPHABET), 6))
        if code not in codes:
            codes.append(code)
    return {code: kinds[i] for code, i in zip(codes, order)}


def test_the_seed_does_not_give_away_the_codes(ws):
    s = sv.create_survey(ws, sv.SurveyConfig("default", COUNTS))
    # the attack gets the recorded seed (0 by default before the fix)
    guessed = _attack(s.seed, COUNTS, {"real": 12, "inpainted": 12, "styled": 12})
    truth = {i["code"]: i["truth"] for i in sv.items(ws, s)}
    assert not guessed.keys() & truth.keys()
    other = sv.create_survey(ws, sv.SurveyConfig("default-2", COUNTS))
    assert s.seed != other.seed  # a random draw seed unless one is given, recorded
    assert ws.query("SELECT seed FROM surveys WHERE name = 'default-2'")[0][0] == other.seed


def test_same_seed_same_draw_but_new_codes(ws):
    a, b = (sv.create_survey(ws, sv.SurveyConfig(name, COUNTS, seed=5)) for name in ("a", "b"))
    ia, ib = sv.items(ws, a), sv.items(ws, b)
    drawn = lambda its: sorted((i["truth"], i["image_id"] or 0, i["sample_id"] or 0) for i in its)  # noqa: E731
    assert drawn(ia) == drawn(ib)  # the draw is reproducible ...
    assert not {i["code"] for i in ia} & {i["code"] for i in ib}  # ... the codes are not
    assert a.params["folder"] != b.params["folder"]
    tables = []
    for s in (a, b):  # simulated raters stay reproducible: they follow the draw, not the codes
        sv.simulate_raters(ws, s, n_raters=2, seed=3)
        tables.append([r.cells() for r in compute_results(ws, s, n_boot=10).tables["simulated-1 (simulated)"]])
    assert tables[0] == tables[1]


def test_ids_files_and_file_times_follow_the_codes_not_the_kind(ws, survey):
    its = sv.items(ws, survey)
    codes = [i["code"] for i in its]
    assert codes == sorted(codes)  # item ids (insertion order) follow the random codes
    folder = ws.path(survey.params["folder"])
    files = sorted(f for f in folder.iterdir() if f.name != "questions.toml")  # CODE.png < CODE_mask.png
    assert [f.name for f in files] == [f"{c}{s}.png" for c in codes for s in ("", "_mask")]
    times = [f.stat().st_mtime_ns for f in files]
    assert times == sorted(times)  # written in code order: times add nothing to the names


def _lowres_samples(ws) -> None:
    """A 'lowres' sample of every usable image: the image itself at half resolution."""
    for rec in ws.images("flagged = 0"):
        img, mask = ws.read_image(rec), ws.read_mask(rec.current_mask_id)
        ws.add_sample(
            "lowres",
            "Low",
            cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA),
            cv2.resize(mask, (32, 32), interpolation=cv2.INTER_NEAREST),
            source_image_id=rec.id,
        )


def test_real_and_synthetic_items_get_the_same_processing(ws):
    for image_id in ws.image_ids()[10:]:  # 10 usable images: the survey shows each, real and low-res
        ws.set_flag(image_id, True, "not in this survey")
    _lowres_samples(ws)
    s = sv.create_survey(ws, sv.SurveyConfig("same", {"real": 10, "lowres": 10}, size=64))
    its = sv.items(ws, s)
    real = {i["image_id"]: i for i in its if i["truth"] == "real"}
    source = {r.id: r.source_image_id for r in ws.samples("lowres")}
    pairs = [(real[source[i["sample_id"]]], i) for i in its if i["truth"] == "lowres"]
    assert len(pairs) == 10
    for r, syn in pairs:  # the same picture gives the same bytes, whether real or synthetic
        for key in ("image_path", "mask_path"):
            assert ws.path(r[key]).read_bytes() == ws.path(syn[key]).read_bytes()
    for it in its:
        for key, colour in (("image_path", 2), ("mask_path", 0)):
            data = ws.path(it[key]).read_bytes()
            assert _png_chunks(data) == [b"IHDR", b"IDAT", b"IEND"]  # one IDAT, no metadata
            assert data[16:26] == (64).to_bytes(4, "big") * 2 + bytes([8, colour])  # size, depth, mode
    img = cv2.imread(str(ws.path(pairs[0][0]["image_path"])), cv2.IMREAD_UNCHANGED)
    assert img.shape == (64, 64, 3)


def test_blinded_png_decodes_to_the_pixels(tmp_path):
    rng = np.random.default_rng(0)
    for arr in (rng.integers(0, 256, (17, 9, 3), dtype=np.uint8), rng.integers(0, 256, (5, 7), dtype=np.uint8)):
        (tmp_path / "x.png").write_bytes(sv.encode_blinded_png(arr))
        back = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(back if arr.ndim == 2 else back[..., ::-1], arr)


def test_real_items_from_an_explicit_list_and_the_limitation_is_stated(ws, capsys):
    s = sv.create_survey(ws, sv.SurveyConfig("held", {"real": 3, "styled": 3}, real_images=(2, 5, 7, 11)))
    assert {i["image_id"] for i in sv.items(ws, s) if i["truth"] == "real"} <= {2, 5, 7, 11}
    md = results_markdown(compute_results(ws, s, n_boot=10))
    assert "anyone holding that dataset (e.g. a public one) can recognise them" in md
    assert "explicit list of 4 images (`--real-images`)" in md
    with pytest.raises(BadInputError, match=r"--real-images: image id\(s\) 99 are not usable"):
        sv.create_survey(ws, sv.SurveyConfig("bad", {"real": 1}, real_images=(1, 99)))
    with pytest.raises(BadInputError, match=r"needs 5 real images .* among --real-images but the workspace has 2"):
        sv.create_survey(ws, sv.SurveyConfig("few", {"real": 5}, real_images=(1, 2)))
    w = str(ws.root)
    assert cli_main(["survey", "create", "-w", w, "--name", "cli-held", "--real-images", "1,4", "--set", "styled:2"]) == 0
    assert "2 Real, 2 Styled-Diff" in capsys.readouterr().out
    assert cli_main(["survey", "create", "-w", w, "--name", "x", "--real-images", "1,two"]) == 1
    assert "--real-images expects image ids separated by commas" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", "with space", "", "ü", "x" * 65, "a\\b"])
def test_survey_names_are_safe_folder_names(ws, name, capsys):
    with pytest.raises(BadInputError, match="cannot be used as a folder name: use 1-64 letters, digits"):
        sv.create_survey(ws, sv.SurveyConfig(name, {"real": 1}))
    assert sv.surveys(ws) == [] and not (ws.root / "surveys").exists()
    assert not (Path(ws.root).parent / "up").exists()
    assert cli_main(["survey", "create", "-w", str(ws.root), "--name", name, "--real", "1"]) == 1
    assert "cannot be used as a folder name" in capsys.readouterr().err
