"""Evaluation figures, Grad-CAM, and the Evaluate / Errors / Explain pages."""
import os

import numpy as np
import pandas as pd
import pytest
import torch

from fer import evaluation, explain, jobs, models
from fer.evaluation import metrics
from fer.labels import CLASSES

from builders import app_page


def _pred(n=400, seed=0, sharp=3.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    logits = rng.normal(0, 1, (n, 7))
    logits[np.arange(n), labels] += sharp * rng.random(n)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    df = pd.DataFrame({"path": [f"s:{i}.png" for i in range(n)], "split": np.where(np.arange(n) % 2, "val", "test"),
                       "source": np.where(np.arange(n) % 3, "a", "b"), "label": labels, "prediction": p.argmax(1)})
    for i, c in enumerate(CLASSES):
        df[f"p_{c}"] = p[:, i]
    return df


def _table(labels, p):
    df = pd.DataFrame({"path": [f"s:{i}.png" for i in range(len(labels))], "split": "test", "source": "a",
                       "label": labels, "prediction": np.asarray(p).argmax(1)})
    for i, c in enumerate(CLASSES):
        df[f"p_{c}"] = np.asarray(p)[:, i]
    return df


def test_metrics_on_a_case_worked_by_hand():
    """Six images of three classes; the figures counted by hand (not by the library that computes them)."""
    labels = np.array([0, 0, 0, 1, 1, 2])
    p = np.full((6, 7), 0.02)
    for row, (top, second) in enumerate([(0, 1), (0, 1), (1, 0), (1, 0), (2, 4), (2, 0)]):
        p[row, top], p[row, second] = 0.6, 0.3
    p[4, 1] = 0.01  # row 4's true class (1) comes last, out of its top three
    p = p / p.sum(1, keepdims=True)
    s = metrics.summary(labels, p)
    # predicted 0 0 1 1 2 2 → class 0: P 1, R 2/3, F1 .8; class 1: P .5, R .5, F1 .5; class 2: P .5, R 1, F1 2/3
    assert s["n"] == 6 and s["accuracy"] == pytest.approx(4 / 6)
    assert s["macro_precision"] == pytest.approx(2 / 3) and s["macro_recall"] == pytest.approx(13 / 18)
    assert s["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)  # over the three classes present, not seven
    assert s["top3_accuracy"] == pytest.approx(5 / 6)  # row 4's true class is not in its top three
    assert s["loss"] == pytest.approx(-np.log(p[np.arange(6), labels]).mean())
    assert s["confusion_matrix"][0][:3] == [2, 1, 0] and s["confusion_matrix"][1][:3] == [0, 1, 1]
    assert s["per_class"]["disgust"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}


def test_average_precision_on_a_ranking_worked_by_hand():
    # happy scores .9 .8 .7 .1 for images that are happy, angry, happy, angry:
    # precision 1 at recall 1/2, then 2/3 at recall 1 → AP = 1/2 · 1 + 1/2 · 2/3 = 5/6
    p = np.zeros((4, 7))
    p[:, 3] = [0.9, 0.8, 0.7, 0.1]
    p[:, 0] = 1 - p[:, 3]
    curves = evaluation.pr_curves(_table([3, 0, 3, 0], p))
    assert set(curves) == {"angry", "happy"}  # classes without a positive have no curve
    assert curves["happy"]["ap"] == pytest.approx(5 / 6) and curves["angry"]["ap"] == pytest.approx(5 / 6)
    assert curves["happy"]["recall"][0] == 1.0 and curves["happy"]["precision"][-1] == 1.0


def test_label_issues_are_the_confident_contradictions_least_likely_label_first():
    p = np.full((7, 7), 0.01)
    given = [3, 3, 4, 0, 5, 6, 1]
    for row, (top, p_top, p_given) in enumerate([(0, 0.9, 0.04), (0, 0.85, 0.09), (3, 0.7, 0.24),
                                                 (0, 0.94, 0.94), (2, 0.92, 0.02), (6, 0.5, 0.44)]):
        p[row, top] = p_top
        if given[row] != top:
            p[row, given[row]] = p_given
    p[6] = [0.09, 0.05, 0.5, 0.09, 0.09, 0.09, 0.09]  # unlikely label, but no confident other class either
    df = _table(given, p / p.sum(1, keepdims=True))
    found = evaluation.label_issues(df, min_confidence=0.8)
    # rows 0, 1 and 4 contradict their label with at least 0.8; row 2 is not sure enough, 3 and 5
    # agree, row 6 doubts its label without believing another one
    assert list(found.index) == [4, 0, 1] and list(found["predicted"]) == ["fear", "angry", "angry"]
    assert found["given_label_p"].is_monotonic_increasing
    assert list(evaluation.label_issues(df, min_confidence=0.6).index) == [4, 0, 1, 2]


def test_ece_on_known_calibration():
    rng = np.random.default_rng(0)
    n = 20000
    conf = rng.uniform(0.5, 1.0, n)  # the top class, whichever it is
    labels = np.zeros(n, int)
    right = rng.random(n) < conf  # a perfectly calibrated model: right as often as it is sure
    pred = np.where(right, 0, 1)
    p = np.zeros((n, 7))
    p[np.arange(n), pred] = conf
    p[np.arange(n), (pred + 2) % 7] = 1 - conf
    df = pd.DataFrame({"label": labels, "prediction": pred, **{f"p_{c}": p[:, i] for i, c in enumerate(CLASSES)}})
    ece, table = evaluation.calibration(df)
    assert ece < 0.02 and len(table) == 8  # confidences from 0.5: the upper 8 of 15 bins
    overconfident = df.copy()
    overconfident["label"] = np.where(rng.random(n) < 0.5, overconfident["prediction"], 3)  # right half the time
    assert evaluation.calibration(overconfident)[0] > 0.1


def test_leak_free_figure_with_planted_duplicates(store, tmp_path):
    import builders as b
    from fer.data import import_dataset

    root = b.fer2013_folders(tmp_path / "fer", per_class=(4, 2, 2))
    train_files = sorted((root / "train").rglob("*.jpg"))
    copies = []
    for k, f in enumerate(train_files[:3]):  # byte copies of train images planted in test
        target = root / "test" / f.parent.name / f"PrivateTest_{9000 + k}.jpg"
        target.write_bytes(f.read_bytes())
        copies.append(f"fer:test/{f.parent.name}/{target.name}")
    df = import_dataset([str(root)], "leak", workers=1).manifest
    test = df[df["split"] == "test"]
    pred = pd.DataFrame({"path": test["path"], "split": "test", "source": "fer", "label": test["label"],
                         "prediction": test["label"]})
    for i, c in enumerate(CLASSES):
        pred[f"p_{c}"] = (test["label"] == i).astype(float)
    mask = evaluation.leaked(pred, "leak", "leak")
    assert set(pred["path"][mask]) == set(copies)
    lf = evaluation.leak_free(pred, "leak", "leak")
    assert lf["n"] == len(test) - 3 and lf["excluded"] == 3


def test_errors_filter_returns_exactly_the_matching_rows():
    df = _pred()
    got = evaluation.mistakes(df, true=["fear", "sad"], predicted=["happy"], confidence=(0.3, 0.9), sources=["a"],
                              splits=["val"])
    p = evaluation.probs(df)
    conf = p[np.arange(len(df)), df["prediction"]]
    want = df[(df.label != df.prediction) & df.label.isin([2, 4]) & (df.prediction == 3) & (conf >= 0.3) & (conf <= 0.9)
              & (df.source == "a") & (df.split == "val")]
    assert len(want) > 0  # the filters leave something to compare
    assert set(got["path"]) == set(want["path"])
    every = evaluation.mistakes(df)
    assert len(every) == (df.label != df.prediction).sum()
    assert every["confidence"].is_monotonic_decreasing
    assert evaluation.mistakes(df, sort="margin")["margin"].is_monotonic_increasing


ARCHS = [("fer_cnn", 1, 48), ("resnet18", 3, 64), ("convnext_tiny", 3, 64), ("efficientnet_b0", 3, 64),
         ("mobilenetv3_large_100", 3, 64), ("vgg16_bn", 3, 64), ("vit_tiny_patch16_224", 3, 224),
         ("facenet_vggface2", 3, 160)]


@pytest.mark.parametrize("arch,channels,size", ARCHS)
def test_cam_shape_and_range_for_every_architecture(arch, channels, size):
    import torch

    torch.manual_seed(0)
    m = models.build({"backbone": arch, "channels": channels, "dropout": 0.0})
    meta = {"architecture": arch, "normalisation": {"mean": [0.5] * channels, "std": [0.25] * channels}}
    crop = np.random.default_rng(0).integers(0, 255, (size, size, channels), dtype=np.uint8)
    heat, p = explain.explain(m, meta, crop, "GradCAM", target=3)
    assert heat.shape == (size, size) and heat.dtype == np.float32 and 0 <= heat.min() and heat.max() <= 1
    assert p.shape == (7,) and abs(p.sum() - 1) < 1e-5
    # (a random model may hold no evidence for a class: GradCAM is then all zeros, rightly; the layer's
    # activations themselves, EigenCAM's principal map, show that the layer found is a spatial one)
    heat, _ = explain.explain(m, meta, crop, "EigenCAM")
    assert heat.max() == pytest.approx(1, abs=1e-4) and 0.05 < (heat > 0.05).mean() < 1
    assert explain.overlay(crop, heat).shape == (size, size, 3)


class Spotter(__import__("torch").nn.Module):
    """A model whose answer is known: 'happy' is brightness and 'angry' darkness, wherever they are
    (a feature map copies the image's bright parts, another its dark parts; each class's logit is
    the mean of one). A class-activation map for 'happy' must light the bright square, for
    'angry' the dark one."""

    def __init__(self):
        import torch
        import torch.nn as nn

        super().__init__()
        conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        fc = nn.Linear(2, 7, bias=False)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1], conv.weight[1, 0, 1, 1] = 1.0, -1.0
            fc.weight.zero_()
            fc.weight[3, 0], fc.weight[0, 1] = 40.0, 40.0
        self.stages = nn.Sequential(nn.Sequential(conv, nn.ReLU()))  # fer_cnn's CAM layer: stages[-1]
        self.fc = fc

    def forward(self, x):
        return self.fc(self.stages(x).mean((2, 3)))


SPOT_META = {"architecture": "fer_cnn", "normalisation": {"mean": [0.5], "std": [0.5]}}


def _squares(dark: bool):
    image = np.full((48, 48), 128, np.uint8)  # mid-grey: 0 after normalisation
    bright, shadow = np.zeros((48, 48), bool), np.zeros((48, 48), bool)
    bright[28:40, 8:20] = True
    image[bright] = 255
    if dark:
        shadow[6:18, 30:42] = True
        image[shadow] = 0
    return image, bright, shadow


@pytest.mark.parametrize("method", explain.METHODS)
def test_every_method_lights_the_region_that_drives_the_class(method):
    model = Spotter()
    image, bright, _ = _squares(dark=False)
    heat, p = explain.explain(model, SPOT_META, image, method, target=3)
    assert bright[np.unravel_index(heat.argmax(), heat.shape)], method  # the peak is on the bright square
    assert heat[bright].mean() > 0.5 and heat[~bright].mean() < 0.1, method


@pytest.mark.parametrize("method", [m for m in explain.METHODS if m != "EigenCAM"])  # EigenCAM ignores the class
def test_class_discriminative_methods_follow_the_target_class(method):
    model = Spotter()
    image, bright, shadow = _squares(dark=True)
    for target, lit, unlit in ((3, bright, shadow), (0, shadow, bright)):
        heat, _ = explain.explain(model, SPOT_META, image, method, target=target)
        assert lit[np.unravel_index(heat.argmax(), heat.shape)], (method, target)
        assert heat[lit].mean() > 0.5 and heat[unlit].mean() < 0.2, (method, target)


def _live_tensors() -> int:
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def _rss_mib() -> float:
    """This process's memory now (not its peak, which earlier tests set)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_no_hook_tensor_or_memory_left_after_100_calls():
    m = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.0})
    meta = {"architecture": "fer_cnn", "normalisation": {"mean": [0.5], "std": [0.25]}}
    crop = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    for _ in range(5):  # caches and allocator pools settle
        explain.explain(m, meta, crop)
    tensors, rss = _live_tensors(), _rss_mib()
    for _ in range(100):
        explain.explain(m, meta, crop)
    own = explain._private(m)[0]  # Grad-CAM's own copy: m, which sessions may share, is never hooked
    hooks = sum(len(x._forward_hooks) + len(x._backward_hooks) + len(getattr(x, "_forward_pre_hooks", {}))
                for model in (m, own) for x in model.modules())
    assert hooks == 0
    assert _live_tensors() - tensors == 0  # nothing a call made is still held
    assert _rss_mib() - rss < 50


def test_unknown_layer_is_refused():
    m = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.0})
    with pytest.raises(ValueError, match="no module 'nope'"):
        explain.target_layer(m, "fer_cnn", "nope")
    assert explain.target_layer(m, "fer_cnn", "stages.2")[0] is m.stages[2]


class LeftRight(__import__("torch").nn.Module):
    """'happy' is a bright left half, 'angry' a bright right half: a mirror swaps the answers."""

    def forward(self, x):
        import torch

        left, right = x[..., : x.shape[-1] // 2].mean((1, 2, 3)), x[..., x.shape[-1] // 2:].mean((1, 2, 3))
        logits = torch.zeros(len(x), 7)
        logits[:, 3], logits[:, 0] = 20 * left, 20 * right
        return logits


def test_flip_tta_averages_each_image_with_its_mirror(store, tmp_path):
    import builders as b
    from fer.data import arrays
    from fer.evaluation import write_evaluation
    from fer.store import Evaluation, resolve_model
    from test_training import tiny_dataset

    tiny_dataset(tmp_path)
    version = resolve_model(str(b.untrained_model(tmp_path / "m")))  # where the evaluation is kept
    val = arrays.load("tiny", 48, 1)["val"]
    lopsided = val.images.copy()  # one half of each image lit, the left or the right: a mirror swaps them
    lopsided[0::2, :, :24], lopsided[1::2, :, 24:] = 255, 255
    val = arrays.Split(lopsided, val.labels, val.rows)
    meta = {"architecture": "left_right", "normalisation": {"mean": [0.5], "std": [0.25]}}
    ev = Evaluation.for_model(version, "tiny", "val")
    plain = write_evaluation(LeftRight(), meta, val, ev)
    flipped = write_evaluation(LeftRight(), meta, val, ev, flip=True)
    mean, std = models.norm_tensors(meta)
    as_is = models.predict(LeftRight(), val.images, mean, std, "cpu")
    mirrored = models.predict(LeftRight(), np.ascontiguousarray(val.images[:, :, ::-1]), mean, std, "cpu")
    assert (as_is.argmax(1) != mirrored.argmax(1)).all()  # the mirror changes every answer
    p_flip = evaluation.probs(pd.read_parquet(ev.folder / "predictions_flip.parquet"))
    assert np.allclose(p_flip, (as_is + mirrored) / 2, atol=1e-5)  # the average of both
    assert np.allclose(evaluation.probs(pd.read_parquet(ev.folder / "predictions.parquet")), as_is, atol=1e-5)
    assert flipped["flip_tta"] and not plain["flip_tta"] and ev.summary()["loss"] == pytest.approx(plain["loss"])
    assert ev.summary(flip=True)["loss"] == pytest.approx(flipped["loss"])  # both kept, side by side


def test_the_same_weights_with_flip_tta_keep_evaluations_of_their_own(store, tmp_path):
    """Two folders outside the store, one set of weights, one of them with ``tta.flip``: they
    predict otherwise, so neither may show the other's figures."""
    import json
    import shutil

    import builders as b
    from fer.evaluation import evaluate_model
    from fer.store import resolve_model
    from test_training import tiny_dataset

    tiny_dataset(tmp_path)
    plain = b.untrained_model(tmp_path / "plain")
    flip = shutil.copytree(plain, tmp_path / "flip")
    meta = json.loads((flip / "model.json").read_text())
    (flip / "model.json").write_text(json.dumps({**meta, "tta": {"flip": True}}))
    a, c = resolve_model(str(plain)), resolve_model(str(flip))
    assert a.sha256() == c.sha256() and a.eval_root != c.eval_root
    evaluate_model(a, "tiny", "val")
    assert [e.id for e in a.evaluations()] and not c.evaluations()  # not one to read from the other
    summary, _ = evaluate_model(c, "tiny", "val")
    assert summary["flip_tta"] and not a.evaluations()[0].summary()["flip_tta"]


# -- pages -----------------------------------------------------------------------------------

PAGES = ("5_Evaluate", "6_Errors", "7_Explain")


def test_pages_on_a_store_without_runs(store, monkeypatch):
    monkeypatch.setattr("fer.store.layout.SHIPPED", store / "nothing-shipped")
    monkeypatch.setattr("fer.store.layout.EARLIER_SHIPPED", store / "nothing-shipped-before")
    for page in PAGES:
        at = app_page(page, timeout=60).run()
        assert not at.exception and at.info and "No " in at.info[0].value


@pytest.fixture
def seeded_run(store, tmp_path):
    from fer import config as C
    from fer.store import Run
    from test_training import tiny_dataset

    tiny_dataset(tmp_path)
    f = Run.create(C.resolve({}, ["dataset=tiny", "epochs=1", "batch_size=16", "schedule.warmup_epochs=0",
                                   "eval_splits=[val, test]", "name=seeded"])).folder
    jobs.train(f, log=lambda m: None)
    return f


def test_evaluate_errors_explain_on_a_seeded_run(seeded_run):
    run = seeded_run.name
    at = app_page("5_Evaluate")
    at.query_params["run"] = run
    at.run()
    assert not at.exception
    metric = {m.label: m.value for m in at.metric}
    summary = __import__("json").loads((seeded_run / "eval" / "tiny" / "test" / "summary.json").read_text())
    # two decimals: 69.99 % must not read 70.0 %
    assert metric["accuracy"] == f"{100 * summary['accuracy']:.2f}%" and metric["leak-free accuracy"] != "—"
    assert len(at.get("plotly_chart")) >= 3
    spec = at.get("plotly_chart")[0].proto.spec
    assert "heatmap" in spec.lower()
    at = app_page("6_Errors")
    at.query_params.update({"run": run, "eval": "tiny / test"})
    at.run()
    assert not at.exception and "misclassified" in at.markdown[0].value
    pred = pd.read_parquet(seeded_run / "eval" / "tiny" / "test" / "predictions.parquet")
    wrong = pred[pred.label != pred.prediction]
    assert at.markdown[0].value.startswith(f"**{len(wrong):,}**")
    # Errors links each image to Explain by its manifest id, never by a path
    from fer.store import image_id_of

    row = pred.iloc[5]
    at = app_page("7_Explain")
    at.query_params.update({"model": run, "eval": "tiny/test", "image": image_id_of(row["path"])})
    at.run()
    assert not at.exception
    assert len(at.image) >= 3  # input, heatmap, overlay
    assert at.image[0].proto.imgs[0].caption == f"input (true: {CLASSES[int(row['label'])]})"
    assert not at.number_input  # the linked image, not the browser of numbers
    assert [d.label for d in at.get("download_button")] == ["Download (PNG)"]
    for bad in ("../../etc/passwd", "0" * 16, row["path"]):
        at = app_page("7_Explain")
        at.query_params.update({"model": run, "eval": "tiny/test", "image": bad})
        at.run()
        assert not at.exception and any(w.value.startswith("?image=") for w in at.warning), bad


def test_pages_refuse_ids_that_are_not_the_stores(seeded_run, tmp_path):
    outside = tmp_path / "model"
    outside.mkdir()
    for page in ("5_Evaluate", "6_Errors", "7_Explain"):
        for bad in ("../runs", str(outside), "/etc", "nope@1"):
            at = app_page(page)
            at.query_params.update({"model": bad, "eval": "../../x"})
            at.run()
            assert not at.exception, (page, bad)
            assert any(w.value.startswith("?model=") and ": no model" in w.value for w in at.warning), (page, bad)
