"""``python -m fer.worker JOB_FOLDER``: the process of one job of the store, the only command the
queue starts (here or on a Ray cluster). It registers every kind of job, as every FER Studio
program does when it starts, then runs the job (``fer.jobs.run``)."""
import signal
import sys

if __name__ == "__main__":
    # A cancel may come while this process still imports (seconds on a busy machine): that is no
    # death without a word. Cancel also leaves a stop request in the job's folder, which the
    # harness's heartbeat turns into SIGTERM again once the job can stop cleanly.
    signal.signal(signal.SIGTERM, lambda *_: None)
    from fer.startup import register_job_kinds

    register_job_kinds()
    from fer.jobs.run import main

    sys.exit(main())
