"""What the Train form says before launch: presets with a line each and a quick one preselected,
labels of their own, refusals per option, and the estimated duration from measured speeds."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from fer import runs
from fer.store import Run, layout
from fer import config as C

from builders import REPO, untrained_model
from test_training import tiny_dataset

TRAIN = str(REPO / "pages" / "3_Train.py")


def test_every_preset_has_a_line_and_a_quick_one_exists():
    presets = C.presets()
    assert "quick" in presets and all(C.description(p) for p in presets.values())
    quick = C.load("quick", ["dataset=x"])
    assert "description" not in quick and quick["epochs"] == 2 and quick["model"]["backbone"] == "fer_cnn"
    assert C.resolve(presets["quick"], ["dataset=x"]) == quick


def test_no_two_fields_share_a_label():
    labels = [C.label(k) for k in C.SCHEMA]
    assert len(set(labels)) == len(labels)
    assert {C.label("optimizer.name"), C.label("schedule.name"), C.label("name")} == {
        "optimizer name", "schedule name", "run name"}


def test_problems_name_every_refused_option_and_validate_the_first():
    cfg = C.resolve({}, ["dataset=x", "epochs=0", "optimizer.lr=-1", "augment.crop_scale=[0.9, 0.5]",
                         "eval_splits=[test, holdout]"])
    found = C.problems(cfg)
    assert list(found) == ["epochs", "optimizer.lr", "augment.crop_scale", "eval_splits"]
    assert all(why.startswith(key) for key, why in found.items())
    with pytest.raises(C.ConfigError, match="^epochs=0: use a whole number"):
        C.validate(cfg)
    assert C.problems(C.resolve({}, ["dataset=x"])) == {}


def _run_with_epochs(backbone, size, epochs, gpu=None, cpu_share=None):
    """A run that recorded these epochs ((images, training seconds, wall seconds since the last));
    ``cpu_share``: the share of its 2 threads' time the process got (under 0.6: a busy machine)."""
    run = Run.create(C.resolve({}, ["dataset=tiny", f"model.backbone={backbone}", f"model.input_size={size}"]))
    untrained_model(run.folder)
    meta = json.loads((run.folder / layout.MODEL_META).read_text())
    meta["hardware"] = {"cpu": "x86_64", "gpu": gpu, "torch_threads": 2}
    (run.folder / layout.MODEL_META).write_text(json.dumps(meta))
    t = 1000.0
    for k, (images, train_s, wall_s) in enumerate(epochs, 1):
        t += wall_s
        cpu = {} if cpu_share is None else {"cpu_seconds": cpu_share * train_s * 2, "threads": 2}
        run.append_metrics({"kind": "epoch", "epoch": k, "images_per_s": images / train_s, "epoch_seconds": train_s,
                            "time": t, "val_macro_f1": 0.1, "val_loss": 1.9, "val_accuracy": 0.2, "train_loss": 1.9,
                            "train_accuracy": 0.2, **cpu})
    run.job.write_status(state="finished")
    return run


def test_speed_is_measured_from_runs_wall_time_per_epoch(store):
    # 10,000 images an epoch; 50 s training + 12.5 s validation and saving; a pause before epoch 4
    _run_with_epochs("fer_cnn", 48, [(10_000, 50, 60), (10_000, 50, 62.5), (10_000, 50, 62.5), (10_000, 50, 5000)])
    speeds = runs.measured_speeds()
    assert speeds[("fer_cnn", 48, 1, 64, "cpu")]["images_per_s"] == pytest.approx(160.0)  # 10,000 / 62.5
    est = runs.estimate(C.resolve({}, ["model.backbone=fer_cnn", "epochs=3"]), 16_000, "cpu", speeds)
    assert est["seconds"] == pytest.approx(300.0) and runs.duration(est["seconds"]) == "about 5 min"
    other = runs.estimate(C.resolve({}, ["model.backbone=resnet18", "model.input_size=112"]), 16_000, "cpu", speeds)
    assert other["seconds"] is None and runs.duration(None) == "unknown"
    assert runs.estimate(C.resolve({}, ["model.backbone=fer_cnn"]), 16_000, "cuda", speeds)["seconds"] is None


def test_a_run_on_a_real_dataset_outweighs_tiny_ones(store):
    _run_with_epochs("fer_cnn", 48, [(20_000, 100, 110), (20_000, 100, 125)])  # 160 img/s
    _run_with_epochs("fer_cnn", 48, [(100, 1, 4), (100, 1, 4)])  # 25 img/s: the fixed cost of an epoch
    assert runs.measured_speeds()[("fer_cnn", 48, 1, 64, "cpu")]["images_per_s"] == pytest.approx(160.0)


def test_small_or_busy_runs_do_not_swing_the_estimate_and_a_guess_says_so(store):
    """The Train page's estimate jumped from about 7 min to about 1 h 38 min after two small runs on
    a busy machine (it trusted the latest runs): they are left out while a better measure is there,
    and an estimate made from them alone says it is a guess, and from what."""
    key = ("fer_cnn", 48, 1, 64, "cpu")
    shipped = runs.measured_speeds()[key]
    _run_with_epochs("fer_cnn", 48, [(280, 28, 28), (280, 28, 28)], cpu_share=0.3)  # 10 img/s, small and busy
    _run_with_epochs("fer_cnn", 48, [(280, 28, 28), (280, 28, 28)], cpu_share=0.3)
    assert runs.measured_speeds()[key] == shipped  # the shipped model's training still speaks for the key
    _run_with_epochs("fer_cnn", 48, [(20_000, 100, 100), (20_000, 100, 125)])  # 160 img/s, a real dataset
    _run_with_epochs("fer_cnn", 48, [(20_000, 100, 100), (20_000, 100, 100)])  # 200 img/s
    _run_with_epochs("fer_cnn", 48, [(20_000, 100, 100), (20_000, 1000, 2000)], cpu_share=0.2)  # busy: 10 img/s
    speed = runs.measured_speeds()[key]  # the median of the two good runs, not the latest (busy) one
    assert speed["images_per_s"] == pytest.approx(180.0) and not speed["guess"]
    assert "median of 2 run(s)" in speed["basis"]
    assert "3 on a small dataset or a busy machine left out" in speed["basis"]
    other = ("resnet18", 112, 1, 64, "cpu")  # measured only by a small busy run: a guess, said so
    _run_with_epochs("resnet18", 112, [(280, 28, 28), (280, 28, 28)], cpu_share=0.3)
    guess = runs.measured_speeds()[other]
    assert guess["guess"] and "all on a small dataset, on a busy machine: a guess" in guess["basis"]
    est = runs.estimate(C.resolve({}, ["model.backbone=resnet18", "model.input_size=112"]), 10_000, "cpu",
                        runs.measured_speeds())
    assert est["guess"] and est["seconds"] == pytest.approx(10_000 * 30 / 10)


def test_the_shipped_models_training_is_the_speed_until_a_run_measures_one(store):
    meta = json.loads((layout.SHIPPED / layout.MODEL_META).read_text())["members"][0]  # an ensemble: its first
    speed = runs.measured_speeds()[("fer_cnn", 48, 1, 64, "cpu")]
    m = meta["metrics"]
    assert speed["images_per_s"] == pytest.approx(meta["data"]["splits"]["train"] * m["epochs_run"] / m["train_seconds"])
    assert "shipped model" in speed["basis"]


def test_the_form_shows_the_cost_before_launch(store, tmp_path):
    tiny_dataset(tmp_path)
    _run_with_epochs("fer_cnn", 48, [(10_000, 50, 60), (10_000, 50, 62.5)])  # 160 img/s
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    assert not at.exception
    preset = at.selectbox[1]
    assert preset.value == "quick" and "light augmentation" in at.caption[0].value
    assert all(" · " in label for label in preset.options)  # each preset with what it would cost here
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["images an epoch"] == "70" and metrics["epochs"] == "2" and metrics["speed"] == "160 img/s"
    at.number_input(key="quick:epochs").set_value(3).run()
    assert {m.label: m.value for m in at.metric}["epochs"] == "3"  # for the options as set
    splits = at.multiselect(key="quick:eval_splits")
    assert splits.value == ["test"] and splits.options == ["train", "val", "test"]
    labels = [w.label for kind in ("text_input", "number_input", "selectbox", "checkbox", "multiselect", "slider")
              for w in at.get(kind)]
    assert len(labels) == len(set(labels))
