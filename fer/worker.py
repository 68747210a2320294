"""``python -m fer.worker JOB_FOLDER``: the process of one job of the store, the only command the
queue starts (here or on a Ray cluster). It registers every kind of job, as every FER Studio
program does when it starts, then runs the job (``fer.jobs.run``)."""
import sys

from fer.startup import register_job_kinds

if __name__ == "__main__":
    register_job_kinds()
    from fer.jobs.run import main

    sys.exit(main())
