"""The demo's verdict table: an edit is found only where the mask lands on it."""

from inpaintscope.cli.demo import HIT_IOU, DemoRow, demo_summary


def _row(inpainter, decision, iou=None, status="ok"):
    return DemoRow("x.png", inpainter, {"status": status, "decision": decision}, iou)


def test_outcomes_need_the_mask_on_the_edit():
    assert _row("telea", True, 0.8).outcome == "hit"
    assert _row("telea", True, HIT_IOU).outcome == "hit"
    # flagged because of false alarms elsewhere in the photo: not a find
    assert _row("patchmatch", True, 0.0).outcome == "wrong place"
    assert _row("patchmatch", True, None).outcome == "wrong place"
    assert _row("telea", False, 0.0).outcome == "miss"
    assert _row(None, True).outcome == "false alarm" and _row(None, False).outcome == "correct"
    assert _row("telea", True, 0.9, status="error").outcome == "error"


def test_summary_counts_each_outcome():
    rows = [_row("telea", True, 0.8), _row("patchmatch", True, 0.0), _row("clone", False, 0.0), _row(None, True)]
    line = demo_summary(rows)
    assert line.startswith("1 of 3 edits found (hits: flagged, mask IoU >= 0.1)")
    assert "1 flagged with the mask elsewhere" in line and "1 missed" in line
    assert line.endswith("1 false alarm(s) on 1 untouched photos")
    assert "elsewhere" not in demo_summary(rows[:1])
