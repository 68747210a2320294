"""Jobs: detached processes that write their own folder, a queue and a concurrency limit.

A job is a folder (``jobs/<id>/`` for imports, alignments and evaluations, ``runs/<id>/`` for
trainings) holding its job file (a kind and its arguments), its status (state, pid, heartbeat)
and a log. The folder, not the page, is the truth: jobs outlive reloads and Streamlit restarts.
A process keeps its heartbeat fresh; one killed without a word shows as failed once its pid is
gone or its heartbeat is stale. A job that ends starts the next queued one, so the queue moves
with no browser open.

``fer.jobs.registry`` is the allow-list of kinds, ``fer.jobs.kinds`` the built-in ones (a package
that adds kinds, such as ``fer.sweeps``, registers them where a program starts: ``fer.startup``),
``fer.jobs.launch`` the one door through which jobs are queued, ``fer.jobs.harness`` what runs
around every job's body, ``fer.jobs.backends`` where the process runs (this machine or a Ray
cluster), ``fer.jobs.run`` what a job's process does (``python -m fer.worker``).
"""
from fer.jobs.harness import HEARTBEAT_SECONDS, Heartbeat, JobCancelled, JobHandle, job_harness  # noqa: F401
from fer.jobs.queue import cancel, listing, log_tail, schedule, status, submit  # noqa: F401
from fer.jobs.registry import KINDS, JobError, JobKind, register  # noqa: F401
from fer.jobs import kinds, launch  # noqa: F401,E402  (kinds registers the built-in kinds)
from fer.jobs.kinds import train  # noqa: F401,E402
from fer.jobs.launch import resume as resume_run  # noqa: F401,E402
from fer.store import ACTIVE, DONE, STALE_SECONDS, Job, new_id, now  # noqa: F401


def write_status(folder, **fields) -> dict:
    return Job(folder).write_status(**fields)
