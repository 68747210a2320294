"""A video analysis (the Predict page): the upload kept in a new job's folder and analysed as a job."""
from __future__ import annotations

from pathlib import Path

from fer.actions.core import Entry, action
from fer.jobs import launch


@action("video.start", "analyse videos", lambda filename, data, model, *a, **k: f"video {Path(filename).name} with {model}")
def start(entry: Entry, filename: str, data: bytes, model: str, every: int = 5, detector: str | None = None) -> Path:
    folder = launch.video(filename, data, model, every, detector)
    entry.detail = {"job": folder.name, "video": Path(filename).name, "model": model, "bytes": len(data),
                    "every": every}
    return folder
