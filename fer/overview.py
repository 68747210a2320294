"""What the store holds, read from small JSON files only (cheap enough for every page load)."""
from __future__ import annotations

import time
from pathlib import Path

from fer import store

# A job or run whose heartbeat is older than this is not running any more, whatever it says.
STALE_SECONDS = 120
ACTIVE = ("queued", "running")


def _state(folder: Path) -> dict:
    status = store.read_json(folder / "status.json", {}) or {}
    state = status.get("state", "unknown")
    if state == "running" and time.time() - float(status.get("heartbeat", 0) or 0) > STALE_SECONDS:
        state = "failed"  # killed without a word: a stale heartbeat
    return {"id": folder.name, "state": state, "kind": status.get("kind")}


def datasets() -> list[dict]:
    out = []
    root = store.datasets_dir()
    for name in sorted(p.name for p in root.iterdir()) if root.is_dir() else []:
        d = store.read_json(root / name / "dataset.json")
        if name.startswith(".") or d is None:
            continue
        out.append({
            "name": name,
            "images": d.get("rows", 0),
            **d.get("splits", {}),
            "sources": ", ".join(f"{k} ({v['format']})" for k, v in d.get("sources", {}).items()),
            "created": d.get("created", ""),
        })
    return out


def _folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


def runs() -> list[dict]:
    return [{**_state(p), **{k: v for k, v in (store.read_json(p / "run.json", {}) or {}).items()
                             if k in ("name", "dataset", "created")}} for p in _folders(store.runs_dir())]


def models() -> list[str]:
    return [p.name for p in _folders(store.models_dir()) if (p / "model.json").exists()]


def active_jobs() -> list[dict]:
    """Queued or running jobs and runs (stale ones excluded)."""
    found = [_state(p) for p in _folders(store.jobs_dir())] + runs()
    return [j for j in found if j["state"] in ACTIVE]
