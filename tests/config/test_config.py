"""The one settings schema: declarations, parsing, checks, and where a value is checked."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neuralab import config
from neuralab.cli import main
from neuralab.config import SETTINGS, SettingError, TrainSettings, check, settings_for, validate


def test_the_engines_registries_offer_exactly_the_declared_choices():
    from neuralab.data.registry import names
    from neuralab.nn import ACTIVATIONS, INITS
    from neuralab.optim import OPTIMIZERS

    assert set(SETTINGS["activation"].choices) == set(ACTIVATIONS)
    assert set(SETTINGS["init"].choices) == set(INITS)
    assert set(SETTINGS["optimizer"].choices) == {*OPTIMIZERS, "manual"}
    assert set(SETTINGS["dataset"].choices) <= set(names())


@pytest.mark.parametrize("surface", config.SURFACES)
def test_every_default_passes_its_own_check(surface):
    for s in settings_for(surface):
        default = list(s.default) if isinstance(s.default, tuple) else s.default
        assert config._coerce(s, default) == default, s.name


@pytest.mark.parametrize("name, text, value", [
    ("lr", "0.5", 0.5), ("hidden", "64x32", [64, 32]), ("hidden", "100, 50", [100, 50]),
    ("batch_size", "full", None), ("batch_size", "32", 32), ("standardize", "no", False),
    ("activation", "tanh", "tanh"), ("test_fraction", "0", None), ("clip_norm", "none", None),
])
def test_text_is_parsed_by_the_settings_kind(name, text, value):
    assert check(name, text) == value


@pytest.mark.parametrize("name, value, allowed", [
    ("lr", 0, "a finite number > 0"), ("lr", math.nan, "a finite number > 0"),
    ("lr", True, "a finite number > 0"), ("iterations", 2.5, "a positive integer"),
    ("hidden", [3, 0], "layer widths"), ("momentum", 1.0, "[0, 1)"),
    ("activation", "rellu", "one of relu, tanh"), ("dtype", "float16", "one of float64"),
    ("lr", 10**400, "a finite number > 0"), ("iterations", 10**400, "a positive integer"),
])
def test_a_bad_value_names_the_setting_the_value_and_what_is_allowed(name, value, allowed):
    with pytest.raises(SettingError) as exc:
        check(name, value)
    assert exc.value.setting == name
    message = str(exc.value)
    assert message.startswith(f"{name} must be ") and allowed in message
    assert message.endswith(f"got {value!r}")


def test_the_playground_uses_its_tighter_bounds_and_defaults():
    with pytest.raises(SettingError, match="hidden"):
        check("hidden", [257], surface="playground")
    assert check("hidden", [257]) == [257]
    assert validate({}, surface="playground")["standardize"] is False
    assert TrainSettings().standardize is True


@pytest.mark.parametrize("values, setting", [
    ({"iterations": 5, "epochs": 2}, "epochs"),
    ({"test_fraction": 0.5, "val_fraction": 0.5}, "val_fraction"),
    ({"optimizer": "manual"}, "optimizer"),
    ({"device": "cuda"}, "device"),
    ({"optimizer": "manual", "backend": "torch", "weight_decay": 0.1}, "weight_decay"),
    ({"model": "mlp", "hidden": []}, "hidden"),
])
def test_rules_between_settings_name_one_of_them(values, setting):
    with pytest.raises(SettingError) as exc:
        TrainSettings(**values)
    assert exc.value.setting == setting


def test_train_settings_are_checked_once_and_then_frozen():
    s = TrainSettings(model="linear", epochs=3)
    assert s.hidden == [] and s.iterations is None
    assert TrainSettings().iterations == config.LECTURE_ITERATIONS["mlp"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = -1
    with pytest.raises(SettingError, match="lr"):
        s.replace(lr=-1)
    assert [f.name for f in dataclasses.fields(TrainSettings)] == list(config.TRAIN_NAMES)


def test_unknown_settings_are_refused_by_name():
    with pytest.raises(SettingError, match="unknown setting 'learning_rate'"):
        validate({"learning_rate": 1}, surface="playground")
    with pytest.raises(TypeError):
        TrainSettings(learning_rate=1)


def test_settings_read_back_from_a_file_are_checked():
    assert TrainSettings.from_dict({"lr": 0.5, "unknown": 1}).lr == 0.5
    with pytest.raises(SettingError, match="config.json settings: lr must be"):
        TrainSettings.from_dict({"lr": "many"}, where="config.json settings")
    with pytest.raises(config.NeuralabError, match="must be an object"):
        TrainSettings.from_dict([1, 2])


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_is_accepted_exactly_when_it_lies_in_the_range(x):
    ok = math.isfinite(x) and x > 0
    if ok:
        assert check("lr", x) == x
    else:
        with pytest.raises(SettingError):
            check("lr", x)


def test_lr_from_the_command_line_is_checked_once_on_its_way_to_the_optimiser(tmp_path, monkeypatch):
    from neuralab import optim

    checked, given_to_optimiser = [], []
    real_coerce, real_sgd = config._coerce, optim.SGD.__init__

    def counting(s, value):
        if s.name == "lr":
            checked.append(value)
        return real_coerce(s, value)

    def spy(self, params, lr=1.0, **kw):
        given_to_optimiser.append(lr)
        real_sgd(self, params, lr, **kw)

    monkeypatch.setattr(config, "_coerce", counting)
    monkeypatch.setattr(optim.SGD, "__init__", spy)
    assert main(["train", "--dataset", "xor", "--lr", "0.25", "-n", "3", "-q",
                 "--out", str(tmp_path / "run")]) == 0
    assert checked == [0.25] and given_to_optimiser == [0.25]


def test_the_command_line_shows_a_setting_as_its_flag(capsys):
    assert main(["train", "--dataset", "xor", "--batch-size", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "neuralab: error: --batch-size must be a positive integer, or full (full batch); got 0"
