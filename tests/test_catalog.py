"""The Models view's rows (and ``python -m fer model list``): every version with its source run, date,
test and leak-free accuracy, the current one marked; what a promotion onto a name would replace."""
import json
import os
import subprocess
import sys

import pytest

from fer import catalog, evaluation, jobs
from fer.store import Model, StoreError, layout, promote

from builders import REPO
from test_model_versions import fake_run


def test_rows_mark_the_current_version_and_keep_every_other(store):
    a, b = fake_run("a", seed=1), fake_run("b", seed=2)
    promote(a.id, "best")
    promote(b.id, "best")
    Model.open("best").restore("1")
    rows = catalog.rows()
    meta = json.loads((layout.SHIPPED / layout.MODEL_META).read_text())
    earlier = [json.loads((layout.EARLIER_SHIPPED / n / layout.MODEL_META).read_text()) for n in ("1", "2")]
    assert [(r["ref"], r["current"], r["source_run"]) for r in rows] == [
        ("default@shipped-1", False, earlier[0]["source_run"]), ("default@shipped-2", False, earlier[1]["source_run"]),
        ("default@shipped", True, meta["source_run"]), ("best@1", True, a.id), ("best@2", False, b.id)]
    shipped = meta["metrics"]
    assert rows[2]["test_accuracy"] == shipped["test"]["accuracy"]
    assert rows[2]["leak_free_accuracy"] == shipped["test_leak_free"]["accuracy"]  # as the shipped model records it
    assert rows[0]["test_accuracy"] == earlier[0]["metrics"]["test"]["accuracy"] < rows[1]["test_accuracy"] \
        == earlier[1]["metrics"]["test"]["accuracy"] < rows[2]["test_accuracy"]
    assert rows[3]["test_accuracy"] == 0.51 and rows[4]["test_accuracy"] == 0.52
    assert rows[3]["leak_free_accuracy"] is None  # no evaluation, no dataset here: not made up
    assert all(r["created"] for r in rows)


def test_a_promotion_check_names_what_it_would_replace(store):
    a, b = fake_run("a", seed=1), fake_run("b", seed=2)
    check = catalog.promotion_check(a.id, "best")
    assert check["replaced"] is None and check["new_version"] == "best@1" and check["incoming"]["source_run"] == a.id
    promote(a.id, "best")
    check = catalog.promotion_check(b.id, "best")
    assert check["replaced"]["ref"] == "best@1" and check["replaced"]["source_run"] == a.id
    assert check["new_version"] == "best@2" and check["incoming"]["test_accuracy"] == 0.52
    default = catalog.promotion_check(b.id, "default")["replaced"]
    assert default["ref"] == "default@shipped" and default["kind"] == "shipped"
    with pytest.raises(StoreError, match="invalid name"):
        catalog.promotion_check(b.id, "../x")


def test_leak_free_accuracy_comes_from_the_versions_evaluation(store, tmp_path):
    from fer.store import Run
    from fer import config as C
    from test_training import tiny_dataset

    tiny_dataset(tmp_path)
    run = Run.create(C.resolve({}, ["dataset=tiny", "epochs=1", "batch_size=16", "schedule.warmup_epochs=0",
                                    "eval_splits=[test]"]))
    jobs.train(run.folder, log=lambda m: None)
    promote(run.id, "best")
    ev = run.model().evaluation("tiny/test")
    expected = evaluation.leak_free(ev.predictions(), "tiny", "tiny")["accuracy"]
    row = next(r for r in catalog.rows() if r["ref"] == "best@1")
    assert row["leak_free_accuracy"] == expected and row["dataset"] == "tiny"
    assert catalog.describe(run.model())["leak_free_accuracy"] == expected
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer", "model", "list", "--json"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    listed = {r["name"] + "@" + r["version"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert listed["best@1"]["leak_free_accuracy"] == expected and listed["best@1"]["source_run"] == run.id
    text = subprocess.run([sys.executable, "-m", "fer", "model", "list"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120).stdout
    assert "leak-free" in text.splitlines()[0] and f"{expected:.2%}" in text
