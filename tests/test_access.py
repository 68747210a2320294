"""Who may change what: on localhost everything is writable; beyond it, the settings and the
deletions (datasets, runs, promotions) are read-only until the session signs in, with a password
(FER_ADMIN_PASSWORD or the secrets file) or Streamlit's OIDC when ``[auth]`` is configured."""
import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from fer import actions, settings
from fer.data import import_dataset
from fer.store import Model, Run, promote
from fer.ui import access

import builders as b
from builders import REPO, app_page
from test_model_versions import fake_run, tree

SETTINGS = str(REPO / "pages" / "10_Settings.py")
DATASET = str(REPO / "pages" / "1_Dataset.py")
TRAIN = str(REPO / "pages" / "3_Train.py")
PASSWORD = "correct horse battery staple"
AUTH = {"redirect_uri": "http://fer.example.org/oauth2callback", "cookie_secret": "not a secret, a test",
        "client_id": "fer-studio", "client_secret": "test",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration"}


@pytest.fixture
def listen():
    """``listen("0.0.0.0")``: the server's bind address as Streamlit's config holds it (conftest's
    ``local_server`` puts it back)."""
    return lambda address: config.set_option("server.address", address)


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(access, "FAIL_DELAY_S", 0.0)  # a wrong password's delay is not what is tested


def messages(at) -> str:
    return " ".join(m.value for m in [*at.info, *at.error, *at.warning, *at.caption])


def sign_in(at, password):
    at.sidebar.text_input(key="fer-password").set_value(password)
    next(bt for bt in at.sidebar.button if bt.label == "Sign in").click()
    return at.run()


def forged(widget):
    """What a hostile client can send: a value for a widget the page drew disabled."""
    widget.proto.disabled = False
    return widget


@pytest.mark.parametrize("address, local", [
    ("localhost", True), ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("LOCALHOST.", True), ("0.0.0.0", False), ("::", False), ("", False), (None, False),
    ("192.168.1.20", False), ("fer.example.org", False)])
def test_what_counts_as_localhost(address, local):
    assert access.is_loopback(address) is local


def test_the_shipped_server_config_listens_on_localhost():
    text = (REPO / ".streamlit" / "config.toml").read_text()
    assert 'address = "localhost"' in text


# -- Settings ---------------------------------------------------------------------------------------
def test_settings_on_localhost_are_writable_without_signing_in(store, listen):
    listen("localhost")
    at = AppTest.from_file(SETTINGS, default_timeout=30).run()
    assert not at.exception and not at.sidebar.button and not at.info
    at.number_input[0].set_value(3)  # jobs at once
    at.button[0].click().run()
    assert "Saved to" in at.success[0].value and settings.load().max_jobs == 3


@pytest.mark.parametrize("address", ["0.0.0.0", None, "192.168.1.20"])
def test_settings_beyond_localhost_with_no_sign_in_set_up_are_read_only(store, listen, address):
    listen(address)
    at = AppTest.from_file(SETTINGS, default_timeout=30).run()
    assert not at.exception
    assert not at.get("form") and not at.button and not at.number_input and not at.text_area
    assert len(at.info) == 1
    line = at.info[0].value
    assert "Read-only" in line and "no sign-in is set up" in line and "FER_ADMIN_PASSWORD" in line
    assert "\n" not in line
    assert "max_jobs" in set(at.dataframe[0].value["setting"])  # the values stay visible
    assert not store.exists()


def test_settings_beyond_localhost_unlock_with_the_right_password_only(store, listen, monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    at = AppTest.from_file(SETTINGS, default_timeout=30).run()
    assert not at.number_input and "sign in" in at.info[0].value
    sign_in(at, "correct horse battery stapl")
    assert not at.exception and "Wrong password." in at.sidebar.error[0].value
    assert not at.number_input and "Read-only" in at.info[0].value
    sign_in(at, PASSWORD)
    assert not at.exception and not at.info
    assert any("Signed in" in c.value for c in at.sidebar.caption)
    at.number_input[0].set_value(5)
    next(bt for bt in at.button if bt.label == "Save settings").click().run()
    assert "Saved to" in at.success[0].value and settings.load().max_jobs == 5
    next(bt for bt in at.sidebar.button if bt.label == "Sign out").click().run()
    assert not at.number_input and "Read-only" in at.info[0].value


def test_the_password_may_come_from_the_secrets_file(store, listen):
    listen("0.0.0.0")
    at = AppTest.from_file(SETTINGS, default_timeout=30)
    at.secrets["fer"] = {"admin_password": PASSWORD}
    at.run()
    assert not at.number_input
    sign_in(at, PASSWORD)
    assert not at.exception and at.number_input


def test_with_auth_configured_the_login_button_is_offered(store, listen, monkeypatch):
    """Streamlit's OIDC (st.login) is not run offline: this checks the page offers it, and reads the
    signed-in state Streamlit would give it (AppTest's own ``user``)."""
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)  # [auth] wins over the password
    at = AppTest.from_file(SETTINGS, default_timeout=30)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.exception and [bt.label for bt in at.sidebar.button] == ["Sign in"]
    assert not at.sidebar.text_input and not at.number_input and "sign in" in at.info[0].value
    at.secrets["auth"] = {k: v for k, v in AUTH.items() if k.startswith(("redirect", "cookie"))} | {
        "google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}}
    at.run()
    assert [bt.label for bt in at.sidebar.button] == ["Sign in with google"]


def test_with_auth_a_signed_in_account_unlocks_when_it_is_an_admin(store, listen, monkeypatch):
    listen("0.0.0.0")
    at = AppTest.from_file(SETTINGS, default_timeout=30)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ada@example.org"}
    at.run()
    assert not at.exception and at.number_input  # no admin list: any signed-in account
    assert [bt.label for bt in at.sidebar.button] == ["Sign out"]
    monkeypatch.setenv("FER_ADMINS", "grace@example.org, Ada@Example.org")
    assert at.run().number_input
    monkeypatch.setenv("FER_ADMINS", "grace@example.org")
    at.run()
    assert not at.number_input and "ada@example.org is not among the admins" in at.info[0].value
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.number_input and [bt.label for bt in at.sidebar.button] == ["Sign in"]


def test_require_sign_in_on_localhost_when_asked(store, listen, monkeypatch):
    listen("localhost")
    monkeypatch.setenv("FER_REQUIRE_SIGN_IN", "1")  # a reverse proxy in front of a localhost server
    at = AppTest.from_file(SETTINGS, default_timeout=30).run()
    assert not at.number_input and "Read-only" in at.info[0].value


# -- Dataset: Manage ---------------------------------------------------------------------------------
@pytest.fixture
def tiny(store, tmp_path):
    import_dataset([str(b.fer2013_folders(tmp_path / "fer"))], "tiny", workers=1)
    return store / "datasets" / "tiny"


def delete_dataset(at, name="tiny"):
    at.checkbox(key=f"delete-sure-{name}").check().run()
    return at.button(key=f"delete-{name}").click().run()


def test_dataset_delete_on_localhost(tiny, listen):
    listen("localhost")
    at = AppTest.from_file(DATASET, default_timeout=60).run()
    assert not at.exception and not at.info[1:]
    delete_dataset(at)
    assert not at.exception and not tiny.exists()


def test_dataset_manage_beyond_localhost_is_read_only_and_a_forged_click_deletes_nothing(tiny, listen):
    listen("0.0.0.0")
    at = AppTest.from_file(DATASET, default_timeout=60).run()
    assert not at.exception
    assert any("no sign-in is set up" in i.value and "rename, re-import or delete datasets" in i.value
               for i in at.info)
    assert all(at.button(key=k).disabled for k in ("rename-button-tiny", "reimport-tiny", "delete-tiny"))
    assert at.text_input(key="rename-tiny").disabled and at.checkbox(key="delete-sure-tiny").disabled
    before = tree(tiny.parent.parent)
    forged(at.checkbox(key="delete-sure-tiny")).check()
    forged(at.button(key="delete-tiny")).click().run()
    assert not at.exception and tiny.exists()
    forged(at.text_input(key="rename-tiny")).set_value("renamed")
    forged(at.button(key="rename-button-tiny")).click().run()
    assert tiny.exists() and not (tiny.parent / "renamed").exists() and tree(tiny.parent.parent) == before


def test_dataset_delete_beyond_localhost_after_signing_in(tiny, listen, monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    at = AppTest.from_file(DATASET, default_timeout=60).run()
    assert at.button(key="delete-tiny").disabled
    sign_in(at, "wrong")
    assert at.button(key="delete-tiny").disabled and tiny.exists()
    sign_in(at, PASSWORD)
    delete_dataset(at)
    assert not at.exception and not tiny.exists()


# -- Runs: rename, promote, delete; Models: restore ------------------------------------------------
def runs_page(run_id):
    return app_page("4_Runs", {"run": run_id}, timeout=60).run()


def models_tab():
    return app_page("4_Runs", {"view": "Models"}, timeout=60).run()


def promote_as(at, run_id, name):
    at.text_input(key=f"model-{run_id}").set_value(name).run()
    return at.button(key=f"promote-{run_id}").click().run()


def two_versions():
    a, c = fake_run("first", seed=1), fake_run("second", seed=2)
    promote(a.id, "best")
    promote(c.id, "best")
    return Model.open("best")


def test_runs_on_localhost_rename_promote_and_delete(store, listen):
    listen("localhost")
    run = fake_run("first")
    at = runs_page(run.id)
    assert not at.exception and not at.info
    at.text_input(key=f"name-{run.id}").set_value("renamed")
    at.button(key=f"rename-{run.id}").click().run()
    assert Run.open(run.id).name == "renamed"
    promote_as(at, run.id, "best")
    assert Model.open("best").current().source_run == run.id
    at.checkbox(key=f"sure-{run.id}").check().run()
    at.button(key=f"delete-{run.id}").click().run()
    assert not (store / "runs" / run.id).exists()


def test_runs_beyond_localhost_are_read_only_and_forged_clicks_change_nothing(store, listen):
    listen("0.0.0.0")
    run = fake_run("first")
    at = runs_page(run.id)
    assert not at.exception and "rename, promote or delete runs" in at.info[0].value
    for key in ("rename", "delete"):
        assert at.button(key=f"{key}-{run.id}").disabled
    assert at.text_input(key=f"model-{run.id}").disabled
    forged(at.text_input(key=f"model-{run.id}")).set_value("best").run()
    assert not [bt for bt in at.button if bt.key == f"promote-{run.id}"] and not (store / "models").exists()
    forged(at.checkbox(key=f"sure-{run.id}")).check()
    forged(at.button(key=f"delete-{run.id}")).click().run()
    assert (store / "runs" / run.id).exists()
    forged(at.text_input(key=f"name-{run.id}")).set_value("renamed")
    forged(at.button(key=f"rename-{run.id}")).click().run()
    assert not at.exception and Run.open(run.id).name == "first"


def test_runs_beyond_localhost_promote_and_delete_after_signing_in(store, listen, monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    run = fake_run("first")
    at = runs_page(run.id)
    sign_in(at, PASSWORD)
    assert not at.text_input(key=f"model-{run.id}").disabled
    promote_as(at, run.id, "best")
    assert Model.open("best").current().source_run == run.id
    at.checkbox(key=f"sure-{run.id}").check().run()
    at.button(key=f"delete-{run.id}").click().run()
    assert not (store / "runs" / run.id).exists()


def test_models_restore_on_localhost(store, listen):
    listen("localhost")
    best = two_versions()
    at = models_tab()
    at.button(key="restore-best@1").click().run()
    assert not at.exception and best.current_id() == "1"


def test_models_restore_beyond_localhost_is_read_only_and_a_forged_click_restores_nothing(store, listen):
    listen("0.0.0.0")
    best = two_versions()
    at = models_tab()
    assert not at.exception and any("restore, rename or delete models" in i.value for i in at.info)
    assert at.button(key="restore-best@1").disabled and at.button(key="restore-previous-best").disabled
    forged(at.button(key="restore-best@1")).click().run()
    forged(at.button(key="restore-previous-best")).click().run()
    assert best.current_id() == "2"


def test_models_restore_beyond_localhost_after_signing_in(store, listen, monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    best = two_versions()
    at = models_tab()
    sign_in(at, PASSWORD)
    at.button(key="restore-best@1").click().run()
    assert not at.exception and best.current_id() == "1"


# -- Train: starting a training -------------------------------------------------------------------
@pytest.fixture
def queued(monkeypatch):
    """The runs the Train page queues, recorded instead of started (the check comes before)."""
    from fer.jobs import launch

    runs = []
    monkeypatch.setattr(launch, "submit", lambda kind, args, device=None: runs.append(args["run"]) or REPO)
    return runs


def press_train(at):
    at.selectbox[1].set_value("smoke").run()
    return at.button(key="train")


def test_beyond_localhost_a_visitor_starts_no_training_and_a_forged_click_queues_nothing(tiny, listen, queued,
                                                                                       monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    train = press_train(at)
    assert train.disabled and any("only a signed-in user may start trainings" in i.value for i in at.info)
    forged(train).click().run()
    assert not at.exception and not queued and not (tiny.parent.parent / "runs").exists()
    sign_in(at, PASSWORD)
    at.text_input(key="smoke:model.weights").set_value("/elsewhere/w.safetensors")  # any file: an admin names it
    at.button(key="train").click().run()
    assert not at.exception and not at.error and len(queued) == 1
    done = actions.history.records(action="run.start", limit=1)[0]
    assert done["outcome"] == "done" and done["actor"] == {"kind": "user", "name": "admin"}


def test_on_localhost_anyone_starts_a_training(tiny, listen, queued):
    listen("localhost")
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    press_train(at).click().run()
    assert not at.exception and not at.error and len(queued) == 1
    assert actions.history.records(limit=1)[0]["actor"]["kind"] == "local"


def test_the_admin_password_never_travels_with_a_job_to_ray(tiny, monkeypatch):
    """A Ray cluster shows a job's environment to whoever reaches its API: FER_* settings go with
    the job, the admin password does not. (The client records what would be submitted.)"""
    from fer.jobs.backends import ray_jobs
    from fer import config as C
    from fer.jobs.launch import train as launch

    sent = []

    class Recorder:
        def __init__(self, address, headers=None):
            self.address, self.headers = address, headers

        def submit_job(self, **request):
            sent.append({**request, "headers": self.headers})

    monkeypatch.setattr(ray_jobs, "_client_class", lambda: Recorder)
    monkeypatch.setenv("FER_JOBS_BACKEND", "ray")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("FER_MAX_IMAGE_MIB", "32")
    launch(C.load("smoke", ["dataset=tiny"]))
    env = sent[0]["runtime_env"]["env_vars"]
    assert env["FER_MAX_IMAGE_MIB"] == "32" and "FER_ADMIN_PASSWORD" not in env and PASSWORD not in repr(sent)


def a_study_whose_best_trial_is(run_id):
    """A study of one complete trial that names ``run_id`` (as a sweep leaves one), without training."""
    from fer.sweeps import studies

    optuna = studies.optuna()
    study = studies.create("s1", {"search": ["model.dropout=uniform:0:0.5"], "objective": "val_macro_f1"})
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE, value=0.5, params={"model.dropout": 0.1},
        distributions={"model.dropout": optuna.distributions.FloatDistribution(0, 0.5)}, user_attrs={"run": run_id}))


def test_a_sweeps_promote_best_beyond_localhost_needs_signing_in(store, listen, monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    run = fake_run("trial")
    a_study_whose_best_trial_is(run.id)
    at = app_page("4_Runs", {"study": "s1"}, timeout=60).run()
    key = f"study-s1-{run.id}"
    assert not at.exception and any("promote models" in i.value for i in at.info)
    assert at.text_input(key=f"model-{key}").disabled and at.text_input(key=f"model-{key}").value == ""
    forged(at.text_input(key=f"model-{key}")).set_value("default").run()
    assert not [bt for bt in at.button if bt.key == f"promote-{key}"] and not (store / "models").exists()
    sign_in(at, PASSWORD)
    at.text_input(key=f"model-{key}").set_value("default").run()
    at.checkbox(key=f"replace-{key}").check().run()  # default@shipped would be replaced: confirm first
    at.button(key=f"promote-{key}").click().run()
    assert not at.exception and Model.open("default").current().source_run == run.id
    done = actions.history.records(limit=1)[0]
    assert (done["action"], done["detail"]["model"], done["replaced"]) == ("sweep.promote_best", "default@1",
                                                                           {"current": "default@shipped"})


def test_a_model_zip_import_beyond_localhost_needs_signing_in(store, listen, monkeypatch):
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    two_versions()
    at = models_tab()
    assert any("import, restore, rename or delete models" in i.value for i in at.info)
    assert at.button(key="FormSubmitter:models-import-Import").disabled
    assert at.text_input(key="models-import-name").disabled
    sign_in(at, PASSWORD)
    assert not at.button(key="FormSubmitter:models-import-Import").disabled


# -- Train: stopping a run, or wiping its checkpoints ----------------------------------------------
def test_beyond_localhost_cancel_and_start_again_need_signing_in(store, listen, monkeypatch):


    from fer.store import Job

    waiting, stopped = fake_run("waiting", seed=1), fake_run("stopped", seed=2)
    waiting.job.write_status(state="queued")
    stopped.job.write_status(state="cancelled")
    sweep = Job.new()  # a queued sweep, as the Train page's Sweep button leaves one
    sweep.folder.mkdir(parents=True)
    sweep.write_spec({"kind": "sweep", "args": {"name": "s1"}, "device": None, "created": "2026-11-30T00:00:00+00:00"})
    sweep.write_status(state="queued")
    listen("0.0.0.0")
    monkeypatch.setenv("FER_ADMIN_PASSWORD", PASSWORD)
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    keys = (f"cancel-{waiting.id}", f"fresh-{stopped.id}", f"resume-{stopped.id}", f"sweep-cancel-{sweep.id}")
    assert all(at.button(key=k).disabled for k in keys)
    before = tree(store)
    for key in keys:
        forged(at.button(key=key)).click().run()
    assert not at.exception and tree(store) == before  # still queued; checkpoints and weights kept
    assert Run.open(waiting.id).status()["state"] == "queued" and sweep.raw_status()["state"] == "queued"
    sign_in(at, PASSWORD)
    at.button(key=f"cancel-{waiting.id}").click().run()
    # the next click counts though the run it starts is the first to see that training ended
    at.button(key=f"sweep-cancel-{sweep.id}").click().run()
    assert not at.exception and Run.open(waiting.id).status()["state"] == "cancelled"
    assert sweep.raw_status()["state"] == "cancelled"


def test_on_localhost_cancel_needs_no_sign_in(store, listen):
    waiting = fake_run("waiting")
    waiting.job.write_status(state="queued")
    listen("localhost")
    at = AppTest.from_file(TRAIN, default_timeout=60).run()
    at.button(key=f"cancel-{waiting.id}").click().run()
    assert not at.exception and Run.open(waiting.id).status()["state"] == "cancelled"
