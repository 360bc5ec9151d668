"""The window's export passes the chosen format through to the back end."""

from __future__ import annotations

import json


def test_export_dialog_passes_the_format(demo_ws, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

    from diffgen_gui.main_window import MainWindow

    i = demo_ws.image_ids()[0]
    s = demo_ws.add_sample("inpainted", "Diff", demo_ws.read_image(i), demo_ws.read_mask(demo_ws.current_mask(i)),
                           source_image_id=i)
    demo_ws.set_review(s.id, "keep")
    w = MainWindow(demo_ws)
    qtbot.addWidget(w)
    offered = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path / "out")))
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a, **k: offered.append(a[3]) or ("nnunet", True)))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.No))
    w.export_dialog()
    qtbot.waitUntil(lambda: w.last_export is not None, timeout=20000)
    assert offered == [["kvasir", "nnunet", "coco", "hf", "monai"]]
    assert w.last_export.format == "nnunet" and w.last_export.real == 0
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["numTraining"] == 1
    w.close()
