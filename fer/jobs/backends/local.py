"""The local backend: each job is a process of this machine, in a new session (it outlives a page
reload or a Streamlit restart), its output in the job's log; cancel is a stop request in its folder
and SIGTERM to its group."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from fer.jobs.backends import ENTRY_POINT, job_env, tail
from fer.store import HOST, Job, now
from fer.store.jobs import process_facts


class LocalBackend:
    name = "local"

    def check(self) -> None:
        pass

    def launch(self, job: Job, spec: dict) -> None:
        env = {**os.environ, **job_env(job, spec)}
        env.pop("FER_JOB_LOG", None)  # its output goes to its log already
        job.clear_stop_request()
        with open(job.log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", ENTRY_POINT, str(job.folder)], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        # the child reaps itself when it ends: nobody waits for it here
        threading.Thread(target=proc.wait, daemon=True).start()
        job.write_status(state="running", backend=self.name, pid=proc.pid, **(process_facts(proc.pid) or {}),
                         host=HOST, started=now(), heartbeat=time.time())

    def cancel(self, job: Job, status: dict) -> str:
        """SIGTERM to the job's process group, only once its pid is known to be the job's own
        (start time and command line as recorded); otherwise nothing is signalled and the answer
        says why."""
        if status.get("host") not in (None, HOST):  # started here by a FER Studio on another machine
            job.request_stop()
            return "stopping"
        pid, why = job.own_process(status)
        if pid is None:
            return f"not signalled: {why}"
        job.request_stop()  # for a process still starting, which cannot stop cleanly yet (fer.worker)
        try:
            os.killpg(pid, signal.SIGTERM)
            os.killpg(pid, signal.SIGCONT)  # a stopped process wakes up to hear it
        except ProcessLookupError:
            pass
        return "stopping"

    def refresh(self, job: Job, status: dict) -> dict:
        return status

    def log_tail(self, job: Job, lines: int) -> str:
        return tail(job.log_path, lines)
