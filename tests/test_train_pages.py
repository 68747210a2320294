"""Train and Runs pages with AppTest: launch the smoke preset, see it finish, compare, promote."""
import time

from streamlit.testing.v1 import AppTest

from fer import jobs
from fer.store import Model, Run, promote, resolve_model
from fer import config as C

from builders import REPO, app_page
from test_training import tiny_dataset

TRAIN = str(REPO / "pages" / "3_Train.py")


def test_train_page_on_an_empty_store(store):
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    assert not at.exception and "No dataset to train on yet" in at.info[0].value


def test_launch_the_smoke_preset_and_see_it_finish(store, tmp_path):
    tiny_dataset(tmp_path)
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    assert not at.exception
    assert at.selectbox[1].value == "quick"  # preselected: a first model in minutes
    at.selectbox[1].set_value("smoke").run()  # preset
    at.number_input(key="smoke:epochs").set_value(1).run()
    at.button(key="train").click().run()
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


def test_bad_option_is_refused_next_to_it(store, tmp_path):
    tiny_dataset(tmp_path)
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    at.selectbox[1].set_value("smoke").run()
    at.number_input(key="smoke:optimizer.lr").set_value(-1.0).run()
    at.text_input(key="smoke:model.backbone").set_value("no_such_net").run()
    errors = [e.value for e in at.error]
    assert errors[:2] == ["model.backbone='no_such_net': unknown; use a timm model name (resnet18, convnext_tiny, …), "
                          "fer_cnn or facenet_vggface2", "optimizer.lr=-1.0: use a positive number"]
    assert errors[2].startswith("Not ready: 2 option(s) refused")
    assert at.button(key="train").disabled
    # each refusal sits in the same column, right under its own field
    model = next(e for e in at.expander if e.label == "model")
    assert "model.backbone=" in [e.value for e in model.error][0]
    assert not (store / "runs").exists()
    at.number_input(key="smoke:optimizer.lr").set_value(0.001).run()
    at.text_input(key="smoke:model.backbone").set_value("fer_cnn").run()
    assert not at.error and not at.button(key="train").disabled


def _finished_run(name):
    cfg = C.resolve({}, ["dataset=tiny", "model.backbone=fer_cnn", "epochs=1", "batch_size=16", f"name={name}",
                         "schedule.warmup_epochs=0", "eval_splits=[test]"])
    f = Run.create(cfg).folder
    jobs.train(f, log=lambda m: None)
    return f


def test_runs_page_compares_and_promotes(store, tmp_path):
    at = app_page("4_Runs", timeout=60).run()
    assert not at.exception and "No run yet" in at.info[0].value
    tiny_dataset(tmp_path)
    a, c = _finished_run("first"), _finished_run("second")
    at = app_page("4_Runs", timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["name"]) == {"first", "second"}
    assert list(table.columns[:4]) == ["name", "state", "dataset", "test_accuracy"]  # key columns first
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
    assert at.text_input(key=f"model-{a.name}").value == ""  # no name is offered: nothing is promoted by accident
    at.text_input(key=f"model-{a.name}").set_value("default").run()
    assert at.button(key=f"promote-{a.name}").disabled  # replacing the shipped default asks first
    at.checkbox(key=f"replace-{a.name}").check().run()
    at.button(key=f"promote-{a.name}").click().run()
    assert resolve_model("default").folder == store / "models" / "default" / "versions" / "1"
    assert at.text_input(key=f"model-{a.name}").value == ""  # and the form starts afresh
    at.checkbox(key=f"sure-{a.name}").check().run()
    at.button(key=f"delete-{a.name}").click().run()
    assert not (store / "runs" / a.name).exists() and (store / "models" / "default").exists()


def _metric(at, label):
    return [m.value for m in at.metric if m.label == label]


def test_promoting_over_a_name_shows_what_it_replaces_and_asks(store, tmp_path):
    tiny_dataset(tmp_path)
    a, c = _finished_run("first"), _finished_run("second")
    at = app_page("4_Runs", {"run": c.name}, timeout=60).run()
    box = at.text_input(key=f"model-{c.name}")
    box.set_value("best").run()
    assert f"'best' is a new model: run {c.name} becomes best@1." in [x.value for x in at.caption]
    assert not at.button(key=f"promote-{c.name}").disabled  # a new name replaces nothing: no question
    at.button(key=f"promote-{c.name}").click().run()
    assert at.success[0].value == "Promoted: best@1 is now the current best."

    at = app_page("4_Runs", {"run": a.name}, timeout=60).run()
    at.text_input(key=f"model-{a.name}").set_value("best").run()
    shown = " ".join(m.value for m in at.markdown)
    assert "Now current: best@1" in shown and f"source run `{c.name}`" in shown  # what goes, beside what comes
    assert f"Run {a.name}, as best@2" in shown and f"source run `{a.name}`" in shown
    figures = {r: __import__("json").loads((store / "runs" / r / "eval" / "tiny" / "test" / "summary.json").read_text())
               for r in (a.name, c.name)}
    assert _metric(at, "test accuracy") == [f"{figures[c.name]['accuracy']:.2%}", f"{figures[a.name]['accuracy']:.2%}"]
    assert len(_metric(at, "leak-free accuracy")) == 2 and "—" not in _metric(at, "leak-free accuracy")
    assert at.button(key=f"promote-{a.name}").disabled and Model.open("best").current_id() == "1"
    at.checkbox(key=f"replace-{a.name}").check().run()
    at.button(key=f"promote-{a.name}").click().run()
    assert Model.open("best").current_id() == "2" and Model.open("best").current().source_run == a.name

    at.text_input(key=f"model-{a.name}").set_value("bad name").run()
    assert at.error[0].value.startswith("Model name: invalid name 'bad name'")


def test_models_tab_lists_versions_and_restores_in_one_click(store, tmp_path):
    tiny_dataset(tmp_path)
    a, c = _finished_run("first"), _finished_run("second")
    promote(a.name, "best")
    promote(c.name, "best")
    promote(c.name, "default")
    at = app_page("4_Runs", {"view": "Models"}, timeout=60).run()
    assert not at.exception
    shown = [m.value for m in at.markdown]
    assert "### default · current: version 1" in shown and "### best · current: version 2" in shown
    assert "**2** :green-badge[current]" in shown and "**1**" in shown and f"run `{a.name}`" in shown
    assert "shipped with FER Studio" in shown
    at.button(key="restore-best@1").click().run()
    assert Model.open("best").current_id() == "1" and at.success[0].value == "best@1 is now the current best."
    at.button(key="restore-default@shipped").click().run()  # the shipped default, one click
    assert resolve_model("default").kind == "shipped" and Model.open("default").previous_id() == "1"
    keys = {b.key for b in at.button}
    assert "restore-default@shipped" not in keys and {"restore-default@1", "restore-previous-default"} <= keys
