"""Temperature scaling: the fit finds the temperature that made probabilities over-confident, never
changes a predicted class, and lowers the calibration error; ``python -m fer model calibrate``
adds a version with the same weights byte for byte and the fit in model.json, fitted on a
validation split only; the Predictor and evaluations apply it."""
import json

import numpy as np
import pytest

from fer import actions, models
from fer.actions import Actor
from fer.evaluation import evaluate_model, temperature
from fer.predict import Predictor
from fer.store import Model, layout, resolve_model

from test_evaluation import seeded_run  # noqa: F401  (a fixture: a finished run evaluated on tiny)
from test_training import cli


def over_confident(n=3000, t=2.0, seed=0):
    """Labels drawn from calibrated probabilities, and those probabilities sharpened by ``t``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 7)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(7, p=row) for row in p])
    return labels, temperature.scaled(p, 1 / t)


def test_the_fit_finds_the_temperature_and_keeps_every_class():
    labels, probs = over_confident(t=2.0)
    block = temperature.fit(labels, probs)
    assert block["temperature"] == pytest.approx(2.0, rel=0.1)
    assert block["ece_after"] < block["ece_before"] / 2 and block["nll_after"] < block["nll_before"]
    assert (temperature.scaled(probs, block["temperature"]).argmax(1) == probs.argmax(1)).all()
    assert temperature.fit_temperature(labels, temperature.scaled(probs, 4.0)) < 1  # under-confident: T below 1


def test_the_torch_scaling_is_the_numpy_one():
    import torch

    _, probs = over_confident(n=50)
    got = models.scale(torch.from_numpy(probs.astype(np.float32)), 1.7).numpy()
    assert np.abs(got - temperature.scaled(probs, 1.7)).max() < 1e-5
    same = torch.ones(1, 7) / 7
    assert models.scale(same, 1.0) is same  # T = 1 leaves the probabilities as they are


def test_calibrate_adds_a_version_that_serves_its_temperature(seeded_run, store):  # noqa: F811
    actions.models.promote(Actor.local(), seeded_run.name, "m")
    before = resolve_model("m")
    p = cli("fer", "model", "calibrate", "m", "--dataset", "tiny", "--flip", store=store)
    assert p.returncode == 0, p.stderr
    assert "m@2: now the current m; temperature" in p.stdout and "fitted on tiny/val" in p.stdout
    after = resolve_model("m")
    assert after.version == "2" and after.sha256() == before.sha256()  # the same weights, byte for byte
    meta = after.meta()
    block = meta["calibration"]
    assert meta["tta"] == {"flip": True} and block["fitted_on"]["split"] == "val" and block["fitted_on"]["flip"]
    assert block["temperature"] == models.temperature(meta) > 0 and meta["calibrated_from"]["model"] == "m@1"
    # the Predictor serves it: the earlier version's flipped probabilities at that temperature
    crops = [np.random.default_rng(3).integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(5)]
    flipped = models.predict(Predictor.load(before).model, np.stack(crops)[..., None], *models.norm_tensors(meta),
                             "cpu", flip=True)
    got = Predictor.load(after).classify(crops)
    assert np.abs(got - temperature.scaled(flipped, block["temperature"])).max() < 1e-5
    # an evaluation applies it and says so
    summary, folder = evaluate_model(after, "tiny", "test")
    assert summary["temperature"] == block["temperature"] and summary["flip_tta"] and summary["runtime"] in (
        "torch", "onnx")
    assert json.loads((folder / layout.SUMMARY).read_text())["temperature"] == block["temperature"]
    assert Model.open("m").current_id() == "2"


def test_the_test_split_is_never_fitted_on(seeded_run, store):  # noqa: F811
    with pytest.raises(ValueError, match="fit the temperature on a validation split"):
        actions.models.calibrate(Actor.local(), seeded_run.name, "tiny", split="test", name="m")
    p = cli("fer", "model", "calibrate", seeded_run.name, "--dataset", "tiny", store=store, check=False)
    assert p.returncode == 2 and "not a named model: name the model" in p.stderr
