"""Jobs run only what the app builds (a kind from the allow-list, its arguments validated), and
every job runs inside one harness: heartbeat, SIGTERM, final state, closing line, next job."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fer import jobs
from fer.jobs import job_harness
from fer.startup import register_job_kinds
from fer.store import Job, layout

import builders as b


def plant(store, name: str, spec: dict):
    """A job folder written straight into the store, as someone with write access could."""
    folder = store / "jobs" / name
    folder.mkdir(parents=True)
    (folder / layout.JOB).write_text(json.dumps(spec))
    (folder / layout.STATUS).write_text(json.dumps({"state": "queued"}))
    return folder


@pytest.mark.parametrize("spec,reason", [
    ({"kind": "train", "command": ["touch", "{marker}"]}, "a command line"),
    ({"kind": "evil", "args": {"command": ["touch", "{marker}"]}}, "'evil' is not a kind"),
    ({"kind": "import", "args": {"name": "x", "sources": [{"location": "/"}], "command": ["touch", "{marker}"]}},
     "unknown argument"),
    ({"kind": "import", "args": {"name": "x", "sources": [{"location": "{outside}"}]}}, "outside the import roots"),
    ({"kind": "evaluate", "args": {"model": "{outside}", "dataset": "x"}}, "no model"),
])
def test_a_planted_job_runs_nothing_and_says_why(store, tmp_path, monkeypatch, spec, reason):
    register_job_kinds()  # as every FER Studio program does: only a process that knows every kind judges any
    marker = tmp_path / "ran"
    outside = tmp_path / "outside"
    (outside / "happy").mkdir(parents=True)
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path / "allowed"))
    text = json.dumps(spec).replace("{marker}", str(marker)).replace("{outside}", str(outside))
    folder = plant(store, "20240101-000000-dead", json.loads(text))
    assert jobs.schedule() == []
    status = Job(folder).status()
    assert status["state"] == "refused" and reason in status["error"], status
    # the job process itself refuses it too, whoever starts it
    (folder / layout.STATUS).write_text(json.dumps({"state": "queued"}))
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer.worker", str(folder)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and reason in p.stderr and Job(folder).status()["state"] == "refused"
    time.sleep(0.5)
    assert not marker.exists()
    assert [j["state"] for j in jobs.listing()] == ["refused"]  # listed, not crashing


def test_the_entry_point_runs_only_folders_of_the_store(store, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "x"
    elsewhere.mkdir(parents=True)
    (elsewhere / layout.JOB).write_text(json.dumps({"kind": "import", "args": {}}))
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer.worker", str(elsewhere)], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "no job 'x'" in p.stderr


def test_submitting_checks_the_arguments_first_and_writes_nothing(store, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path / "allowed"))
    src = b.imagefolder(tmp_path / "outside", classes=("happy",), per_class=2)
    for kind, args, reason in (
            ("import", {"name": "x", "sources": [{"location": str(src)}]}, "outside the import roots"),
            ("import", {"name": "../x", "sources": [{"location": str(src)}]}, "invalid name"),
            ("import", {"name": "x", "sources": [{"location": str(src), "format": "nope"}]}, "unknown format"),
            ("align", {"name": "nothere"}, "no dataset named"),
            ("train", {"run": "nothere"}, "no run"),
            ("evaluate", {"model": "default", "dataset": "x", "split": "holdout"}, "no dataset named"),
            ("nope", {}, "unknown job kind"),
            ("sweep", {"name": "s", "config": {}, "search": []}, "dataset")):
        with pytest.raises(ValueError, match=reason):
            jobs.submit(kind, args)
    assert not (store / "jobs").exists()


def test_a_job_folder_of_an_older_store_is_refused_not_run(store, tmp_path):
    marker = tmp_path / "ran"
    old = plant(store, "20230101-000000-0001", {"kind": "import", "created": "2023-01-01",
                                                "command": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]})
    done = plant(store, "20230101-000000-0002", {"kind": "evaluate", "command": ["x"]})
    (done / layout.STATUS).write_text(json.dumps({"state": "finished"}))
    jobs.schedule()
    assert Job(old).status()["state"] == "refused" and "older FER Studio" in Job(old).status()["error"]
    assert Job(done).status()["state"] == "finished"  # what already ran stays as it was
    assert not marker.exists()


def test_the_harness_writes_running_then_finished_and_a_closing_line(store, capsys):
    folder = store / "jobs" / "j1"
    folder.mkdir(parents=True)
    with job_harness(folder) as job:
        s = Job(folder).status()
        assert s["state"] == "running" and s["pid"] == os.getpid()
        job.stage("scan", 5, 10)
        assert Job(folder).status()["progress"] == 0.5
        job.fields["output"] = "somewhere"
    s = Job(folder).status()
    assert s["state"] == "finished" and s["output"] == "somewhere" and s["ended"]
    assert capsys.readouterr().err.strip().splitlines()[-1] == "job j1: finished"


def test_the_harness_records_a_failure_and_lets_it_through(store, capsys):
    folder = store / "jobs" / "j2"
    folder.mkdir(parents=True)
    with pytest.raises(ValueError, match="bad input"):
        with job_harness(folder):
            raise ValueError("bad input")
    s = Job(folder).status()
    assert s["state"] == "failed" and s["error"] == "bad input"
    assert "job j2: failed (bad input)" in capsys.readouterr().err


@pytest.mark.parametrize("cooperative", [True, False])
def test_sigterm_cancels_through_the_harness(store, cooperative):
    folder = store / "jobs" / f"j-{cooperative}"
    folder.mkdir(parents=True)
    before = signal.getsignal(signal.SIGTERM)
    with job_harness(folder, cooperative=cooperative) as job:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # a cooperative job polls; the other is interrupted right here
            if job.should_stop():
                break
            time.sleep(0.01)
        assert cooperative, "a non-cooperative job is interrupted by the signal"
    assert Job(folder).status()["state"] == "cancelled"
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_a_job_cancelled_before_its_harness_began_runs_nothing(store, capsys):
    folder = store / "jobs" / "early"
    folder.mkdir(parents=True)
    Job(folder).request_stop()  # what Cancel leaves for a process that is still starting
    before = signal.getsignal(signal.SIGTERM)
    ran = []
    with pytest.raises(jobs.JobCancelled):
        with job_harness(folder):
            ran.append(True)
    assert ran == [] and Job(folder).status()["state"] == "cancelled" and "error" not in Job(folder).status()
    assert Job(folder).writer is None  # the lock is let go: the run can be resumed
    assert signal.getsignal(signal.SIGTERM) == before
    assert capsys.readouterr().err.strip().splitlines()[-1] == "job early: cancelled before it began"


def test_a_job_cancelled_while_its_process_starts_ends_cancelled_not_failed(store, tmp_path, monkeypatch):
    from fer.jobs import launch
    from fer.data.dataset import SourceSpec

    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path))
    src = b.fer2013_folders(tmp_path / "fer")
    folder = launch.import_dataset([SourceSpec(str(src))], "tiny")
    assert jobs.status(folder)["state"] == "running"
    assert jobs.cancel(folder) == "stopping"  # its process is still importing Python modules
    t = time.time()
    while Job(folder).status()["state"] in jobs.ACTIVE:
        assert time.time() - t < 180
        time.sleep(0.2)
    s = Job(folder).status()
    assert s["state"] == "cancelled" and "error" not in s, (s, (folder / layout.JOB_LOG).read_text())
    assert not (store / "datasets" / "tiny").exists()


def test_a_disabled_harness_writes_nothing(store):
    folder = store / "jobs" / "rank1"
    folder.mkdir(parents=True)
    with job_harness(folder, enabled=False):
        pass
    assert list(folder.iterdir()) == []


def test_import_and_align_run_as_jobs_of_their_kind(store, tmp_path, monkeypatch):
    from fer.jobs import launch
    from fer.data.dataset import SourceSpec

    monkeypatch.setenv("FER_IMPORT_ROOTS", str(tmp_path))
    src = b.fer2013_folders(tmp_path / "fer")
    folder = launch.import_dataset([SourceSpec(str(src))], "tiny", align=True)
    spec = json.loads((folder / layout.JOB).read_text())
    assert spec["kind"] == "import" and "command" not in spec and spec["args"]["name"] == "tiny"
    t = time.time()
    while Job(folder).status()["state"] in jobs.ACTIVE:
        assert time.time() - t < 180
        time.sleep(0.3)
    log = (folder / layout.JOB_LOG).read_text()
    assert Job(folder).status()["state"] == "finished", log
    assert "dataset tiny: 56 images" in log and log.strip().splitlines()[-1].startswith("wrote ")
    assert (store / "datasets" / "tiny" / layout.FACES).exists()
