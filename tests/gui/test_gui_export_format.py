"""The window's export dialog offers every format and passes the chosen one to the back end."""

from __future__ import annotations

import json


def test_export_dialog_passes_the_format(demo_ws, qtbot, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox

    from diffgen_gui.main_window import MainWindow

    i = demo_ws.image_ids()[0]
    s = demo_ws.add_sample(
        "inpainted", "Diff", demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i)), source_image_id=i
    )
    demo_ws.set_review(s.id, "keep")
    w = MainWindow(demo_ws)
    qtbot.addWidget(w)
    form = w.export_dialog()
    offered = [form.format.itemText(k) for k in range(form.format.count())]
    assert offered == ["kvasir", "nnunet", "coco", "hf", "monai"]
    form.path.setText(str(tmp_path / "out"))  # typed: created when the user confirms
    form.format.setCurrentText("nnunet")
    form.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: w.last_export is not None, timeout=20000)
    assert w.last_export["format"] == "nnunet" and w.last_export["real"] == 0
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["numTraining"] == 1
    w.ask_unsaved = lambda n: "discard"
    w.close()


def test_export_dialog_only_passed_leaves_out_failed_samples(demo_ws, qtbot, tmp_path):
    import csv

    from PySide6.QtWidgets import QDialogButtonBox

    from backend.gates import GateScore
    from diffgen_gui.main_window import MainWindow

    made = []
    for i in demo_ws.image_ids()[:3]:
        s = demo_ws.add_sample(
            "inpainted", "Diff", demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i)), source_image_id=i
        )
        demo_ws.set_review(s.id, "keep")
        made.append(s.id)
    demo_ws.set_gates(made[0], [GateScore("seam", 0.3, 0.08, False)])
    demo_ws.set_gates(made[1], [GateScore("seam", 0.01, 0.08, True)])  # made[2] is not scored
    w = MainWindow(demo_ws)
    qtbot.addWidget(w)
    form = w.export_dialog()
    assert not form.only_passed.isChecked()
    form.only_passed.setChecked(True)
    form.path.setText(str(tmp_path / "out"))
    form.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: w.last_export is not None, timeout=20000)
    rows = list(csv.DictReader(open(tmp_path / "out" / "provenance.csv", newline="")))
    assert sorted(int(r["sample_id"]) for r in rows) == made[1:]
    assert "1 sample that failed a quality gate left out" in w.report_dialog.text()
    assert "1 sample not scored yet included" in w.report_dialog.text()
    w.ask_unsaved = lambda n: "discard"
    w.close()


def test_export_dialog_leaves_out_an_empty_mask_unless_asked(demo_ws, qtbot, tmp_path):
    import numpy as np
    from PySide6.QtWidgets import QDialogButtonBox

    from diffgen_gui.main_window import MainWindow

    i = demo_ws.image_ids()[0]
    empty = np.zeros_like(demo_ws.read_mask(demo_ws.current_mask(i)))
    for mask in (demo_ws.read_mask(demo_ws.current_mask(i)), empty):
        s = demo_ws.add_sample("inpainted", "Diff", demo_ws.read_image(i), mask, source_image_id=i)
        demo_ws.set_review(s.id, "keep")
    w = MainWindow(demo_ws)
    qtbot.addWidget(w)
    for include, out, exported in ((False, "a", 1), (True, "b", 2)):
        w.last_export = None
        form = w.export_dialog()
        assert not form.include_empty.isChecked()
        form.include_empty.setChecked(include)
        form.path.setText(str(tmp_path / out))
        form.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        qtbot.waitUntil(lambda: w.last_export is not None, timeout=20000)
        assert w.last_export["samples"] == exported
        text = w.report_dialog.text()
        assert f"; 1 with an empty mask {'included' if include else 'left out'}." in text and len(text) < 160, text
        w.report_dialog.close()
    w.ask_unsaved = lambda n: "discard"
    w.close()
