"""Sweeps: the search space is checked before anything runs, a trial reports each epoch and is
pruned below the median, trials are ordinary runs of the store, the coordinator takes no slot, a
study resumes with more trials, the Train page starts one and Cancel stops it with its trials, and
the Runs page shows it and promotes its best trial."""
import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from fer import jobs, settings
from fer.jobs.kinds import run_train
from fer.store import Job, Run, layout, resolve_model
from fer.sweeps import space, studies
from fer import config as C

from builders import REPO, app_page
from test_training import cli, start, tiny_dataset

TRAIN = str(REPO / "pages" / "3_Train.py")
SEARCH = ["--search", "optimizer.lr=loguniform:1e-4:1e-2", "--search", "model.dropout=uniform:0:0.5"]


def wait(predicate, timeout=240, what="it"):
    t = time.time()
    while not predicate():
        assert time.time() - t < timeout, f"waited {timeout} s for {what}"
        time.sleep(0.5)


@pytest.mark.parametrize("text,named", [
    ("optimizer.lrr=loguniform:1e-4:1e-2", "optimizer.lrr: unknown config key"),
    ("optimizer.lr=gaussian:0:1", "optimizer.lr: unknown distribution 'gaussian'"),
    ("optimizer.lr=loguniform:0:1e-2", "optimizer.lr: loguniform needs a low bound above 0"),
    ("optimizer.lr=uniform:1e-2:1e-4", "optimizer.lr: low 0.01 must be below high 0.0001"),
    ("model.dropout=uniform:0:1.5", "model.dropout: 1.5 is out of range"),
    ("epochs=int:1:2.5", "epochs: '2.5' is not a whole number"),
    ("batch_size=uniform:8:64", "batch_size: uniform does not fit a int key"),
    ("model.transfer=choice:full,sideways", "model.transfer: 'sideways' is out of range"),
    ("model.transfer=choice:full", "model.transfer: choice needs two or more"),
    ("dataset=choice:a,b", "dataset: this key is not searched"),
    ("optimizer.lr", "use KEY=DIST:ARGS"),
    ("optimizer.lr=loguniform:1e-4", "optimizer.lr: loguniform needs a low and a high bound"),
])
def test_a_bad_search_is_refused_naming_the_key(text, named):
    base = C.resolve({}, ["dataset=any"])
    with pytest.raises(space.SearchError) as e:
        space.check([text], base)
    assert named in str(e.value)


def test_the_four_distributions_parse_from_the_schema():
    base = C.resolve({}, ["dataset=any"])
    params = space.check(["optimizer.lr=loguniform:1e-4:1e-2", "model.dropout=uniform:0:0.5",
                          "augment.randaugment_n=int:0:3", "model.transfer=choice:partial,full",
                          "ema.enabled=choice:false,true"], base)
    assert [(p.dist, p.low, p.high, p.choices) for p in params] == [
        ("loguniform", 0.0001, 0.01, ()), ("uniform", 0, 0.5, ()), ("int", 0, 3, ()),
        ("choice", None, None, ("partial", "full")), ("choice", None, None, (False, True))]
    assert [space.parse(p.text) for p in params] == params  # the job file's form reads back the same
    with pytest.raises(space.SearchError, match="searched twice"):
        space.check(["model.dropout=uniform:0:0.5", "model.dropout=uniform:0:0.2"], base)
    kinds = space.searchable()
    assert kinds["optimizer.lr"]["kind"] == "float" and kinds["epochs"]["kind"] == "int"
    assert kinds["model.transfer"]["choices"] == ["frozen", "partial", "full"] and "dataset" not in kinds


def test_the_cli_refuses_a_bad_search_with_exit_2_before_any_trial(store, tmp_path):
    tiny_dataset(tmp_path)
    p = cli("fer", "sweep", "--config", "smoke", "--set", "dataset=tiny", "--search", "optimizer.lr=loguniform:1e-4:1e-2",
            "--search", "model.dropout=uniform:0:1.5", "--trials", "6", "--name", "bad", store=store, check=False)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "error: --search model.dropout: 1.5 is out of range (model.dropout=1.5: use a number from 0 up to (not "
        "including) 1)"]
    assert not (store / layout.RUNS).exists() and not (store / layout.JOBS).exists()
    assert not layout.studies_db().exists()


def test_study_storage_in_the_settings_is_where_studies_go(store, tmp_path, monkeypatch):
    """Any SQLAlchemy URL (here another SQLite file, as a PostgreSQL URL would be) replaces the store's file."""
    monkeypatch.setenv("FER_STUDY_STORAGE", f"sqlite:///{tmp_path}/shared.db")
    studies.create("elsewhere", {"search": ["model.dropout=uniform:0:0.5"], "objective": "val_macro_f1"})
    assert (tmp_path / "shared.db").exists() and not layout.studies_db().exists()
    assert studies.names() == ["elsewhere"]
    monkeypatch.setenv("FER_STUDY_STORAGE", "postgresql://u:secret@127.0.0.1:1/optuna")
    with pytest.raises(ValueError, match="study_storage postgresql://u:\\*\\*\\*@127.0.0.1:1/optuna: cannot open"):
        studies.names()


def _planted_study(name: str, value: float, epochs: int = 3):
    """A study with two finished trials that reported ``value`` at every epoch."""
    study = studies.create(name, {"search": ["model.dropout=uniform:0:0.5"], "objective": "val_macro_f1",
                                  "config": {}})
    for _ in range(studies.STARTUP_TRIALS):
        t = study.ask()
        t.suggest_float("model.dropout", 0, 0.5)
        for epoch in range(1, epochs + 1):
            t.report(value, epoch)
        study.tell(t, value)
    return study


@pytest.mark.parametrize("others,pruned", [(1.0, True), (0.0, False)])
def test_a_trial_reports_each_epoch_and_is_pruned_below_the_median(store, tmp_path, capsys, others, pruned):
    """Two finished trials at macro-F1 1.0 every epoch: the third (on noise, far below) is pruned
    after its first epoch; at 0.0 it trains to the end."""
    from fer.startup import register_job_kinds

    register_job_kinds()  # what every program does first: a trial's epoch listener is a sweep's
    tiny_dataset(tmp_path)
    study = _planted_study("planted", others)
    trial = study.ask()
    trial.suggest_float("model.dropout", 0, 0.5)
    folder = start(["dataset=tiny", "epochs=2", "eval_splits=[]"])
    assert run_train({"run": folder.name, "trial": {"study": "planted", "number": trial.number}}, folder) == 0
    run = Run(folder)
    reported = studies.load("planted").trials[trial.number].intermediate_values
    if pruned:
        assert run.state == "pruned" and list(run.epochs()["epoch"]) == [1] and list(reported) == [1]
        assert "pruned after epoch 1" in capsys.readouterr().err and run.status()["epoch"] == 1
        with pytest.raises(ValueError, match="pruned by its sweep"):
            jobs.resume_run(folder.name)
    else:
        assert run.state == "finished" and list(run.epochs()["epoch"]) == [1, 2] and list(reported) == [1, 2]
    assert reported[1] == pytest.approx(run.epochs()["val_macro_f1"][0])


@pytest.fixture(scope="session")
def swept(tmp_path_factory):
    """A store where ``python -m fer sweep`` ran 2 trials of 1 epoch, then 1 more under the same name
    (one session-wide: test_determinism compares it with the same sweep beside busy loops)."""
    tmp = tmp_path_factory.mktemp("swept")
    root = tmp / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_ARTIFACTS", str(root))
        mp.setenv("FER_MAX_JOBS", "1")  # one slot: the coordinator must not hold it, or its trial never starts
        tiny_dataset(tmp)
        args = ["fer", "sweep", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=1", *SEARCH,
                "--parallel", "1", "--name", "s1", "--json"]
        first = cli(*args, "--trials", "2", store=root, timeout=600)
        again = cli(*args, "--trials", "1", store=root, timeout=600)
        yield {"store": root, "first": first, "again": again, "tmp": tmp}


def test_a_cli_sweep_runs_its_trials_as_runs_and_resumes_with_more(swept, monkeypatch):
    monkeypatch.setenv("FER_ARTIFACTS", str(swept["store"]))
    first = json.loads(swept["first"].stdout)
    assert swept["first"].stdout.count("\n") == 1  # one line
    assert (first["trials"], first["complete"], first["pruned"], first["state"]) == (2, 2, 0, "finished")
    assert set(first["best_params"]) == {"optimizer.lr", "model.dropout"}
    assert 1e-4 <= first["best_params"]["optimizer.lr"] <= 1e-2 and 0 <= first["best_params"]["model.dropout"] <= 0.5
    best = Run.open(first["best_run"])
    assert best.state == "finished" and best.tags["study"] == "s1"
    assert best.config()["optimizer"]["lr"] == first["best_params"]["optimizer.lr"]
    assert best.epochs()["val_macro_f1"].max() == pytest.approx(first["best_value"])
    assert json.loads(swept["again"].stdout)["trials"] == 3  # the same study, one trial more
    trials = sorted(r.tags["trial"] for r in Run.list() if r.tags.get("study") == "s1")
    assert trials == [0, 1, 2] and all(r.state == "finished" for r in Run.list())
    sweeps = [j for j in jobs.listing() if j["kind"] == "sweep"]
    assert [j["state"] for j in sweeps] == ["finished", "finished"]
    assert "trial 2: run " in (swept["store"] / layout.JOBS / sweeps[1]["id"] / layout.JOB_LOG).read_text()
    p = cli("fer", "sweep", "--config", "smoke", "--set", "dataset=tiny", "--search", "model.dropout=uniform:0:0.5",
            "--name", "s1", store=swept["store"], check=False)
    assert p.returncode == 2 and "study 's1' exists and searches model.dropout, optimizer.lr" in p.stderr
    assert len(studies.load("s1").trials) == 3


def test_the_runs_page_shows_the_study_and_promotes_its_best(swept, monkeypatch):
    monkeypatch.setenv("FER_ARTIFACTS", str(swept["store"]))
    optuna = studies.optuna()
    study = studies.load("s1")
    study.add_trial(optuna.trial.create_trial(  # a pruned trial, as the pruner leaves one
        state=optuna.trial.TrialState.PRUNED, params={"optimizer.lr": 1e-3, "model.dropout": 0.1},
        distributions={"optimizer.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                       "model.dropout": optuna.distributions.FloatDistribution(0, 0.5)},
        intermediate_values={1: 0.01, 2: 0.02}, value=0.02))
    best = studies.best(study)
    at = app_page("4_Runs", {"study": "s1"}).run()  # as the app opens it: its links resolve
    assert not at.exception and not at.warning
    assert {m.label: m.value for m in at.metric}["pruned"] == "1"
    table = at.dataframe[1].value
    assert list(table["state"]) == ["complete"] * 3 + ["pruned"] and list(table["pruned at epoch"])[-1] == 2
    assert {"params.optimizer.lr", "params.model.dropout", "value", "run"} <= set(table)
    assert any(f"/Runs?run={best['run']}" in m.value for m in at.markdown)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Optimization History" in s for s in specs) and any("Intermediate Values" in s for s in specs)
    assert any("Parallel Coordinate" in s for s in specs) and any("Hyperparameter Importances" in s for s in specs)
    key = f"study-s1-{best['run']}"
    assert at.text_input(key=f"model-{key}").value == ""  # nothing offered: no promotion by accident
    at.text_input(key=f"model-{key}").set_value("swept").run()
    at.button(key=f"promote-{key}").click().run()
    assert "Promoted" in at.success[0].value
    assert resolve_model("swept").source_run == best["run"]
    # a name in use: what it would replace, and nothing until confirmed (it promoted at once before)
    at.text_input(key=f"model-{key}").set_value("default").run()
    assert at.button(key=f"promote-{key}").disabled
    assert at.button(key=f"promote-{key}").label == f"Promote run {best['run']} and replace default@shipped"
    assert resolve_model("default").version == "shipped"
    at.checkbox(key=f"replace-{key}").check().run()
    at.button(key=f"promote-{key}").click().run()
    assert resolve_model("default").source_run == best["run"]


def test_the_train_page_starts_a_sweep_and_cancel_stops_it_and_its_trials(store, tmp_path):
    tiny_dataset(tmp_path)
    at = AppTest.from_file(TRAIN, default_timeout=120).run()
    assert not at.exception
    at.selectbox(key="sweep-dataset").set_value("tiny")
    at.selectbox(key="sweep-preset").set_value("smoke").run()
    at.text_input(key="sweep-name").set_value("from-page")
    at.number_input(key="sweep-trials").set_value(3)
    at.number_input(key="sweep-epochs-smoke").set_value(200)  # long enough to be cancelled while it trains
    at.button(key="sweep-start").click().run()
    assert not at.exception and "Study `from-page` started" in at.success[0].value, [e.value for e in at.error]
    sweep = next(j for j in jobs.listing() if j["kind"] == "sweep")
    args = Job.open(sweep["id"]).spec()["args"]
    assert args["search"] == ["optimizer.lr=loguniform:0.0001:0.01", "model.dropout=uniform:0.0:0.5"]
    assert (args["trials"], args["config"]["epochs"], args["config"]["dataset"]) == (3, 200, "tiny")

    def first_trial():
        return next((r for r in Run.list() if r.tags.get("study") == "from-page"), None)

    wait(lambda: first_trial() is not None and len(first_trial().epochs()) >= 1, what="the first trial's first epoch")
    at.run()
    at.button(key=f"sweep-cancel-{sweep['id']}").click().run()
    wait(lambda: jobs.status(sweep["folder"])["state"] not in jobs.ACTIVE, what="the sweep to stop")
    trial = first_trial()
    assert jobs.status(sweep["folder"])["state"] == "cancelled"
    assert trial.state == "cancelled" and trial.checkpoint_path.exists()  # stopped after a batch, weights kept
    assert [r.tags["trial"] for r in Run.list() if r.tags.get("study") == "from-page"] == [0]  # no trial after it
    assert [t.state.name for t in studies.load("from-page").trials] == ["FAIL"]


def test_settings_page_keeps_the_backend_settings(store):
    at = AppTest.from_file(str(REPO / "pages" / "10_Settings.py"), default_timeout=60).run()
    at.selectbox[0].set_value("ray")
    next(t for t in at.text_input if t.label == "Ray address").set_value("http://10.0.0.5:8265")
    at.button[0].click().run()
    assert not at.exception and "Saved" in at.success[0].value
    s = settings.load()
    assert (s.jobs_backend, s.ray_address, s.study_storage) == ("ray", "http://10.0.0.5:8265", "")
    next(t for t in at.text_input if t.label == "Study storage").set_value("studies.db")
    at.button[0].click().run()
    assert "Not saved: study_storage 'studies.db'" in at.error[0].value
