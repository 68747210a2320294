"""The Ray jobs backend against a real local Ray (``ray start --head`` on free ports, dashboard and
job server included, with token authentication: ``RAY_AUTH_MODE=token``), started once for this
module and stopped at its end: the app sends the token (a client without it is refused, and the
token reaches no job); a smoke training
submitted with ``python -m fer train --submit`` finishes, is listed on Train and Runs with its
log; a long one is cancelled cleanly; a job Ray could not start says why; a sweep's trial runs on
Ray against the same study storage. Without Ray installed, the backend says how to install it.

Skipped with a reason where Ray is absent (it is an optional extra; ``.ci/run`` installs it)."""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from streamlit.testing.v1 import AppTest

from fer import jobs
from fer.store import Run, layout

from builders import REPO
from test_training import cli, tiny_dataset

PORTS = ("port", "dashboard-port", "ray-client-server-port", "node-manager-port", "object-manager-port",
         "dashboard-agent-grpc-port", "dashboard-agent-listen-port", "metrics-export-port", "runtime-env-agent-port")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_env(extra: dict | None = None) -> dict:
    """What Ray's processes (and so the jobs they start) see: this interpreter's ``python`` first
    on the PATH and this checkout importable, no usage reporting."""
    bindir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p), **(extra or {})}


TOKEN = secrets.token_hex(16)  # this module's cluster's authentication token (RAY_AUTH_MODE=token)


def _client(address: str, token: str | None = TOKEN):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address, headers={"Authorization": f"Bearer {token}"} if token else None)


@pytest.fixture(scope="module")
def ray_head():
    """One local Ray head for the module, with token authentication, as the README starts one:
    started with ``--block`` in its own session, so that stopping it ends exactly the processes it
    started (``ray stop`` would end every Ray on the machine). Yields the dashboard URL; the
    token is in ``RAY_AUTH_TOKEN`` for the app (and its CLI) while the module runs."""
    pytest.importorskip("ray.job_submission", reason="Ray is an optional extra: pip install 'fer-studio[ray]'")

    ports = {k: _free_port() for k in PORTS}
    temp = tempfile.mkdtemp(prefix="fer-ray-", dir="/tmp")  # short: Ray's unix sockets live under it
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    cmd = [ray, "start", "--head", "--block", "--num-cpus", "2", "--object-store-memory", str(100 << 20),
           "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--node-ip-address", "127.0.0.1",
           "--temp-dir", temp, "--disable-usage-stats", *[f"--{k}={v}" for k, v in ports.items()]]
    log = open(os.path.join(temp, "head.log"), "w")
    head = subprocess.Popen(cmd, env=_ray_env({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{ports['dashboard-port']}"
    client, t = None, time.time()
    while client is None:
        if head.poll() is not None or time.time() - t > 180:
            log.flush()
            pytest.fail(f"Ray did not start: {open(log.name).read()[-3000:]}")
        try:
            client = _client(address)
            client.list_jobs()
        except Exception:
            client = None
            time.sleep(1)
    mp = pytest.MonkeyPatch()
    mp.setenv("RAY_AUTH_TOKEN", TOKEN)  # where the app finds it (as Ray's own tools do)
    try:
        yield address
    finally:
        for j in client.list_jobs():  # a job's process runs in a session of its own: stop it first
            if not j.status.is_terminal():
                client.stop_job(j.submission_id)
        t = time.time()
        while any(not j.status.is_terminal() for j in client.list_jobs()) and time.time() - t < 30:
            time.sleep(0.5)
        # Ray's own graceful stop takes over 30 s here; the processes it started are all in the
        # head's session and the jobs are over, so a few seconds' grace, then the whole group goes
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(5)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        head.wait(60)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        mp.undo()


@pytest.fixture
def on_ray(store, tmp_path, monkeypatch, ray_head):
    monkeypatch.setenv("FER_JOBS_BACKEND", "ray")
    monkeypatch.setenv("FER_RAY_ADDRESS", ray_head)
    tiny_dataset(tmp_path)
    return ray_head


def _ray_status(address: str, ray_job: str) -> str:
    return _client(address).get_job_status(ray_job).value


def _wait(predicate, timeout=300, what="it"):
    t = time.time()
    while not predicate():
        assert time.time() - t < timeout, f"waited {timeout} s for {what}"
        time.sleep(0.5)


def test_a_smoke_training_submitted_to_ray_finishes_and_is_listed_with_its_log(on_ray, store):
    p = cli("fer", "train", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=1", "--submit", store=store)
    run_id, folder = p.stdout.split()
    assert "(ray jobs)" in p.stderr
    _wait(lambda: jobs.status(folder)["state"] not in jobs.ACTIVE, what="the run on Ray")
    status = jobs.status(folder)
    assert status["state"] == "finished", jobs.log_tail(folder, 40)
    assert status["backend"] == "ray" and status["ray_job"].startswith(f"fer-{run_id}-")
    _wait(lambda: _ray_status(on_ray, status["ray_job"]) == "SUCCEEDED", 60, "Ray to see it end")
    assert "epoch 1/1" in jobs.log_tail(folder, 40)
    train = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=120).run()
    assert not train.exception
    assert any(run_id in m.value and "finished" in m.value for m in train.markdown)
    assert any("epoch 1/1" in c.value for c in train.code)  # its log, on the page
    runs = AppTest.from_file(str(REPO / "pages" / "4_Runs.py"), default_timeout=120).run()
    assert not runs.exception and run_id in list(runs.dataframe[0].value["id"])


def test_a_run_on_ray_is_cancelled_cleanly(on_ray, store):
    p = cli("fer", "train", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=500", "--submit", store=store)
    run_id, folder = p.stdout.split()
    run = Run.open(run_id)
    _wait(lambda: len(run.epochs()) >= 1, what="a first epoch on Ray")
    assert jobs.cancel(folder) == "stopping"
    _wait(lambda: jobs.status(folder)["state"] not in jobs.ACTIVE, 120, "the run to stop")
    assert jobs.status(folder)["state"] == "cancelled" and run.checkpoint_path.exists()
    assert "stopping: SIGTERM received" in jobs.log_tail(folder, 20)
    ray_job = jobs.status(folder)["ray_job"]
    _wait(lambda: _ray_status(on_ray, ray_job) != "RUNNING", 60, "Ray to see it end")
    assert _ray_status(on_ray, ray_job) == "SUCCEEDED"  # it saved and exited 0: never killed


def test_a_job_ray_cannot_start_is_failed_with_rays_reason(on_ray, store, monkeypatch):
    """As on a worker that does not see the store: the job's process finds no job folder."""
    from fer.jobs.backends import ray_jobs

    real = ray_jobs.job_env
    monkeypatch.setattr(ray_jobs, "job_env", lambda job, spec: {**real(job, spec), "FER_ARTIFACTS": "/nonexistent"})
    folder = jobs.submit("evaluate", {"model": "default", "dataset": "tiny", "split": "test"})
    _wait(lambda: jobs.status(folder)["state"] not in jobs.ACTIVE, 120, "Ray to give up on it")
    status = jobs.status(folder)
    assert status["state"] == "failed" and "before FER Studio's process started" in status["error"]
    assert "no job" in jobs.log_tail(folder, 20)  # Ray's log, read back: the worker did not see the store


def test_a_sweep_trial_runs_on_ray_against_the_same_study(on_ray, store):
    p = cli("fer", "sweep", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=1",
            "--search", "model.dropout=uniform:0:0.5", "--trials", "1", "--name", "on-ray", "--json", store=store,
            timeout=600)
    result = json.loads(p.stdout)
    assert (result["trials"], result["complete"]) == (1, 1), p.stderr
    status = Run.open(result["best_run"]).status()
    assert status["backend"] == "ray" and status["state"] == "finished"


def test_without_ray_the_backend_says_how_to_install_it(store, tmp_path):
    tiny_dataset(tmp_path)
    code = ("import sys; sys.modules['ray'] = None; from fer.cli import main; "  # as if Ray were not installed
            "sys.exit(main(['train', '--config', 'smoke', '--set', 'dataset=tiny', '--submit']))")
    env = {**os.environ, "FER_ARTIFACTS": str(store), "FER_JOBS_BACKEND": "ray"}
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert p.stderr.strip() == ("error: jobs_backend is 'ray' but Ray is not installed here: pip install "
                                "'fer-studio[ray]' (or pip install -r requirements-ray.txt), or set jobs_backend to "
                                "'local' on the Settings page")
    assert not (store / layout.RUNS).exists()  # nothing written


def test_an_unreachable_ray_is_one_line_and_writes_nothing(store, tmp_path, monkeypatch):
    pytest.importorskip("ray.job_submission", reason="Ray is an optional extra: pip install 'fer-studio[ray]'")
    tiny_dataset(tmp_path)
    monkeypatch.setenv("FER_JOBS_BACKEND", "ray")
    monkeypatch.setenv("FER_RAY_ADDRESS", f"http://127.0.0.1:{_free_port()}")
    p = cli("fer", "train", "--config", "smoke", "--set", "dataset=tiny", "--submit", store=store, check=False)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "no Ray job server at http://127.0.0.1:" in p.stderr and "ray start --head" in p.stderr
    assert not (store / layout.RUNS).exists()


def test_the_cluster_asks_for_its_token_and_the_app_sends_it_to_no_job(on_ray, store, monkeypatch):
    import urllib.error
    import urllib.request

    from fer.jobs.backends.ray_jobs import RayBackend

    with pytest.raises(urllib.error.HTTPError) as refused:  # a client without the token
        urllib.request.urlopen(f"{on_ray}/api/jobs/", timeout=10)
    assert refused.value.code == 401
    with pytest.raises(Exception, match="Authentication|401"):
        _client(on_ray, token=None).list_jobs()
    folder = jobs.submit("evaluate", {"model": "default", "dataset": "tiny", "split": "test"})  # with the token
    _wait(lambda: jobs.status(folder)["state"] not in jobs.ACTIVE, 300, "the evaluation on Ray")
    status = jobs.status(folder)
    assert status["state"] == "finished", jobs.log_tail(folder, 30)
    info = _client(on_ray).get_job_info(status["ray_job"])
    shown = json.dumps(info.runtime_env) + json.dumps(status) + jobs.log_tail(folder, 200)
    assert TOKEN not in shown  # not in the job's environment, its status or its log
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(store / "none"))
    with pytest.raises(ValueError) as wrong:
        RayBackend(on_ray).check()
    assert "refused the one FER Studio sent" in str(wrong.value) and "not-the-token" not in str(wrong.value)
