"""The Ray backend: a job is submitted to a Ray cluster's job API (Ray Jobs, through the dashboard
at ``ray_address``) as the same command the local backend runs, ``python -m fer.worker
<folder>``; the job kind's allow-list and argument checks apply in that process as they do here.

Every node must see the store at the same path (``FER_ARTIFACTS`` is passed to the job): the job
writes its status, heartbeat, metrics and log into its folder there, and reads a cancel request
from it (Ray's own stop gives a process 3 seconds before SIGKILL, too little to save a checkpoint).
A job that Ray could not start (no such folder on the worker, a broken environment) is marked
failed with Ray's own message and log, read back through the job API.

Ray is an optional extra (``pip install 'fer-studio[ray]'``); without it this backend refuses
jobs with that command rather than failing later.

A cluster started with token authentication (``RAY_AUTH_MODE=token``, Ray 2.52 and later) is sent
its token with every request, found where Ray itself looks for it: ``RAY_AUTH_TOKEN``, the file
``RAY_AUTH_TOKEN_PATH`` names, or ``~/.ray/auth_token``. FER Studio never writes the token, never
shows or logs it, and never passes it to a job.
"""
from __future__ import annotations

import os
import secrets
import shlex
from pathlib import Path

from fer import settings
from fer.jobs.backends import ENTRY_POINT, job_env, tail
from fer.jobs.registry import JobError
from fer.store import Job, io, now

INSTALL = "pip install 'fer-studio[ray]' (or pip install -r requirements-ray.txt)"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
# a cancel through Ray's own API (the dashboard, `ray job stop`) waits this long before SIGKILL
STOP_WAIT_SECONDS = 120


def _token() -> str | None:
    """The cluster's authentication token, where Ray looks for it; None when there is none."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _client_class():
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise JobError(f"jobs_backend is 'ray' but Ray is not installed here: {INSTALL}, "
                       "or set jobs_backend to 'local' on the Settings page") from None
    return JobSubmissionClient


class RayBackend:
    name = "ray"

    def __init__(self, address: str):
        self.address = address

    def client(self):
        cls = _client_class()
        token = _token()
        try:
            return cls(self.address, headers={"Authorization": f"Bearer {token}"} if token else None)
        except Exception as e:  # ConnectionError, RuntimeError, ...: one line either way (never the token)
            first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            if "Authentication" in str(e) or "401" in first or "403" in first:
                raise JobError(f"Ray at {self.address} asks for its authentication token (it runs with "
                               "RAY_AUTH_MODE=token) and " + ("refused the one FER Studio sent" if token else
                                                              "FER Studio has none") +
                               ": set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH where FER Studio runs, or put the "
                               "cluster's token in ~/.ray/auth_token") from None
            raise JobError(f"no Ray job server at {self.address} ({type(e).__name__}: {first}); "
                           "start one with `ray start --head` or correct ray_address in the settings") from None

    def check(self) -> None:
        self.client()

    def launch(self, job: Job, spec: dict) -> None:
        env = job_env(job, spec)
        # settings given by environment variables here hold there too (secrets stay here: Ray shows a
        # job's environment to whoever reaches its API); the job tees its output to its log
        env.update({k: v for k, v in os.environ.items()
                    if k.startswith("FER_") and k not in env and k not in settings.SECRET_VARS})
        env.update({"FER_JOB_LOG": "1", "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT_SECONDS)})
        gpus = 1 if str(spec.get("device") or "").startswith("cuda") else 0
        client = self.client()
        ray_id = f"fer-{job.id}-{secrets.token_hex(3)}"  # a resumed run is a new Ray job
        job.clear_stop_request()
        # written before the job can start, so that its own first status (pid, host) is never overwritten
        job.write_status(state="running", backend=self.name, ray_address=self.address, ray_job=ray_id,
                         submitted=now(), started=now(), pid=None, host=None)
        try:
            client.submit_job(entrypoint=f"python -m {ENTRY_POINT} {shlex.quote(str(job.folder))}",
                              submission_id=ray_id, runtime_env={"env_vars": env}, entrypoint_num_cpus=1,
                              entrypoint_num_gpus=gpus or None, metadata={"fer_job": job.id})
        except Exception as e:
            raise JobError(f"Ray at {self.address} refused the job: {str(e).splitlines()[0][:300]}") from None

    def cancel(self, job: Job, status: dict) -> str:
        job.request_stop()  # its process reads this within a heartbeat, once it runs
        if status.get("pid"):
            return "stopping"
        try:  # still waiting for resources on the cluster: Ray drops it
            self.client().stop_job(status["ray_job"])
        except (JobError, RuntimeError, KeyError) as e:
            job.write_status(state="cancelled", ended=now(), error=f"Ray could not be asked to stop it: {e}")
            return "cancelled"
        job.write_status(state="cancelled", ended=now())
        return "cancelled"

    def refresh(self, job: Job, status: dict) -> dict:
        """A job still waiting on the cluster (no pid yet) that Ray has ended never ran: failed,
        with Ray's message, and Ray's log copied into the job's log."""
        if status.get("state") != "running" or status.get("pid") or not status.get("ray_job"):
            return status
        try:
            client = self.client()
            info = client.get_job_info(status["ray_job"])
        except (JobError, RuntimeError) as e:
            return {**status, "message": f"Ray does not answer: {e}"}
        ray_state = str(getattr(info.status, "value", info.status))
        if ray_state not in TERMINAL or job.raw_status().get("pid"):  # it may have started meanwhile
            return {**status, "message": f"Ray: {ray_state.lower()}"}
        try:
            io.append_line(job.log_path, client.get_job_logs(status["ray_job"]).rstrip())
        except RuntimeError:
            pass
        error = f"Ray job {status['ray_job']} {ray_state.lower()} before FER Studio's process started"
        if info.message:
            error += f": {info.message.strip().splitlines()[-1][:300]}"
        return job.write_status(state="failed" if ray_state != "STOPPED" else "cancelled", ended=now(), error=error)

    def log_tail(self, job: Job, lines: int) -> str:
        text = tail(job.log_path, lines)
        status = job.raw_status()
        if text or not status.get("ray_job"):
            return text
        try:  # nothing in the folder yet: what Ray has (a job that cannot see the store says so there)
            return "\n".join(self.client().get_job_logs(status["ray_job"]).splitlines()[-lines:])
        except (JobError, RuntimeError):
            return ""
