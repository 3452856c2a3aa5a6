"""Image-score calibration (Platt scaling): hand-computed fits, folding, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from inpaintscope.cli.main import cli
from inpaintscope.detection import DEFAULT_MODEL
from inpaintscope.errors import InpaintscopeError
from inpaintscope.evaluate.calibration import PlattFit, fit_platt, fold_image_calibration, logits_from_scores
from inpaintscope.models import create_model, load_detector, read_checkpoint_info, save_checkpoint


def test_two_point_fit_is_exact():
    # At z = +1, 8 of 10 images are manipulated; at z = −1, 2 of 10. The MLE puts
    # sigmoid(a + b) = 0.8 and sigmoid(−a + b) = 0.2, so a = ln 4, b = 0.
    z = [1.0] * 10 + [-1.0] * 10
    y = [1] * 8 + [0] * 2 + [1] * 2 + [0] * 8
    fit = fit_platt(z, y, l2=0.0)  # 10 and 10: balanced and plain weighting agree
    assert fit.scale == pytest.approx(math.log(4), abs=1e-8)
    assert fit.bias == pytest.approx(0.0, abs=1e-8)
    assert (fit.n, fit.n_positive) == (20, 10)
    assert fit.nll_after < fit.nll_before


def test_recovers_a_shifted_logistic_model():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 20000)
    y = rng.random(20000) < 1 / (1 + np.exp(-(0.5 * z - 1.5)))  # overconfident and off-centre
    fit = fit_platt(z, y.astype(int), balanced=False)
    assert fit.scale == pytest.approx(0.5, abs=0.05) and fit.bias == pytest.approx(-1.5, abs=0.1)


def test_balanced_fit_removes_the_class_prior():
    # 30 manipulated (24 at z = +1, 6 at z = −1) and 10 authentic (2 at +1, 8 at −1): 3:1.
    # Balanced weights (1/60 per manipulated, 1/20 per authentic image) give weighted odds
    # 24/60 : 2/20 = 4 at +1 and 6/60 : 8/20 = 1/4 at −1, so a = ln 4, b = 0, as with equal
    # counts; the unweighted fit keeps the 3:1 prior in its bias.
    z = [1.0] * 26 + [-1.0] * 14
    y = [1] * 24 + [0] * 2 + [1] * 6 + [0] * 8
    bal = fit_platt(z, y, l2=0.0)
    assert bal.scale == pytest.approx(math.log(4), abs=1e-8) and bal.bias == pytest.approx(0.0, abs=1e-8)
    plain = fit_platt(z, y, l2=0.0, balanced=False)
    # unweighted: sigmoid(a + b) = 24/26, sigmoid(−a + b) = 6/14
    assert plain.scale + plain.bias == pytest.approx(math.log(24 / 2), abs=1e-8)
    assert plain.bias - plain.scale == pytest.approx(math.log(6 / 8), abs=1e-8)


def test_separable_data_stays_finite_and_keeps_the_ranking():
    fit = fit_platt([-3.0, -2.0, 2.0, 3.0], [0, 0, 1, 1])
    assert math.isfinite(fit.scale) and fit.scale > 0 and math.isfinite(fit.bias)


@pytest.mark.parametrize(
    "z, y, message",
    [
        ([0.0, 1.0], [1, 1], "only one kind"),
        ([0.0, 1.0], [0, 2], "0 \\(authentic\\) or 1"),
        ([0.0], [0, 1], "1 logits but 2 labels"),
        ([float("nan"), 1.0], [0, 1], "finite"),
    ],
)
def test_bad_calibration_input_is_refused(z, y, message):
    with pytest.raises(InpaintscopeError, match=message):
        fit_platt(z, y)


def test_logits_from_scores_inverts_sigmoid():
    z = np.array([-5.0, 0.0, 2.5])
    assert np.allclose(logits_from_scores(1 / (1 + np.exp(-z))), z)
    assert np.isfinite(logits_from_scores([0.0, 1.0])).all()


def test_folding_changes_only_the_image_logit():
    torch.manual_seed(0)
    model = create_model("scope_tiny").eval()
    x = torch.rand(2, 3, 48, 40)
    with torch.no_grad():
        before = model(x)
        fold_image_calibration(model, PlattFit(scale=0.5, bias=-2.0, n=2, n_positive=1, nll_before=1, nll_after=1))
        after = model(x)
    assert torch.equal(before.mask_logits, after.mask_logits)
    assert torch.allclose(after.image_logit, 0.5 * before.image_logit - 2.0, atol=1e-5)


def test_folding_needs_an_image_head():
    with pytest.raises(InpaintscopeError, match="no image head"):
        fold_image_calibration(torch.nn.Conv2d(3, 1, 1), PlattFit(1.0, 0.0, 2, 1, 1.0, 1.0))


def test_cli_calibrate_writes_a_new_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("scope_tiny")
    src = tmp_path / "model.safetensors"
    save_checkpoint(src, model.state_dict(), {"model": "scope_tiny", "kwargs": {}})
    out = tmp_path / "calibrated.safetensors"
    result = CliRunner().invoke(
        cli, ["calibrate", str(src), "--data", "synthetic:12x32", "--split", "val", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "calibrated on 12 images" in result.output
    info = read_checkpoint_info(out)
    cal = info["image_calibration"]
    assert cal["split"] == "val" and cal["n"] == 12 and cal["scale"] > 0
    assert load_detector(out) is not None
    again = CliRunner().invoke(cli, ["calibrate", str(src), "--data", "synthetic:12x32", "-o", str(src)])
    assert again.exit_code == 2 and "never overwritten" in again.output


def test_cli_calibrate_takes_shipped_names_warns_on_little_data_and_labels_its_progress(tmp_path):
    out = tmp_path / "calibrated.safetensors"
    result = CliRunner().invoke(
        cli, ["calibrate", "default", "--data", "synthetic:12x32", "--split", "val", "--device", "cpu", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    warnings_ = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings_) == 1 and "fewer than 30" in warnings_[0], result.stderr
    assert "calibrate:" in result.stderr and "evaluate:" not in result.stderr
    assert read_checkpoint_info(out)["model"] == read_checkpoint_info(DEFAULT_MODEL)["model"]


def test_calibration_warns_only_below_the_minimum_per_class(tmp_path, monkeypatch):
    import warnings

    from inpaintscope.evaluate import calibration

    torch.manual_seed(0)
    model = create_model("scope_tiny")
    src = save_checkpoint(tmp_path / "model.safetensors", model.state_dict(), {"model": "scope_tiny", "kwargs": {}})
    with pytest.warns(calibration.CalibrationWarning, match=r"\d+ manipulated and \d+ authentic images"):
        fit = calibration.calibrate_checkpoint(src, ["synthetic:12x32"], out=tmp_path / "a.safetensors")
    monkeypatch.setattr(calibration, "MIN_IMAGES_PER_CLASS", min(fit.n_positive, fit.n - fit.n_positive))
    with warnings.catch_warnings():
        warnings.simplefilter("error", calibration.CalibrationWarning)
        calibration.calibrate_checkpoint(src, ["synthetic:12x32"], out=tmp_path / "b.safetensors")
    with pytest.raises(InpaintscopeError, match="never overwritten"):
        calibration.calibrate_checkpoint(src, ["synthetic:12x32"], out=src)


# ---- robustness of the fit, and the output checks (nothing a user made is overwritten) ----------


def test_identical_logits_give_the_hand_computed_prior():
    # One logit for every image: the slope cannot be told apart from the bias, so the fit keeps
    # the identity slope and the calibrated logit is the labels' (weighted) log-odds. Balanced
    # priors: 0 (score 0.5). Plain weights: log(n_pos / n_neg) = log(3 / 5).
    z, y = [-5.8] * 8, [1, 1, 1, 0, 0, 0, 0, 0]
    bal = fit_platt(z, y)
    assert bal.scale == 1.0 and bal.scale * -5.8 + bal.bias == pytest.approx(0.0, abs=1e-12)
    assert bal.nll_after == pytest.approx(math.log(2), abs=1e-12)
    plain = fit_platt(z, y, balanced=False)
    assert plain.scale == 1.0 and plain.scale * -5.8 + plain.bias == pytest.approx(math.log(3 / 5), abs=1e-12)


@pytest.mark.parametrize(
    "z, y",
    [
        ([-5.8] * 8, [1, 1, 1, 1, 0, 0, 0, 0]),  # plain Newton went to bias -5e11 here
        ([-5.8] * 6 + [-5.7, -5.9], [1, 1, 1, 1, 0, 0, 0, 0]),  # nearly identical logits
        ([-5.8, -5.8, 3, 3, 3, 3, 3, 3], [1, 0, 1, 1, 0, 0, 0, 0]),  # uninformative, unbalanced
    ],
)
def test_degenerate_logits_never_make_the_fit_worse(z, y):
    fit = fit_platt(z, y)
    assert math.isfinite(fit.scale) and math.isfinite(fit.bias) and fit.scale > 0
    assert fit.nll_after <= fit.nll_before + 1e-12
    assert abs(fit.bias) < 50  # no model that flags (or clears) everything


@pytest.mark.filterwarnings("ignore:calibrating on")
def test_a_failed_fit_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    from inpaintscope.evaluate import calibration

    src = _tiny_checkpoint(tmp_path)
    out = tmp_path / "calibrated.safetensors"
    bad = PlattFit(scale=2901.0, bias=-5e11, n=12, n_positive=9, nll_before=0.69, nll_after=2.5e11)
    monkeypatch.setattr(calibration, "fit_platt", lambda *a, **k: bad)
    with pytest.raises(InpaintscopeError, match="need more validation images of both classes"):
        calibration.calibrate_checkpoint(src, ["synthetic:12x32"], out=out)
    nan = PlattFit(scale=float("nan"), bias=0.0, n=12, n_positive=9, nll_before=0.69, nll_after=float("nan"))
    monkeypatch.setattr(calibration, "fit_platt", lambda *a, **k: nan)
    with pytest.raises(InpaintscopeError, match="need more validation images"):
        calibration.calibrate_checkpoint(src, ["synthetic:12x32"], out=out)
    assert not out.exists() and not out.with_suffix(".json").exists()


def _tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(
        tmp_path / "model.safetensors", create_model("scope_tiny").state_dict(), {"model": "scope_tiny", "kwargs": {}}
    )


@pytest.mark.parametrize("cues", [[], ["--cues", "autoencoder"]])
def test_cli_calibrate_never_overwrites_a_file_or_its_sidecar(tmp_path, monkeypatch, cues):
    from inpaintscope.evaluate import evaluator, fusion

    def never(*args, **kwargs):
        raise AssertionError("the output must be checked before any scoring or fitting")

    monkeypatch.setattr(evaluator, "evaluate", never)
    monkeypatch.setattr(fusion, "fit_autoencoder_fusion", never)
    src = _tiny_checkpoint(tmp_path)
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(b"the user's photo")
    (tmp_path / "notes.json").write_text("the user's notes")
    (tmp_path / "afile").write_text("x")
    cases = [
        (photo, "holiday.jpg already exists and is never overwritten; choose another -o"),
        (tmp_path / "notes.safetensors", "notes.json (written with"),  # the sidecar <stem>.json
        (tmp_path / "afile" / "new.safetensors", "afile is a file, not a folder"),
        # its description goes to <stem>.json: a .json checkpoint would be overwritten by it
        (tmp_path / "calibrated.json", "the checkpoint cannot end in .json; name it e.g."),
    ]
    for out, message in cases:
        args = ["calibrate", str(src), "--data", "synthetic:12x32", *cues, "-o", str(out)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2 and message in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert photo.read_bytes() == b"the user's photo"
    assert (tmp_path / "notes.json").read_text() == "the user's notes"
    assert not (tmp_path / "notes.safetensors").exists() and not (tmp_path / "calibrated.json").exists()
    # a folder as -o is a usage error in the CLI (click); the library says so in its own words
    from inpaintscope.evaluate.calibration import calibrate_checkpoint

    with pytest.raises(InpaintscopeError, match="is a folder; give -o a file name"):
        calibrate_checkpoint(src, ["synthetic:12x32"], out=tmp_path)


def test_cli_calibrate_batch_size_must_be_positive(tmp_path):
    src = _tiny_checkpoint(tmp_path)
    args = ["calibrate", str(src), "--data", "synthetic:4x32", "--batch-size", "0", "-o", str(tmp_path / "c.st")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--batch-size" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, ValueError)


@pytest.mark.parametrize("option", [["--limit", "5"], ["--max-added-area", "0.01"]])
def test_cli_calibrate_cue_options_need_the_cue(tmp_path, option):
    # options of the autoencoder-cue fit are refused, not silently ignored, in a Platt calibration
    src = _tiny_checkpoint(tmp_path)
    args = ["calibrate", str(src), "--data", "synthetic:4x32", *option, "-o", str(tmp_path / "c.st")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "apply to --cues autoencoder only" in result.output
    assert not (tmp_path / "c.st").exists()
