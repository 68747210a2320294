"""Evaluation figures, Grad-CAM, and the Evaluate / Errors / Explain pages."""
import numpy as np
import pandas as pd
import pytest

from fer import evaluation, explain, models
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


def test_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, top_k_accuracy_score

    df = _pred()
    p, y = evaluation.probs(df), df["label"].to_numpy()
    s = metrics.summary(y, p)
    assert s["accuracy"] == pytest.approx(accuracy_score(y, p.argmax(1)))
    assert s["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert s["macro_precision"] == pytest.approx(precision_score(y, p.argmax(1), average="macro", zero_division=0))
    assert s["macro_recall"] == pytest.approx(recall_score(y, p.argmax(1), average="macro"))
    assert s["top3_accuracy"] == pytest.approx(top_k_accuracy_score(y, p, k=3, labels=range(7)))
    assert np.array(s["confusion_matrix"]).sum() == len(df)


def test_pr_curves_and_ap_equal_scikit_learn():
    from sklearn.metrics import average_precision_score

    df = _pred()
    curves = evaluation.pr_curves(df)
    for i, c in enumerate(CLASSES):
        y = (df["label"] == i).astype(int)
        assert curves[c]["ap"] == pytest.approx(average_precision_score(y, df[f"p_{c}"]))
        assert curves[c]["recall"][0] == 1.0 and curves[c]["precision"][-1] == 1.0


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
    m = models.build({"backbone": arch, "channels": channels, "dropout": 0.0})
    meta = {"architecture": arch, "normalisation": {"mean": [0.5] * channels, "std": [0.25] * channels}}
    crop = np.random.default_rng(0).integers(0, 255, (size, size, channels), dtype=np.uint8)
    heat, p = explain.explain(m, meta, crop, "GradCAM", target=3)
    assert heat.shape == (size, size) and heat.dtype == np.float32 and 0 <= heat.min() and heat.max() <= 1
    assert p.shape == (7,) and abs(p.sum() - 1) < 1e-5
    assert explain.overlay(crop, heat).shape == (size, size, 3)


@pytest.mark.parametrize("method", [m for m in explain.METHODS if m != "ScoreCAM"])
def test_every_method_runs(method):
    m = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.0})
    meta = {"architecture": "fer_cnn", "normalisation": {"mean": [0.5], "std": [0.25]}}
    heat, _ = explain.explain(m, meta, np.full((48, 48), 128, np.uint8), method)
    assert heat.shape == (48, 48)


def test_no_hook_or_memory_left_after_100_calls():
    import resource

    m = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.0})
    meta = {"architecture": "fer_cnn", "normalisation": {"mean": [0.5], "std": [0.25]}}
    crop = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    explain.explain(m, meta, crop)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(100):
        explain.explain(m, meta, crop)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    hooks = sum(len(x._forward_hooks) + len(x._backward_hooks) + len(getattr(x, "_forward_pre_hooks", {}))
                for x in m.modules())
    assert hooks == 0 and grown_mb < 50


def test_unknown_layer_is_refused():
    m = models.build({"backbone": "fer_cnn", "channels": 1, "dropout": 0.0})
    with pytest.raises(ValueError, match="no module 'nope'"):
        explain.target_layer(m, "fer_cnn", "nope")
    assert explain.target_layer(m, "fer_cnn", "stages.2")[0] is m.stages[2]


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
    from fer.training import config as C
    from fer.training import trainer
    from fer.store import Run
    from test_training import tiny_dataset

    tiny_dataset(tmp_path)
    f = Run.create(C.resolve({}, ["dataset=tiny", "epochs=1", "batch_size=16", "schedule.warmup_epochs=0",
                                   "eval_splits=[val, test]", "name=seeded"])).folder
    trainer.run(f, log=lambda m: None)
    return f


def test_evaluate_errors_explain_on_a_seeded_run(seeded_run):
    run = seeded_run.name
    at = app_page("5_Evaluate")
    at.query_params["run"] = run
    at.run()
    assert not at.exception
    metric = {m.label: m.value for m in at.metric}
    summary = __import__("json").loads((seeded_run / "eval" / "tiny" / "test" / "summary.json").read_text())
    assert metric["accuracy"] == f"{summary['accuracy']:.1%}" and metric["leak-free accuracy"] != "—"
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
