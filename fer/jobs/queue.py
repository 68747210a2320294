"""The queue: jobs are submitted as a kind and its arguments, started oldest first while fewer
than ``max_jobs`` run, each as ``python -m fer.jobs.run <its folder>`` in a new session (so it
outlives a page reload or a Streamlit restart), and cancelled with SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from fer import settings
from fer.jobs.registry import KINDS, JobError, kind_of
from fer.store import ACTIVE, Job, Run, RunError, jobs_lock, now, root

ENTRY_POINT = "fer.jobs.run"


def submit(kind: str, args: dict, device: str | None = None) -> Path:
    """Queue a job of a registered ``kind``; its arguments are checked first (``ValueError`` with
    one line, nothing written). Returns the job's folder."""
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r} ({', '.join(sorted(KINDS))})")
    k = KINDS[kind]
    args = k.check(dict(args))
    job = Job(k.folder(args)) if k.folder else Job.new()
    job.folder.mkdir(parents=True, exist_ok=True)
    job.write_spec({"kind": kind, "args": args, "device": device, "created": now()})
    job.write_status(state="queued", queued=now())
    schedule()
    return job.folder


def resume_run(run_id: str, device: str | None = None) -> Path:
    """Queue a cancelled, failed or refused run again: it continues from its last checkpoint."""
    run = Run.open(run_id)
    state = run.state
    if state in ACTIVE:
        raise RunError(f"run {run_id} is {state} already")
    if state == "finished":
        raise RunError(f"run {run_id} has finished; start a new run to train longer")
    return submit("train", {"run": run_id}, device=device)


def listing() -> list[dict]:
    """Every job with its believed state, oldest first."""
    rows = []
    for job in Job.list():
        status = job.status()
        rows.append({"id": job.id, "folder": str(job.folder), "kind": job.kind, "created": job.created,
                     **{k: v for k, v in status.items() if k in ("state", "pid", "started", "ended", "error",
                                                                 "progress", "message", "output")}})
    return sorted(rows, key=lambda r: r["created"])


def schedule() -> list[str]:
    """Start queued jobs, oldest first, while fewer than ``max_jobs`` run. A queued job whose
    file does not name a registered kind with valid arguments is refused (state ``refused``, with
    the reason) and nothing is started for it. Returns the started ids."""
    limit = settings.load().max_jobs
    started = []
    with jobs_lock():
        jobs = [(j, j.status()) for j in Job.list() if j.spec_path.exists()]
        running = sum(1 for _, s in jobs if s["state"] == "running")
        queued = sorted((j for j, s in jobs if s["state"] == "queued"), key=lambda j: j.created)
        for job in queued:
            if running >= limit:
                break
            spec = job.spec()
            try:
                kind_of(spec).check(dict(spec["args"]))
            except ValueError as e:
                job.write_status(state="refused", ended=now(), error=str(e))
                continue
            _launch(job, spec)
            running += 1
            started.append(job.id)
    return started


def _launch(job: Job, spec: dict) -> None:
    env = {**os.environ, "FER_ARTIFACTS": str(root()), "PYTHONUNBUFFERED": "1", "FER_JOB": str(job.folder)}
    if spec.get("device"):
        env["FER_DEVICE"] = str(spec["device"])
    with open(job.log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", ENTRY_POINT, str(job.folder)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    # the child reaps itself when it ends: nobody waits for it here
    threading.Thread(target=proc.wait, daemon=True).start()
    job.write_status(state="running", pid=proc.pid, started=now(), heartbeat=time.time())


def cancel(folder: Path) -> str:
    """Cancel a queued job, or ask a running one to stop (SIGTERM: it saves and exits)."""
    job = Job(Path(folder))
    s = job.status()
    if s["state"] == "queued":
        job.write_status(state="cancelled", ended=now())
        return "cancelled"
    if s["state"] == "running":
        try:
            os.killpg(s["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
        return "stopping"
    return s["state"]
