"""Jobs of the store: a detached process's folder (``jobs/<id>/``, or a run's), its job file,
status and log, the state a reader should believe (a dead or silent process is failed), the stop
request a job on another machine reads, and the lock one scheduler at a time holds."""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from fer.store import io, layout, locks
from fer.store.names import NotFound, check_name, children, inside, new_id, now

STALE_SECONDS = 60
ACTIVE = ("queued", "running")
DONE = ("finished", "failed", "cancelled", "refused", "pruned")  # pruned: a sweep stopped it

def process_facts(pid) -> dict | None:
    """What identifies a live process of this machine, from /proc: its start time (clock ticks
    since boot, unique with its pid) and command line; None when there is no such live process
    (or ``pid`` is not a process id: not a whole number above 0)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":  # a zombie (finished, not yet reaped by its parent) is not alive
        return None
    return {"pid_start": int(fields[19]), "pid_cmd": cmd}


def _ours(status: dict, folder: Path) -> tuple[bool, str]:
    """Whether the live process named by a job's status is that job's own, told by what was
    recorded when it started (start time and command line); a planted or reused pid is not."""
    pid = status.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False, f"pid {pid!r} is not a process id"
    facts = process_facts(pid)
    if facts is None:
        return False, f"process {pid} is gone"
    if "pid_start" in status:
        if facts["pid_start"] != status["pid_start"] or facts["pid_cmd"] != status.get("pid_cmd"):
            return False, f"process {pid} is not this job's (another process has that pid now)"
    elif str(folder) not in facts["pid_cmd"]:  # a status written before start times were recorded
        return False, f"process {pid} is not this job's (its command line does not name the job's folder)"
    return True, ""


HOST = socket.gethostname()


def _waiting_on_a_cluster(status: dict) -> bool:
    """Submitted to a cluster (``backend`` other than local) and not started there yet: no pid
    and no heartbeat of its own to judge; the jobs layer asks the cluster instead."""
    return status.get("backend", "local") != "local" and not status.get("pid")


@dataclass(frozen=True)
class Job:
    """A detached process's folder: ``jobs/<id>/`` (imports, alignments, evaluations) or a run."""
    folder: Path

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def is_run(self) -> bool:
        return (self.folder / layout.RUN).exists()

    @classmethod
    def list(cls) -> list["Job"]:
        """Every job: ``jobs/*`` and every run (runs started from the command line included)."""
        from fer.store.runs import Run  # a run is a job; runs know jobs, not the other way round

        jobs = [cls(p) for p in children(layout.jobs_dir()) if (p / layout.JOB).exists()]
        return jobs + [r.job for r in Run.list()]

    @classmethod
    def open(cls, job_id: str) -> "Job":
        check_name(job_id, "job id")
        for folder in (layout.jobs_dir() / job_id, layout.runs_dir() / job_id):
            if (folder / layout.JOB).exists() or (folder / layout.RUN).exists():
                return cls(inside(folder, f"job {job_id!r}"))
        raise NotFound(f"no job {job_id!r} in {layout.root()}")

    @classmethod
    def new(cls) -> "Job":
        return cls(layout.jobs_dir() / new_id())

    @staticmethod
    def holds(path: Path) -> bool:
        """Whether ``path`` (resolved) is a file directly inside a job folder of this store."""
        return Path(path).resolve().parent.parent == layout.jobs_dir().resolve()

    @property
    def spec_path(self) -> Path:
        return self.folder / layout.JOB

    @property
    def log_path(self) -> Path:
        return self.folder / (layout.TRAIN_LOG if self.is_run else layout.JOB_LOG)

    def spec(self) -> dict:
        """job.json: ``{"kind", "args", "device", "created"}`` (an old store's has a ``command``)."""
        spec = io.read_json(self.spec_path, {})
        return spec if isinstance(spec, dict) else {}

    def write_spec(self, spec: dict) -> None:
        io.write_json(self.spec_path, spec)

    @property
    def kind(self) -> str | None:
        return self.spec().get("kind") or ("train" if self.is_run else None)

    @property
    def created(self) -> str:
        if self.spec().get("created") or not self.is_run:
            return self.spec().get("created") or ""
        return (io.read_json(self.folder / layout.RUN, {}) or {}).get("created", "")

    def raw_status(self) -> dict:
        s = io.read_json(self.folder / layout.STATUS, {})
        return s if isinstance(s, dict) else {}

    def status(self) -> dict:
        """status.json with the state a reader should believe: a running job whose process is
        gone is failed (cancelled, when a cancel asked it to stop); so is one whose heartbeat is
        stale, unless a live process still holds the folder's writer lock (stopped or hung): that
        one stays running, with a message saying so."""
        s = self.raw_status()
        s.setdefault("state", "unknown")
        if s["state"] == "running" and not _waiting_on_a_cluster(s):
            silent = time.time() - float(s.get("heartbeat", 0) or 0)
            here = s.get("host") in (None, HOST)  # a pid means something on its own machine only
            if here and not _ours(s, self.folder)[0]:
                if self.stop_requested:  # cancelled while it started, before it could say so
                    s["state"] = "cancelled"
                else:
                    s["state"] = "failed"
                    s.setdefault("error", "the process stopped without a word (killed, crashed or the machine "
                                          "restarted)")
            elif silent > STALE_SECONDS:
                pid = locks.holder(self.folder)
                if pid is None:
                    s["state"] = "failed"
                    s.setdefault("error", f"no heartbeat for {silent:.0f} s and no process holds the job "
                                          "(killed, crashed or the machine restarted)")
                else:
                    s["message"] = (f"not responding: no heartbeat for {silent:.0f} s, but process "
                                    f"{pid or s.get('pid')} still holds the job (stopped or hung); Cancel stops it")
        return s

    def own_process(self, status: dict | None = None) -> tuple[int | None, str]:
        """(the pid of this job's own live process, "") when the status names one of this machine
        that is really this job's, else (None, why not): a job's files may have been edited, and a
        signal must never reach a process that is not the job."""
        s = self.raw_status() if status is None else status
        if s.get("host") not in (None, HOST):
            return None, f"its process runs on {s.get('host')}"
        ok, why = _ours(s, self.folder)
        return (s["pid"], "") if ok else (None, why)

    def request_stop(self) -> None:
        """Ask the job's process to stop through its folder (its heartbeat reads this), which
        works wherever the process runs as long as it sees the store."""
        io.write_text(self.folder / layout.STOP_REQUEST, now())

    @property
    def stop_requested(self) -> bool:
        return (self.folder / layout.STOP_REQUEST).exists()

    def clear_stop_request(self) -> None:
        (self.folder / layout.STOP_REQUEST).unlink(missing_ok=True)

    @property
    def writer(self) -> int | None:
        """The pid of the live process writing this folder (holding its writer lock), or None."""
        return locks.holder(self.folder)

    def write_status(self, **fields) -> dict:
        status = {**self.raw_status(), **fields}
        io.write_json(self.folder / layout.STATUS, status)
        return status

    @property
    def stamp(self) -> tuple:
        return io.file_version(self.folder / layout.STATUS, self.spec_path)


def jobs_lock():
    """One scheduler at a time (several processes start and end jobs)."""
    return locks.held(layout.root() / layout.JOBS_LOCK)
