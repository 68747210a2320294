"""The model shipped inside the fer package: loads offline, matches its model.json, sees a smile."""
import hashlib
import json

import pytest

from fer import models
from fer.labels import CLASSES
from fer.predict import Predictor

from skimage import data as skdata  # a requirement: imported, never skipped


def test_ships_with_weights_model_json_and_card():
    folder = models.SHIPPED
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    card = (folder / "card.md").read_text()
    for section in ("Data", "Preprocessing", "Recipe", "Reproduce", "Results", "Limits"):
        assert f"## {section}" in card, section


def test_loads_offline_from_the_package_with_an_empty_store(store):
    p = Predictor.load("default")
    assert p.folder == models.SHIPPED and not store.exists()
    meta = json.loads((models.SHIPPED / "model.json").read_text())
    assert meta["classes"] == list(CLASSES)
    # model.json describes these weights: the architecture it names loads them strictly, at its input
    from safetensors.torch import load_file

    weights = load_file(str(models.SHIPPED / "model.safetensors"))
    first_conv = next(v for k, v in weights.items() if v.ndim == 4)
    assert first_conv.shape[1] == meta["channels"]
    assert p.model(__import__("torch").zeros(1, meta["channels"], meta["input_size"], meta["input_size"])).shape == (1, 7)


def test_the_astronaut_is_happy(store):
    results = Predictor.load("default").predict(skdata.astronaut())
    assert len(results) == 1 and results[0].label == "happy", results[0].probs


@pytest.mark.real_data
def test_evaluate_reproduces_the_reported_figures(store, fer2013_zip):
    from fer.data import import_dataset
    from fer.evaluation import evaluate_model

    import_dataset([str(fer2013_zip)], "fer2013")
    meta = json.loads((models.SHIPPED / "model.json").read_text())
    reported = meta["metrics"]["test"]
    summary, out = evaluate_model("default", "fer2013", "test")
    assert summary["n"] == reported["n"] == 3589
    assert summary["accuracy"] == pytest.approx(reported["accuracy"], abs=1e-6)
    # evaluations of a model outside the store are keyed by its weights (and its flip TTA): a new
    # shipped model gets new ones
    sha = hashlib.sha256((models.SHIPPED / "model.safetensors").read_bytes()).hexdigest()
    flip = "-flip" if meta["tta"]["flip"] else ""
    assert out == store / "evals" / f"shipped-{sha[:12]}{flip}" / "fer2013" / "test"
    assert summary["model_id"] == {"name": "default", "version": "shipped", "sha256": sha}
