"""The Predict page's video analyses: the jobs that ran (newest first) and what each wrote, read
once per version of the job's files."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer import jobs, video
from fer.store import Job, NotFound, io, layout


def analyses() -> dict[str, str]:
    """job id → a label (the video's name, when, how it ended), newest first."""
    out = {}
    for j in reversed(jobs.listing()):
        if j["kind"] == "video":
            name = (Job(Path(j["folder"])).spec().get("args") or {}).get("name", "video")
            out[j["id"]] = f"{name} · {j['created'][:16].replace('T', ' ')} · {j['state']}"
    return out


@st.cache_data(show_spinner=False, max_entries=4)
def _results(folder: str, stamp: tuple) -> dict | None:
    found = video.results(folder)
    if found is not None:
        found["annotated_bytes"] = found["annotated"].read_bytes() if found["annotated"].exists() else None
    return found


def results(job_id: str) -> dict | None:
    """``fer.video.results`` of a video job, with the annotated MP4's bytes (None before it ends)."""
    try:
        job = Job.open(job_id)
    except (NotFound, ValueError):
        return None
    folder = job.folder
    stamp = io.file_version(*(folder / n for n in (layout.STATUS, layout.VIDEO_INFO, layout.VIDEO_TIMELINE,
                                                    layout.VIDEO_ANNOTATED)))
    return _results(str(folder), stamp)
