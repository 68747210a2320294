"""One door for every change: every action of ``fer.actions`` refused to an anonymous visitor with
the store left as it was (but for the refusal's record), allowed to a signed-in user and to the
local user, and recorded in the activity log either way; the log itself (no record lost with two
writers, refusals capped, rotation), bulk undo from any session, and the command line's records.
"""
import json
import shutil
import subprocess
import sys

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from fer import actions
from fer import config as C
from fer.actions import Actor, Refused, history
from fer.data import SourceSpec, exclusions, import_dataset
from fer.settings import Settings
from fer.store import Job, Model, Run, activity, layout

import builders as b
from builders import REPO, app_page
from test_access import a_study_whose_best_trial_is
from test_model_versions import fake_run, tree
from test_video_jobs import write_video

VISITOR = Actor.visitor("5e55105e", "Read-only until you sign in (sidebar): this server listens on 0.0.0.0, and only "
                                    "a signed-in user may {what}.")
SIGNED_IN = Actor.user("ada@example.org")


class Seeded:
    """Ids of what the template store holds (one of everything an action can act on)."""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with a dataset, runs in every state, a named model with two versions, a study whose
    best trial has a run, a queued sweep, and one decision action; copied for every case."""
    root = tmp_path_factory.mktemp("actions")
    s = Seeded()
    s.src = b.fer2013_folders(root / "src")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_ARTIFACTS", str(root / "store"))
        mp.setenv("FER_IMPORT_ROOTS", str(root))
        import_dataset([str(s.src)], "tiny", workers=1)
        from fer.data import manifest

        s.paths = sorted(manifest("tiny")["path"])[:3]
        s.finished, s.other = fake_run("finished", seed=1).id, fake_run("other", seed=2).id
        queued, cancelled = fake_run("waiting", seed=3), fake_run("stopped", seed=4)
        queued.job.write_status(state="queued")
        cancelled.job.write_status(state="cancelled")
        s.queued, s.cancelled = queued.id, cancelled.id
        actions.models.promote(Actor.local(), s.finished, "best")
        actions.models.promote(Actor.local(), s.other, "best")
        a_study_whose_best_trial_is(s.other)
        sweep = Job.new()
        sweep.folder.mkdir(parents=True)
        sweep.write_spec({"kind": "sweep", "args": {"name": "s1"}, "device": None, "created": "2026-12-06T00:00:00"})
        sweep.write_status(state="queued")
        s.sweep = sweep.id
        s.decision = actions.decisions.decide(Actor.local(), "tiny", s.paths, "exclude", "q_dark")["record"]
        from fer.models import model_zip

        s.model_zip = model_zip.zip_bytes(Run.open(s.finished).model())
    s.video = write_video(root / "clip.mp4").read_bytes()
    s.zip = b.zip_folder(s.src, root / "src.zip").read_bytes()
    s.template = root / "store"
    return s


@pytest.fixture
def seeded(template, tmp_path, monkeypatch):
    """A fresh copy of the template store; jobs are queued, never started (the queue is not run)."""
    root = tmp_path / "store"
    shutil.copytree(template.template, root, symlinks=True)
    monkeypatch.setenv("FER_ARTIFACTS", str(root))
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(template.src.parent))
    monkeypatch.setattr("fer.jobs.queue.schedule", lambda: [])
    template.root = root
    return template


def _job_of(kind: str):
    return [j for j in Job.list() if j.kind == kind and j.raw_status().get("state") == "queued"]


def _sweep():
    from fer.sweeps.coordinator import Sweep

    return Sweep.create("s2", C.load("smoke", ["dataset=tiny", "epochs=1"]), ["model.dropout=uniform:0:0.5"], trials=1)


# action → (its arguments from the seeded store, what it changed when allowed)
CASES = {
    "dataset.upload": (lambda s: ("tiny", "more.zip", s.zip),
                       lambda s: (s.root / "datasets/tiny/sources/more.zip").is_file()),
    "dataset.import": (lambda s: ([SourceSpec(str(s.src))], "second"), lambda s: len(_job_of("import")) == 1),
    "dataset.reimport": (lambda s: ("tiny",), lambda s: len(_job_of("import")) == 1),
    "dataset.align": (lambda s: ("tiny",), lambda s: len(_job_of("align")) == 1),
    "dataset.rename": (lambda s: ("tiny", "renamed"), lambda s: (s.root / "datasets/renamed").is_dir()),
    "dataset.delete": (lambda s: ("tiny",), lambda s: not (s.root / "datasets/tiny").exists()),
    "decisions.record": (lambda s: ("tiny", s.paths[:1], "keep"),
                         lambda s: exclusions.latest("tiny")[s.paths[0]] == "keep"),
    "decisions.undo": (lambda s: ("tiny", s.decision), lambda s: exclusions.latest("tiny") == {}),
    "run.start": (lambda s: (C.load("smoke", ["dataset=tiny"]),), lambda s: len(_job_of("train")) == 2),
    "run.cancel": (lambda s: (s.queued,), lambda s: Run.open(s.queued).state == "cancelled"),
    "run.resume": (lambda s: (s.cancelled,), lambda s: Run.open(s.cancelled).state == "queued"),
    "run.restart": (lambda s: (s.cancelled,),
                    lambda s: Run.open(s.cancelled).state == "queued" and not Run.open(s.cancelled).has_weights),
    "run.rename": (lambda s: (s.finished, "renamed"), lambda s: Run.open(s.finished).name == "renamed"),
    "run.delete": (lambda s: (s.finished,), lambda s: not (s.root / "runs" / s.finished).exists()),
    "sweep.start": (lambda s: (_sweep(),), lambda s: len(_job_of("sweep")) == 2),
    "sweep.cancel": (lambda s: (s.sweep,), lambda s: Job.open(s.sweep).raw_status()["state"] == "cancelled"),
    "sweep.promote_best": (lambda s: ("s1", "best"), lambda s: Model.open("best").current().version == "3"),
    "video.start": (lambda s: ("clip.mp4", s.video, "default"), lambda s: len(_job_of("video")) == 1),
    "evaluation.start": (lambda s: ("best", "tiny", "test"), lambda s: len(_job_of("evaluate")) == 1),
    "model.promote": (lambda s: (s.finished, "best"), lambda s: Model.open("best").current().source_run == s.finished),
    "model.restore": (lambda s: ("best", "1"), lambda s: Model.open("best").current_id() == "1"),
    "model.rename": (lambda s: ("best", "better"), lambda s: Model.open("better").current_id() == "2"),
    "model.delete": (lambda s: ("best",), lambda s: not (s.root / "models/best").exists()),
    "model.import": (lambda s: (s.model_zip, "imported"), lambda s: Model.open("imported").current_id() == "1"),
    "model.ensemble": (lambda s: ("both", [s.finished, s.other]), lambda s: Model.open("both").current_id() == "1"),
    "model.calibrate": (lambda s: ("best", "tiny", "val", True),
                        lambda s: Model.open("best").current().meta()["calibration"]["fitted_on"]["flip"] is True),
    "settings.save": (lambda s: (Settings(import_roots=[str(s.src)], max_jobs=3),),
                      lambda s: "max_jobs = 3" in (s.root / layout.SETTINGS).read_text()),
}


def test_every_action_has_a_case():
    assert set(CASES) == set(actions.ACTIONS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_anonymous_visitor_is_refused_every_action_and_the_store_keeps_all_but_the_refusal(seeded, name):
    args, _ = CASES[name]
    before, records = tree(seeded.root), len(history.records(limit=None))
    with pytest.raises(Refused, match="only a signed-in user may"):
        actions.ACTIONS[name].run(VISITOR, *args(seeded))
    assert tree(seeded.root) == before  # the activity log aside, byte for byte
    log = history.records(limit=None)
    assert len(log) == records + 1
    assert (log[0]["action"], log[0]["outcome"], log[0]["actor"]) == (name, "refused", VISITOR.shown())


@pytest.mark.parametrize("who", [SIGNED_IN, Actor.local()], ids=["signed-in", "local"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_signed_in_user_and_the_local_user_may_take_every_action(seeded, name, who):
    args, changed = CASES[name]
    actions.ACTIONS[name].run(who, *args(seeded))
    assert changed(seeded), name
    last = history.records(limit=1)[0]
    assert (last["action"], last["outcome"], last["actor"]) == (name, "done", who.shown())


def test_the_server_address_decides_who_a_session_is(store, monkeypatch):
    """The actor follows the address the server listens on (never the client's)."""
    script = "from fer.ui import access\nimport streamlit as st\nst.write(access.actor().kind)\n"
    try:
        for address, kind in (("localhost", "local"), ("127.0.0.1", "local"), ("0.0.0.0", "visitor"), (None, "visitor")):
            config.set_option("server.address", address)
            assert AppTest.from_string(script).run().markdown[0].value == kind, address
        monkeypatch.setenv("FER_ADMIN_PASSWORD", "pw")
        at = AppTest.from_string(script).run()
        at.session_state["_fer_signed_in"] = True
        assert at.run().markdown[0].value == "user"
    finally:
        config.set_option("server.address", "localhost")


def test_a_failed_action_is_recorded_with_its_error(store):
    with pytest.raises(ValueError):
        actions.models.restore(Actor.cli(), "nothing", "1")
    last = history.records(limit=1)[0]
    assert (last["action"], last["outcome"]) == ("model.restore", "failed") and "nothing" in last["error"]


# -- the log --------------------------------------------------------------------------------------
WRITER = """
import sys
from fer import actions
from fer.actions import Actor
me = Actor.user(sys.argv[1])
for k in range(500):
    actions.decisions.decide(me, "d", [f"src:{sys.argv[1]}-{k}.png"], "exclude", "q_dark")
"""


def test_two_processes_of_500_actions_lose_no_record(store):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, who], cwd=REPO, env={
        **__import__("os").environ, "FER_ARTIFACTS": str(store)}) for who in "ab"]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    log = history.records(limit=None)
    assert len(log) == 1000 and len({r["id"] for r in log}) == 1000
    assert {r["actor"]["name"] for r in log} == {"a", "b"}
    rows = exclusions.read("d")
    assert len(rows) == 1000 and set(rows["action"]) == {r["id"] for r in log}  # each decision names its record


def test_refusals_are_capped_and_rotation_bounds_the_log(store, monkeypatch):
    from fer.actions import core

    monkeypatch.setattr(core, "_refusals", {})
    monkeypatch.setattr(core, "_recent", __import__("collections").deque())
    for _ in range(100):  # one visitor clicking away: one record a minute per action
        with pytest.raises(Refused):
            actions.decisions.decide(VISITOR, "d", ["src:x.png"], "exclude")
    with pytest.raises(Refused):
        actions.runs.cancel(VISITOR, "x")
    assert [r["action"] for r in history.records(limit=None)] == ["run.cancel", "decisions.record"]
    for k in range(core.REFUSALS_PER_MINUTE + 20):  # many visitors: the cap in all
        with pytest.raises(Refused):
            actions.runs.cancel(Actor.visitor(f"v{k}", ""), "x")
    assert len(history.records(limit=None)) == core.REFUSALS_PER_MINUTE

    monkeypatch.setattr(activity, "MAX_BYTES", 2000)
    for k in range(200):
        activity.append({"id": str(k), "action": "test", "target": "x" * 50})
    files = [p for p in store.iterdir() if p.name.startswith("activity")]
    assert len(files) == activity.KEEP + 1 and all(p.stat().st_size <= 2000 for p in files)
    ids = [r["id"] for r in activity.records() if r.get("action") == "test"]
    assert ids[0] == "199" and ids == [str(k) for k in range(199, 199 - len(ids), -1)]  # newest first, none skipped


def test_the_log_is_not_written_through_a_link(store, tmp_path):
    store.mkdir(parents=True)
    (store / layout.ACTIVITY).symlink_to(tmp_path / "elsewhere.jsonl")
    with pytest.raises(ValueError, match="is a link"):
        actions.runs.cancel(Actor.cli(), "x")
    assert not (tmp_path / "elsewhere.jsonl").exists()


# -- bulk undo from another session ---------------------------------------------------------------
def test_a_bulk_exclusion_is_undone_as_one_step_from_another_session(store, tmp_path):
    from test_quality import _planted

    import_dataset([str(_planted(tmp_path))], "p", workers=1)
    quality = app_page("2_Quality", {"dataset": "p", "check": "too dark"}, timeout=60).run()
    quality.sidebar.slider[0].set_value(128.0).run()  # many flagged
    flagged = int(next(m.value for m in quality.metric if m.label == "flagged: too dark"))
    assert flagged >= 3
    quality.button(key="exclude-all").click().run()
    excluded = exclusions.excluded("p")
    assert len(excluded) == flagged
    changed = sorted(excluded)[0]
    actions.decisions.decide(Actor.cli(), "p", [changed], "keep")  # decided again since, elsewhere
    record = history.records(action="decisions.record", limit=2)[1]
    assert record["detail"]["images"] == flagged and record["replaced"]["before"] == {"undecided": flagged}

    other = app_page("11_Activity", {}, timeout=60).run()  # another browser session
    assert not other.exception
    other.selectbox(key="activity-undo-pick").set_value(record["id"]).run()
    other.button(key=f"activity-undo-{record['id']}").click().run()
    assert not other.exception
    assert any(f"{flagged - 1} image(s) of p back" in s.value and "1 decided again since" in s.value
               for s in other.success)
    assert exclusions.latest("p") == {changed: "keep"}  # every unchanged decision undone; the changed one kept


# -- the command line -----------------------------------------------------------------------------
def cli(*args, store):
    return subprocess.run([sys.executable, "-m", "fer", *args], cwd=REPO, capture_output=True, text=True,
                          env={**__import__("os").environ, "FER_ARTIFACTS": str(store)}, timeout=300)


def test_a_promotion_on_the_command_line_is_in_the_activity_log(store):
    run = fake_run("first")
    assert cli("model", "promote", run.id, "best", store=store).returncode == 0
    p = cli("activity", "--json", "--limit", "1", store=store)
    record = json.loads(p.stdout)
    assert record["action"] == "model.promote" and record["outcome"] == "done"
    assert record["actor"]["kind"] == "cli" and record["detail"]["model"] == "best@1"
    assert record["target"] == f"run {run.id} → best@1" and record["time"]
    text = cli("activity", store=store).stdout
    assert "model.promote" in text and "best@1" in text
