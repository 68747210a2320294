"""Train and Runs pages with AppTest: launch the smoke preset, see it finish, compare, promote."""
import time

from streamlit.testing.v1 import AppTest

from fer import jobs
from fer.store import Run, resolve_model
from fer.training import config as C
from fer.training import trainer

from builders import REPO
from test_training import tiny_dataset

TRAIN = str(REPO / "pages" / "3_Train.py")
RUNS = str(REPO / "pages" / "4_Runs.py")


def test_train_page_on_an_empty_store(store):
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    assert not at.exception and "No dataset to train on yet" in at.info[0].value


def test_launch_the_smoke_preset_and_see_it_finish(store, tmp_path):
    tiny_dataset(tmp_path)
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    assert not at.exception
    at.selectbox[1].set_value("smoke").run()  # preset
    at.number_input(key="smoke:epochs").set_value(1)
    at.button[0].click().run()  # the form's Train button
    assert not at.exception
    assert "queued" in at.success[0].value
    f = next((store / "runs").iterdir())
    assert Run(f).config()["epochs"] == 1 and Run(f).config()["dataset"] == "tiny"
    t = time.time()
    while jobs.status(f)["state"] in jobs.ACTIVE:
        assert time.time() - t < 240
        time.sleep(0.5)
    assert jobs.status(f)["state"] == "finished"
    at = AppTest.from_file(TRAIN, default_timeout=60).run()  # a fresh page (a reload) shows the same run
    assert not at.exception
    assert any("finished" in m.value for m in at.markdown)
    assert at.get("plotly_chart") and "epoch 1/1" in at.code[0].value


def test_bad_option_is_refused_on_the_page(store, tmp_path):
    tiny_dataset(tmp_path)
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    at.selectbox[1].set_value("smoke").run()
    at.number_input(key="smoke:optimizer.lr").set_value(-1.0)
    at.button[0].click().run()
    assert "Not started: optimizer.lr" in at.error[0].value
    assert not (store / "runs").exists()


def _finished_run(name):
    cfg = C.resolve({}, ["dataset=tiny", "model.backbone=fer_cnn", "epochs=1", "batch_size=16", f"name={name}",
                         "schedule.warmup_epochs=0", "eval_splits=[test]"])
    f = Run.create(cfg).folder
    trainer.run(f, log=lambda m: None)
    return f


def test_runs_page_compares_and_promotes(store, tmp_path):
    at = AppTest.from_file(RUNS, default_timeout=60).run()
    assert not at.exception and "No run yet" in at.info[0].value
    tiny_dataset(tmp_path)
    a, c = _finished_run("first"), _finished_run("second")
    at = AppTest.from_file(RUNS, default_timeout=60).run()
    assert not at.exception
    assert set(at.dataframe[0].value["name"]) == {"first", "second"}
    at.multiselect[0].set_value([a.name, c.name]).run()
    spec = at.get("plotly_chart")[0].proto.spec
    assert "first" in spec and "second" in spec
    assert list(at.dataframe[1].value["run"]) == ["first", "second"]
    assert "tiny/test accuracy" in at.dataframe[1].value
    at.multiselect[0].set_value([a.name]).run()
    at.text_input(key=f"name-{a.name}").set_value("renamed")
    at.button(key=f"rename-{a.name}").click().run()
    assert (store / "runs" / a.name / "run.json").read_text().count("renamed") == 1
    at.multiselect[0].set_value([a.name]).run()
    at.button(key=f"promote-{a.name}").click().run()
    assert resolve_model("default").folder == store / "models" / "default" / "versions" / "1"
    at.checkbox(key=f"sure-{a.name}").check().run()
    at.button(key=f"delete-{a.name}").click().run()
    assert not (store / "runs" / a.name).exists() and (store / "models" / "default").exists()
