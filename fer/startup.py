"""What every FER Studio program does first (the command line, the app's pages, a job's process):
register every kind of job. The built-in kinds register with ``fer.jobs``; a package above it
that adds kinds (``fer.sweeps``: the sweep, and the epoch listener of its trials) registers them
here, at the top, so that no package imports one above it to find them.
"""
from __future__ import annotations


def register_job_kinds() -> None:
    from fer.jobs import kinds, registry  # noqa: F401  (the built-in kinds)
    from fer.sweeps import kinds as sweep_kinds  # noqa: F401  (the sweep)

    registry.all_registered()
