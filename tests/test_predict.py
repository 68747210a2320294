"""Predictor: faces of a photo → emotions, prepared as model.json says."""
import cv2
import numpy as np
import pytest

from fer import faces, models
from fer.labels import CLASSES
from fer.predict import Predictor

from builders import untrained_model

from skimage import data as skdata  # a requirement: imported, never skipped


def _model(folder, channels=1, size=48, face=None):
    return untrained_model(folder, channels, size, face)


def test_one_result_per_face_with_probabilities(store, tmp_path):
    p = Predictor.load(str(_model(tmp_path / "m")))
    a = skdata.astronaut()
    canvas = np.full((480, 900, 3), 100, np.uint8)
    canvas[10:460, 10:460] = cv2.resize(a, (450, 450))
    canvas[150:330, 600:780] = cv2.resize(a, (180, 180))
    results = p.predict(canvas)
    assert len(results) == 2 and results[0].box[0] < results[1].box[0]  # largest first
    for r in results:
        assert set(r.probs) == set(CLASSES) and abs(sum(r.probs.values()) - 1) < 1e-5
        assert r.label == max(r.probs, key=r.probs.get) and isinstance(r.label, str)
        assert r.crop.shape == (48, 48)  # what the model saw: its input size, grayscale
        assert r.landmarks.shape == (5, 2)
    assert p.predict(np.full((200, 200, 3), 90, np.uint8)) == []
    whole = p.predict(np.full((200, 300, 3), 90, np.uint8), whole_image=True)
    assert len(whole) == 1 and whole[0].box == (50.0, 0.0, 250.0, 200.0)


def test_preprocessing_follows_model_json(store, tmp_path):
    a = skdata.astronaut()
    f = faces.detect(a)[0]
    gray = Predictor.load(str(_model(tmp_path / "g", channels=1, size=48)))
    expect = faces.align(a, f, size=48, margin=0.3, grayscale=True)
    assert np.array_equal(gray.predict(a)[0].crop.reshape(48, 48), expect)
    rgb = Predictor.load(str(_model(tmp_path / "c", channels=3, size=64,
                                    face={"detector": "mtcnn", "align": False, "margin": 0.1, "size": 64,
                                          "grayscale": False})))
    unrotated = faces.align(a, faces.Face(f.box, f.score, None), size=64, margin=0.1)
    assert np.array_equal(rgb.predict(a)[0].crop, unrotated)
    probs = rgb.classify([unrotated, unrotated[:, :, 0], np.zeros((10, 10, 3), np.uint8)])
    assert probs.shape == (3, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    haar = Predictor.load(str(tmp_path / "c"), detector="haar")
    assert "differs" in haar.warning and rgb.warning is None


def test_load_resolves_runs_models_and_default(store, tmp_path):
    _model(store / "models" / "mine")
    assert Predictor.load("mine").folder == store / "models" / "mine"
    with pytest.raises(models.ModelNotFound, match="no model 'nothing'"):
        Predictor.load("nothing")
    _model(store / "models" / "default")
    assert Predictor.load("default").folder == store / "models" / "default"  # the user's promoted default wins
