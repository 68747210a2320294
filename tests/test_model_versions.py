"""Named models with versions: every promotion adds one, the previous stays, any can be restored,
``default`` also has the shipped one; evaluations belong to a version; the CLI does the same and
refuses bad ids with one line, exit code 2, nothing changed."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

from fer.store import Model, NotFound, Run, RunError, layout, promote, resolve_model
from fer import config as C

from builders import REPO, untrained_model


def fake_run(name: str, seed: int = 0) -> Run:
    """A finished run whose weights are an untrained fer_cnn (distinct per seed)."""
    import torch

    run = Run.create(C.resolve({}, ["dataset=tiny", f"name={name}"]))
    torch.manual_seed(seed)
    untrained_model(run.folder)
    meta = json.loads((run.folder / layout.MODEL_META).read_text())
    meta["metrics"] = {"best_epoch": 1, "test": {"n": 10, "accuracy": 0.5 + seed / 100, "macro_f1": 0.4}}
    meta["data"] = {"dataset": "tiny"}
    (run.folder / layout.MODEL_META).write_text(json.dumps(meta))
    run.job.write_status(state="finished")
    return run


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root) -> dict:
    """Every file under the store with its bytes' hash, but the activity log's (which records every
    action, refused and failed ones too): 'nothing changed' is this staying equal."""
    log = {layout.ACTIVITY, layout.ACTIVITY_LOCK}
    return {str(p.relative_to(root)): sha(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in log and not (p.parent == root and p.name.startswith("activity."))}


def test_every_promotion_adds_a_version_and_restore_goes_back(store):
    a, b = fake_run("a", seed=1), fake_run("b", seed=2)
    v1 = promote(a.id, "best")
    v2 = promote(b.id, "best")
    v3 = promote(a.id, "best")  # the same run again: a version of its own
    m = Model.open("best")
    assert [v.version for v in m.versions()] == ["1", "2", "3"] and m.current_id() == "3"
    assert (v1.source_run, v2.source_run, v3.source_run) == (a.id, b.id, a.id)
    assert v1.sha256() == v3.sha256() == sha(a.folder / layout.WEIGHTS) != v2.sha256()
    info = v2.info()
    assert info["sha256"] == sha(b.folder / layout.WEIGHTS) and info["created"] and info["figures"]["test"]["accuracy"] == 0.52
    assert resolve_model("best").ref == "best@3" and resolve_model("best@2").folder == v2.folder
    assert m.restore().version == "2"  # no version: the previously current one
    assert Model.open("best").current_id() == "2" and resolve_model("best").folder == v2.folder
    assert Model.open("best").restore().version == "3"  # and back again
    assert Model.open("best").restore("1").version == "1" and resolve_model("best").sha256() == v1.sha256()
    assert all(v.folder.exists() for v in (v1, v2, v3))  # nothing replaced, nothing lost


def test_default_has_the_shipped_version_and_falls_back_to_it(store):
    shipped = resolve_model("default")
    assert (shipped.kind, shipped.ref, shipped.folder) == ("shipped", "default@shipped", layout.SHIPPED)
    assert Model.open("default").versions()[-1].version == "shipped"
    run = fake_run("mine")
    v = promote(run.id, "default")
    assert v.ref == "default@1" and resolve_model("default").folder == v.folder
    assert Model.open("default").previous_id() == "shipped"
    before = sha(layout.SHIPPED / layout.WEIGHTS)
    assert Model.open("default").restore("shipped").kind == "shipped"
    assert resolve_model("default").folder == layout.SHIPPED
    assert sha(layout.SHIPPED / layout.WEIGHTS) == before  # the package's model is never written
    assert Model.open("default").restore().ref == "default@1"  # the previous one again


def test_a_model_shipped_earlier_stays_a_version_of_default(store, tmp_path, monkeypatch, capsys):
    from fer import cli
    from fer.predict import Predictor

    monkeypatch.setattr(layout, "EARLIER_SHIPPED", tmp_path / "earlier")
    untrained_model(tmp_path / "earlier" / "1")
    (tmp_path / "earlier" / "junk").mkdir()  # not a version: ignored
    default = Model.open("default")
    assert [v.version for v in default.versions()] == ["shipped-1", "shipped"]
    assert default.current_id() == "shipped" and resolve_model("default").folder == layout.SHIPPED
    assert resolve_model("default@shipped-1").folder == tmp_path / "earlier" / "1"
    assert cli.main(["model", "restore", "default", "shipped-1"]) == 0
    assert "default@shipped-1: now the current default" in capsys.readouterr().out
    assert Predictor.load("default").version == "shipped-1"
    assert Model.open("default").restore().ref == "default@shipped"  # and back
    with pytest.raises(NotFound, match="no version 'shipped-2'"):
        Model.open("default").version("shipped-2")


def test_evaluations_belong_to_the_version_they_evaluated(store):
    a, b = fake_run("a", seed=1), fake_run("b", seed=2)
    (a.folder / layout.EVAL / "tiny" / "test").mkdir(parents=True)
    (a.folder / layout.EVAL / "tiny" / "test" / layout.SUMMARY).write_text(json.dumps({"accuracy": 0.9}))
    v1 = promote(a.id, "best")
    v2 = promote(b.id, "best")
    assert [e.id for e in v1.evaluations()] == ["tiny/test"] and v2.evaluations() == []
    assert v1.evaluation("tiny/test").summary()["accuracy"] == 0.9
    with pytest.raises(NotFound, match="best@2 has no evaluation tiny/test"):
        resolve_model("best").evaluation("tiny/test")  # the current version (2) was never evaluated


def test_the_predictor_says_which_model_it_is(store):
    from fer.predict import Predictor

    run = fake_run("a")
    promote(run.id, "best")
    p = Predictor.load("best")
    assert (p.name, p.version, p.sha256) == ("best", "1", sha(run.folder / layout.WEIGHTS))
    assert p.identity() == {"name": "best", "version": "1", "sha256": p.sha256}
    assert Predictor.load(run.id).identity()["name"] == run.id
    assert Predictor.load("default").version == "shipped"


def test_a_model_promoted_before_versions_is_read_as_version_1_and_kept(store):
    old = untrained_model(store / "models" / "legacy")
    (old / "source.json").write_text(json.dumps({"run": "20240101-000000-abcd", "promoted": "2024-01-01"}))
    weights = sha(old / layout.WEIGHTS)
    assert resolve_model("legacy").ref == "legacy@1" and resolve_model("legacy").folder == old
    v2 = promote(fake_run("new", seed=3).id, "legacy")
    m = Model.open("legacy")
    assert [v.version for v in m.versions()] == ["1", "2"] and m.current_id() == "2" and v2.version == "2"
    assert m.version("1").sha256() == weights and m.version("1").source_run == "20240101-000000-abcd"
    assert m.restore().version == "1"


def cli(*args, store, check=True):
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer", *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_model_commands(store):
    a, b = fake_run("a", seed=1), fake_run("b", seed=2)
    p = cli("model", "promote", a.id, "best", store=store)
    assert p.stdout.startswith("best@1: now the current best")
    cli("model", "promote", b.id, "best", store=store)
    rows = [json.loads(line) for line in cli("model", "list", "--json", store=store).stdout.splitlines()]
    assert [(r["name"], r["version"], r["current"]) for r in rows] == [
        ("default", "shipped-1", False), ("default", "shipped-2", False), ("default", "shipped", True),
        ("best", "1", False), ("best", "2", True)]
    assert rows[4]["sha256"] == sha(b.folder / layout.WEIGHTS) and rows[4]["source_run"] == b.id
    assert rows[3]["test_accuracy"] == 0.51 and rows[2]["sha256"] == sha(layout.SHIPPED / layout.WEIGHTS)
    assert "best" in cli("model", "list", store=store).stdout
    assert cli("model", "restore", "best", store=store).stdout.startswith("best@1: now the current best")
    assert Model.open("best").current_id() == "1"
    cli("model", "restore", "best", "2", store=store)
    assert Model.open("best").current_id() == "2"


@pytest.mark.parametrize("args,reason", [
    (["model", "promote", "nope", "best"], "no run 'nope'"),
    (["model", "promote", "RUN", "bad name"], "invalid name 'bad name'"),
    (["model", "promote", "../RUN", "best"], "invalid name"),
    (["model", "restore", "best", "9"], "has no version '9'"),
    (["model", "restore", "best", "../1"], "invalid version"),
    (["model", "restore", "nope"], "no model named 'nope'"),
    (["model", "restore", "best", "shipped"], "has no version 'shipped'"),
])
def test_bad_ids_are_one_line_exit_2_and_change_nothing(store, args, reason):
    run = fake_run("a")
    promote(run.id, "best")
    before = tree(store)
    p = cli(*[run.id if a == "RUN" else a.replace("RUN", run.id) for a in args], store=store, check=False)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and reason in p.stderr and "Traceback" not in p.stderr
    assert tree(store) == before


def test_a_refused_command_on_an_empty_store_writes_nothing_but_its_record(store):
    for args in (["model", "restore", "default", "7"], ["model", "restore", "default"], ["model", "promote", "x", "y"]):
        p = cli(*args, store=store, check=False)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert tree(store) == {}  # nothing but the activity log, which says what was tried
    p = cli("activity", "--json", store=store)
    records = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(r["action"], r["outcome"], r["actor"]["kind"]) for r in records] == [
        ("model.promote", "failed", "cli"), ("model.restore", "failed", "cli"), ("model.restore", "failed", "cli")]


def test_promoting_a_run_without_weights_is_refused(store):
    run = Run.create(C.resolve({}, ["dataset=tiny"]))
    with pytest.raises(RunError, match="no weights yet"):
        promote(run.id, "best")
    assert not (store / "models" / "best").exists()
