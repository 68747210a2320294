"""Distillation from finished models (soft targets) and the mirror-image test-time augmentation
a model carries in its model.json."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fer import jobs, models
from fer.labels import CLASSES
from fer.predict import Predictor
from fer import config as C
from fer.training import distill, trainer

from test_training import start, tiny_dataset

HAPPY = CLASSES.index("happy")


def test_soft_targets_mix_the_smoothed_label_with_the_teachers():
    labels = np.array([0, 3, 6])
    teachers = np.array([[0.7, 0, 0, 0.3, 0, 0, 0], [0, 0, 0, 1.0, 0, 0, 0], [0.1] * 6 + [0.4]], np.float32)
    plain = distill.soft_targets(labels, teachers, weight=0.0, temperature=1.0, label_smoothing=0.1)
    assert np.allclose(plain[np.arange(3), labels], 0.9 + 0.1 / 7) and np.allclose(plain.sum(1), 1)
    assert np.allclose(distill.soft_targets(labels, teachers, 1.0, 1.0, 0.1), teachers / teachers.sum(1, keepdims=True))
    half = distill.soft_targets(labels, teachers, 0.5, 1.0, 0.0)
    assert np.isclose(half[0, 0], 0.5 * 1 + 0.5 * 0.7) and np.isclose(half[0, 3], 0.5 * 0.3)
    # a temperature above 1 flattens the teachers: the top class loses probability
    hot = distill.soft_targets(labels, teachers, 1.0, 3.0, 0.0)
    assert hot[0, 0] < 0.7 and hot[0, 3] > 0.3 and np.allclose(hot.sum(1), 1)


def _teacher_saying_happy(tmp_path) -> str:
    """A finished run whose model says "happy" for every face, whatever it sees."""
    f = start(["dataset=tiny", "epochs=1", "eval_splits=[]"])
    jobs.train(f, log=lambda m: None)
    w = load_file(str(f / "model.safetensors"))
    w["fc.weight"] = torch.zeros_like(w["fc.weight"])
    w["fc.bias"] = torch.full_like(w["fc.bias"], -5.0)
    w["fc.bias"][HAPPY] = 5.0
    save_file(w, str(f / "model.safetensors"))
    return f.name


def test_a_student_learns_what_its_teacher_says_not_only_the_labels(store, tmp_path):
    tiny_dataset(tmp_path)  # seven classes, equally many images each
    teacher = _teacher_saying_happy(tmp_path)
    logs = []
    sets = ["dataset=tiny", "epochs=6", "optimizer.lr=0.01", "eval_splits=[]", "augment.randaugment_n=0"]
    f = start([*sets, f"distill.teachers=[{teacher}]", "distill.weight=1.0"])
    assert jobs.train(f, log=logs.append)["state"] == "finished"
    assert any("distilling from 1 teacher(s)" in m and "14.3%" in m for m in logs), logs
    student, meta = models.load(f)
    images = np.random.default_rng(0).integers(0, 256, (40, 48, 48, 1), np.uint8)
    mean, std = models.norm_tensors(meta)
    happy_share = (models.predict(student, images, mean, std, "cpu").argmax(1) == HAPPY).mean()
    # the same recipe on the labels alone spreads its answers over the seven classes
    g = start(sets)
    jobs.train(g, log=lambda m: None)
    control, _ = models.load(g)
    control_share = (models.predict(control, images, mean, std, "cpu").argmax(1) == HAPPY).mean()
    assert happy_share >= 0.9 > control_share + 0.3, (happy_share, control_share)


@pytest.mark.parametrize("sets, match", [
    (["distill.teachers=[no-such-run]"], "distill.teachers"),
    (["distill.teachers=[x]", "mixup.alpha=0.2"], "mixup"),
    (["distill.weight=1.5"], "distill.weight"),
    (["distill.temperature=0"], "distill.temperature"),
    (["tta.flip=maybe"], "tta.flip"),
])
def test_bad_distillation_options_are_refused_before_training(store, tmp_path, sets, match):
    tiny_dataset(tmp_path)
    with pytest.raises(C.ConfigError, match=match):
        trainer.prepare(C.resolve({}, ["dataset=tiny", *sets]))


def test_flip_tta_is_recorded_and_every_consumer_applies_it(store, tmp_path):
    tiny_dataset(tmp_path)
    f = start(["dataset=tiny", "epochs=1", "tta.flip=true", "eval_splits=[test]"])
    jobs.train(f, log=lambda m: None)
    meta = models.read_meta(f)
    assert meta["tta"] == {"flip": True} and models.tta_flip(meta)
    summary = json.loads((f / "eval" / "tiny" / "test" / "summary.json").read_text())
    assert summary["flip_tta"] is True
    # the Predictor averages a face with its mirror image, exactly
    p = Predictor.load(str(f))
    face = np.random.default_rng(3).integers(0, 256, (48, 48), np.uint8)
    got = p.classify([face])[0]
    x = models.crop_input(face, meta)
    with torch.inference_mode():
        plain = torch.softmax(p.model(x), 1)[0]
        mirror = torch.softmax(p.model(torch.flip(x, dims=[3])), 1)[0]
    assert np.allclose(got, ((plain + mirror) / 2).numpy(), atol=1e-6)
    assert np.abs(got - plain.numpy()).max() > 1e-6  # the mirror made a difference
    # a model without the key is predicted plainly
    meta.pop("tta")
    models.write_meta(f, meta)
    assert np.allclose(Predictor.load(str(f)).classify([face])[0], plain.numpy(), atol=1e-6)


def test_flip_in_one_batch_equals_two_passes():
    model = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.0}).eval()
    imgs = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1), np.uint8)
    mean, std = torch.tensor([0.5]).view(1, 1, 1, 1), torch.tensor([0.25]).view(1, 1, 1, 1)
    both = models.predict(model, imgs, mean, std, "cpu", batch_size=4, flip=True)
    x = models.to_input(torch.from_numpy(imgs), mean, std, False)
    with torch.inference_mode():
        ref = (torch.softmax(model(x), 1) + torch.softmax(model(torch.flip(x, dims=[3])), 1)) / 2
    assert np.allclose(both, ref.numpy(), atol=1e-6)
