"""How a training hears from whoever runs it: a small protocol, so that the trainer needs nothing
of the job system. The job harness (``fer.jobs.harness.JobHandle``) implements it for a training
run as a job; ``Unattended`` is a training run by hand (a test, a notebook): it never stops.
"""
from __future__ import annotations

from typing import Callable, Protocol, TypeVar

T = TypeVar("T")


class Control(Protocol):
    def progress(self, **fields) -> None:
        """How far the training is (``epoch``, ``progress`` within it, ``message``)."""

    def should_stop(self) -> bool:
        """Whether a stop was asked for (Cancel, SIGTERM): the trainer saves and stops after the batch."""

    def stoppable(self, work: Callable[[], T]) -> tuple[bool, T | None]:
        """Run ``work``, a stretch that cannot poll (a validation, the final evaluation); a stop
        request interrupts it at once. Returns (True, its result), or (False, None) when stopped."""


class Unattended:
    """A training nobody can stop: progress goes nowhere, every stretch runs to its end."""

    def progress(self, **fields) -> None:
        pass

    def should_stop(self) -> bool:
        return False

    def stoppable(self, work: Callable[[], T]) -> tuple[bool, T | None]:
        return True, work()
