"""The queue: jobs are submitted as a kind and its arguments, started oldest first while fewer
than ``max_jobs`` run (kinds that take no slot start at once), each as ``python -m fer.worker
<its folder>`` through a backend (``fer.jobs.backends``: a process of this machine, or a Ray
job), and cancelled through the backend that started them. A folder that a live process still
writes (it holds the folder's writer lock) gets no second job: submitting, resuming and starting
one are refused, naming that process."""
from __future__ import annotations

from pathlib import Path

from fer import settings
from fer.jobs import backends
from fer.jobs.backends import ENTRY_POINT  # noqa: F401
from fer.jobs.registry import KINDS, JobError, kind_of, knows
from fer.store import Job, Run, jobs_lock, now
from fer.store.locks import FolderBusy


def submit(kind: str, args: dict, device: str | None = None) -> Path:
    """Queue a job of a registered ``kind``; its arguments are checked first, and so is the backend
    it would run on (``ValueError`` with one line, nothing written). Returns the job's folder."""
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r} ({', '.join(sorted(KINDS))})")
    k = KINDS[kind]
    args = k.check(dict(args))
    backends.in_force(k.remote).check()
    job = Job(k.folder(args)) if k.folder else Job.new()
    refuse_if_written(job)
    job.folder.mkdir(parents=True, exist_ok=True)
    job.write_spec({"kind": kind, "args": args, "device": device, "created": now()})
    job.write_status(state="queued", queued=now(), launch_error=False)
    schedule()
    status = job.raw_status()
    if status.get("state") == "failed" and status.get("launch_error"):
        raise JobError(status["error"])
    return job.folder


def refuse_if_written(job: Job) -> None:
    """``FolderBusy`` naming the live process that still writes ``job``'s folder, if one does."""
    pid = job.writer
    if pid is not None:
        raise FolderBusy(f"{job.kind or 'job'} {job.id} is still being written by process {pid or '(unknown)'} "
                         "(running, stopped or hung): cancel it or wait for it to end")


def status(folder) -> dict:
    """The state a reader should believe: a dead or silent running job is failed, and a job that
    its cluster ended before it started is failed with the cluster's reason."""
    job = Job(Path(folder))
    s = job.status()
    return backends.of(s).refresh(job, s) if s.get("state") == "running" and s.get("backend") == "ray" else s


def subject(job: Job) -> str:
    """What a job works on, as a person names it: the dataset of an import or an alignment, the
    model and the split an evaluation reads, the video analysed, the run trained, the study swept."""
    spec = job.spec()
    args = spec.get("args") if isinstance(spec.get("args"), dict) else {}
    kind = job.kind
    if kind in ("import", "align"):
        return f"dataset {args.get('name', '?')}"
    if kind == "evaluate":
        return f"{args.get('model', '?')} on {args.get('dataset', '?')}/{args.get('split', 'test')}"
    if kind == "video":
        return f"video {args.get('name', '?')}"
    if kind == "sweep":
        return f"study {args.get('name', '?')}"
    if job.is_run:
        return f"run {Run(job.folder).name}"
    return job.id


def listing() -> list[dict]:
    """Every job with its believed state and what it works on (``what``), oldest first."""
    rows = []
    for job in Job.list():
        s = status(job.folder)
        rows.append({"id": job.id, "folder": str(job.folder), "kind": job.kind, "created": job.created,
                     "what": subject(job),
                     **{k: v for k, v in s.items() if k in ("state", "pid", "started", "ended", "error",
                                                           "progress", "message", "output", "backend")}})
    return sorted(rows, key=lambda r: (r["created"], r["id"]))  # ids order the jobs made in one second


def log_tail(folder, lines: int = 12) -> str:
    """The last lines of a job's log, wherever it runs."""
    job = Job(Path(folder))
    return backends.of(job.raw_status()).log_tail(job, lines)


def _takes_slot(spec: dict) -> bool:
    kind = KINDS.get(spec.get("kind"))
    return kind.takes_slot if kind else True


def schedule() -> list[str]:
    """Start queued jobs, oldest first, while fewer than ``max_jobs`` run (a kind that takes no
    slot starts at once). A queued job whose file does not name a registered kind with valid
    arguments is refused (state ``refused``, with the reason) and nothing is started for it; one
    its backend cannot start is failed with the backend's reason. Returns the started ids."""
    limit = settings.load().max_jobs
    started = []
    with jobs_lock():
        jobs = [(j, j.status(), j.spec()) for j in Job.list() if j.spec_path.exists()]
        running = sum(1 for _, s, spec in jobs if s["state"] == "running" and _takes_slot(spec))
        queued = sorted(((j, spec) for j, s, spec in jobs if s["state"] == "queued"),
                        key=lambda js: (js[0].created, js[0].id))
        for job, spec in queued:
            if not knows(spec):
                continue
            try:
                kind = kind_of(spec)
                kind.check(dict(spec["args"]))
                refuse_if_written(job)
            except ValueError as e:
                job.write_status(state="refused", ended=now(), error=str(e))
                continue
            if kind.takes_slot and running >= limit:
                continue
            try:
                backends.in_force(kind.remote).launch(job, spec)
            except ValueError as e:  # JobError from a backend: Ray absent or unreachable
                job.write_status(state="failed", ended=now(), error=str(e), launch_error=True)
                continue
            running += kind.takes_slot
            started.append(job.id)
    return started


def cancel(folder: Path) -> str:
    """Cancel a queued job, or ask a running one to stop (it saves and exits), through the backend
    that started it."""
    job = Job(Path(folder))
    s = status(folder)
    if s["state"] == "queued":
        job.write_status(state="cancelled", ended=now())
        return "cancelled"
    if s["state"] == "running":
        return backends.of(s).cancel(job, s)
    return s["state"]
