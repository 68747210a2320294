"""Jobs: detached processes that write their own folder, a queue and a concurrency limit.

A job is a folder (``jobs/<id>/`` for imports, alignments and evaluations, ``runs/<id>/`` for
trainings) holding ``job.json`` (the command), ``status.json`` (state, pid, heartbeat) and a log.
The folder, not the page, is the truth: jobs outlive reloads and Streamlit restarts. A process
keeps its heartbeat fresh; one killed without a word (SIGKILL, a crash, a reboot) shows as
failed once its pid is gone or its heartbeat is stale. A job that ends starts the next queued
one, so the queue moves with no browser open.
"""
from __future__ import annotations

import fcntl
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from fer import settings, store

STALE_SECONDS = 60
HEARTBEAT_SECONDS = 5
ACTIVE = ("queued", "running")
DONE = ("finished", "failed", "cancelled")


def new_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_status(folder: Path, **fields) -> dict:
    status = {**(store.read_json(Path(folder) / "status.json", {}) or {}), **fields}
    store.write_json(Path(folder) / "status.json", status)
    return status


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (finished, not yet reaped by its parent) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def status(folder: Path) -> dict:
    """status.json with the state a reader should believe: a running job whose process is gone
    or whose heartbeat is stale is failed."""
    s = store.read_json(Path(folder) / "status.json", {}) or {}
    s.setdefault("state", "unknown")
    if s["state"] == "running":
        stale = time.time() - float(s.get("heartbeat", 0) or 0) > STALE_SECONDS
        if stale or not _alive(s.get("pid")):
            s["state"] = "failed"
            s.setdefault("error", "the process stopped without a word (killed, crashed or the machine restarted)")
    return s


def folders() -> list[Path]:
    """Every job folder: jobs/* and runs/* (runs started from the command line included)."""
    out = []
    for root in (store.jobs_dir(), store.runs_dir()):
        if root.is_dir():
            out += [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                    and ((p / "job.json").exists() or (p / "run.json").exists())]
    return out


def listing() -> list[dict]:
    rows = []
    for f in folders():
        job = store.read_json(f / "job.json") or store.read_json(f / "run.json") or {}
        kind = job.get("kind") or ("train" if (f / "run.json").exists() else None)
        rows.append({"id": f.name, "folder": str(f), "kind": kind, "created": job.get("created", ""),
                     **{k: v for k, v in status(f).items() if k in ("state", "pid", "started", "ended", "error",
                                                                      "progress", "message")}})
    return sorted(rows, key=lambda r: r["created"])


def submit(folder: Path, command: list[str], kind: str, device: str | None = None) -> Path:
    """Queue a job whose process is ``command`` (run from the repository root), then schedule."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store.write_json(folder / "job.json", {"kind": kind, "command": command, "device": device, "created": now()})
    write_status(folder, state="queued", queued=now())
    schedule()
    return folder


@contextmanager
def _lock():
    store.root().mkdir(parents=True, exist_ok=True)
    with open(store.root() / ".jobs.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def schedule() -> list[str]:
    """Start queued jobs, oldest first, while fewer than ``max_jobs`` run. Returns the started ids."""
    limit = settings.load().max_jobs
    started = []
    with _lock():
        entries = [(f, status(f), store.read_json(f / "job.json", {}) or {}) for f in folders()
                   if (f / "job.json").exists()]
        running = sum(1 for _, s, _ in entries if s["state"] == "running")
        queued = sorted((e for e in entries if e[1]["state"] == "queued"), key=lambda e: e[2].get("created", ""))
        for folder, _, job in queued:
            if running >= limit:
                break
            _launch(folder, job)
            running += 1
            started.append(folder.name)
    return started


def _launch(folder: Path, job: dict) -> None:
    env = {**os.environ, "FER_ARTIFACTS": str(store.root()), "PYTHONUNBUFFERED": "1", "FER_JOB": str(folder)}
    if job.get("device"):
        env["FER_DEVICE"] = job["device"]
    log = open(folder / "log.txt" if not (folder / "run.json").exists() else folder / "train.log", "ab")
    proc = subprocess.Popen(job["command"], cwd=store.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    # the child reaps itself when it ends: nobody waits for it here
    threading.Thread(target=proc.wait, daemon=True).start()
    write_status(folder, state="running", pid=proc.pid, started=now(), heartbeat=time.time())


def cancel(folder: Path) -> str:
    """Cancel a queued job, or ask a running one to stop (SIGTERM: it saves and exits)."""
    s = status(folder)
    if s["state"] == "queued":
        write_status(folder, state="cancelled", ended=now())
        return "cancelled"
    if s["state"] == "running":
        try:
            os.killpg(s["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
        return "stopping"
    return s["state"]


class Heartbeat:
    """Inside a job's process: state running, a fresh heartbeat every few seconds, and at the end
    the final state and the next queued job started."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # status.json is read-modify-written by two threads
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _write(self, **fields) -> None:
        with self._lock:
            write_status(self.folder, **fields)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self._write(heartbeat=time.time())

    def __enter__(self) -> "Heartbeat":
        write_status(self.folder, state="running", pid=os.getpid(), heartbeat=time.time(),
                     started=(store.read_json(self.folder / "status.json", {}) or {}).get("started") or now())
        self._thread.start()
        return self

    def progress(self, **fields) -> None:
        self._write(heartbeat=time.time(), **fields)

    def finish(self, state: str, **fields) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=HEARTBEAT_SECONDS * 2)  # no beat may land after the final state
        self._write(state=state, ended=now(), heartbeat=time.time(), **fields)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if status(self.folder)["state"] == "running":  # nobody wrote an end: an error escaped
            reason = f"{exc_type.__name__}: {exc}" if exc_type else "ended without a final state"
            write_status(self.folder, state="failed", ended=now(), error=reason)
        try:
            schedule()
        except Exception as e:  # the queue must not turn a finished job into a failed one
            print(f"could not start the next queued job: {e}", file=sys.stderr)
