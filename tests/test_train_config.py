"""TrainConfig: YAML round trip, overrides, validation, and the shipped configs."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml

from inpaintscope.train.config import AugmentConfig, ConfigError, TrainConfig, parse_overrides

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_defaults_follow_the_seeds():
    c = TrainConfig()
    assert (c.lr, c.batch_size, c.early_stopping_patience, c.early_stopping_min_delta) == (1e-4, 8, 5, 0.0)
    assert (c.gt_mode, c.loss, c.plateau_patience, c.plateau_factor) == ("core", "focal", 10, 0.5)


def test_yaml_round_trip(tmp_path):
    c = TrainConfig(
        model="scope_tiny",
        model_kwargs={"clip": 4.0},
        data=["a", "b"],
        modes=["realfake"],
        augment={"crop": 64},
        max_steps=100,
        schedule="cosine",
        lr=3e-4,
    )
    path = c.save(tmp_path / "config.yaml")
    assert TrainConfig.from_yaml(path) == c


def test_overrides_are_typed_and_strings_coerce():
    c = TrainConfig().with_overrides(
        [
            "lr=3e-4",
            "epochs=7",
            "augment.crop=null",
            "modes=realfake,fakefake",
            "data=[synthetic:8]",
            "report_compat=true",
            "model_kwargs.clip=4",
        ]
    )
    assert c.lr == pytest.approx(3e-4) and isinstance(c.lr, float)  # YAML 1.1 reads "3e-4" as a string
    assert c.epochs == 7 and c.augment.crop is None and c.report_compat is True
    assert c.modes == ["realfake", "fakefake"] and c.data == ["synthetic:8"]
    assert c.model_kwargs == {"clip": 4}
    assert TrainConfig().with_overrides({"batch_size": 4.0}).batch_size == 4
    assert parse_overrides(["loss=bce+dice:0.5"]) == {"loss": "bce+dice:0.5"}


def test_yaml_then_set_then_explicit(tmp_path):
    (tmp_path / "c.yaml").write_text("model: scope_small\nlr: 0.01\nepochs: 3\n")
    c = TrainConfig.from_yaml(tmp_path / "c.yaml").with_overrides(["lr=0.02", "epochs=4"]).with_overrides({"epochs": 5})
    assert (c.model, c.lr, c.epochs) == ("scope_small", 0.02, 5)


@pytest.mark.parametrize(
    "bad, message",
    [
        (["nope=1"], "unknown config key"),
        (["epochs=many"], "epochs must be an integer"),
        (["lr=-1"], "lr must be > 0"),
        (["gt_mode=half"], "gt_mode must be one of"),
        (["schedule=step"], "schedule must be one of"),
        (["augment.hflip=maybe"], "hflip must be true or false"),
        (["lr"], "key=value"),
        (["lr=1e400"], "lr must be > 0 and finite, got inf"),  # YAML reads 1e400 as infinity
        (["lr=.inf"], "lr must be > 0 and finite"),
        (["weight_decay=.nan"], "weight_decay must be >= 0 and finite"),
        (["seed=-1"], r"seed must be an integer in \[0, 2\^63\), got -1"),  # failed only at the first batch
        ([f"seed={2**63}"], "seed must be an integer"),
        # these crashed in the scheduler, or were taken and did nothing
        (["schedule=plateau", "plateau_factor=2"], r"plateau_factor .* must be in \(0, 1\), got 2"),
        (["schedule=plateau", "plateau_patience=-5"], "plateau_patience must be >= 0"),
        (["schedule=plateau", "schedule_metric=bogus"], "schedule_metric must be a validation metric .* got 'bogus'"),
        (
            ["schedule=plateau", "schedule_metric=authentic_fp_area"],
            "schedule_metric must be",
        ),  # lower is better: not maximised
        (["early_stopping_min_delta=.nan"], "early_stopping_min_delta must be >= 0 and finite"),  # no best ever
        (["early_stopping_min_delta=-1"], "early_stopping_min_delta must be >= 0"),
        (["image_loss_weight=.nan"], "image_loss_weight must be >= 0 and finite"),
    ],
)
def test_bad_overrides_name_the_problem(bad, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig().with_overrides(bad)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.from_yaml(tmp_path / "list.yaml")
    # a picture given as --config by mistake: one line, not a UnicodeDecodeError
    (tmp_path / "some.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(ConfigError, match=r"some\.png: not a YAML config \(binary or not UTF-8 text\)"):
        TrainConfig.from_yaml(tmp_path / "some.png")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load_and_name_registered_models(path):
    from inpaintscope.models import list_models

    c = TrainConfig.from_yaml(path)
    assert c.model in list_models(), f"{path.name}: model {c.model!r} is not registered"
    from inpaintscope.train.losses import build_loss

    build_loss(c.loss)  # the loss spec parses


def test_shipped_configs_exist():
    assert {p.name for p in CONFIGS} >= {"scope_tiny.yaml", "fcn_resnet50_report.yaml", "iid_net.yaml", "smoke.yaml"}


def test_augmentation_is_nested_and_old_flat_keys_still_read(tmp_path):
    (tmp_path / "nested.yaml").write_text("lr: 0.01\naugment:\n  crop: 64\n  rot90: true\n")
    (tmp_path / "flat.yaml").write_text("lr: 0.01\ncrop: 64\nrot90: true\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the nested form is not deprecated
        nested = TrainConfig.from_yaml(tmp_path / "nested.yaml")
        assert nested.with_overrides(["augment.vflip=false"]).augment == AugmentConfig(64, True, False, True)
    assert nested.augment == AugmentConfig(crop=64, hflip=True, vflip=True, rot90=True)
    with pytest.warns(
        FutureWarning,
        match=r"flat.yaml: flat key\(s\) crop, rot90 are deprecated and read as "
        r"augment.crop, augment.rot90; write augment: \{crop: \.\.\., rot90",
    ):
        flat = TrainConfig.from_yaml(tmp_path / "flat.yaml")
    assert flat == nested
    saved = yaml.safe_load(flat.save(tmp_path / "saved.yaml").read_text())
    assert saved["augment"] == {"crop": 64, "hflip": True, "vflip": True, "rot90": True}
    assert not {"crop", "hflip", "vflip", "rot90"} & set(saved)
    with pytest.warns(FutureWarning, match="overrides: flat key"):
        assert nested.with_overrides(["crop=32"]).augment.crop == 32


@pytest.mark.parametrize(
    "text, message",
    [
        ("crop: 64\naugment:\n  crop: 32\n", "crop given both flat and under augment"),
        ("augment:\n  zoom: 2\n", r"unknown augment key\(s\) \['zoom'\]"),
        ("augment:\n  crop: 4\n", "augment.crop must be >= 8"),
        ("augment: 5\n", "augment must be a mapping"),
        ("augment:\n  rot90: sometimes\n", "augment.rot90 must be true or false"),
    ],
)
def test_bad_augment_configs_name_the_problem(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_yaml(tmp_path / "c.yaml")
