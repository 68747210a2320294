"""What the store holds, read from small JSON files only (cheap enough for every page load)."""
from __future__ import annotations

from fer.store import ACTIVE, Dataset, Job, Model, ModelNotFound, Run, layout


def datasets() -> list[dict]:
    out = []
    for ds in Dataset.list():
        d = ds.info()
        out.append({
            "name": ds.name,
            "images": d.get("rows", 0),
            **d.get("splits", {}),
            "sources": ", ".join(f"{k} ({v['format']})" for k, v in d.get("sources", {}).items()),
            "created": d.get("created", ""),
        })
    return out


def runs() -> list[dict]:
    return [{"id": r.id, "name": r.name, "state": r.state, "dataset": r.dataset, "created": r.meta().get("created")}
            for r in Run.list()]


def models() -> list[str]:
    """Every named model: ``default`` (the shipped model until a run is promoted onto it) and each
    name of the store."""
    return [m.name for m in Model.list()]


def active_jobs() -> list[dict]:
    """Queued or running jobs and runs (stale ones excluded)."""
    out = []
    for job in Job.list():
        s = job.status()
        if s["state"] in ACTIVE:
            out.append({"id": job.id, "kind": job.kind, "state": s["state"], "started": s.get("started")})
    return out


def default_model() -> dict | None:
    """Which model "default" means now, and what it is (None when there is none)."""
    try:
        v = Model.open("default").current()
    except ModelNotFound:
        return None
    meta = v.meta()
    test = (meta.get("metrics") or {}).get("test") or {}
    card = v.folder / layout.CARD
    return {"folder": str(v.folder), "shipped": v.kind == "shipped", "version": v.version,
            "architecture": meta.get("architecture"),
            "input": f"{meta.get('input_size')} px, {'grayscale' if meta.get('channels') == 1 else 'RGB'}",
            "dataset": (meta.get("data") or {}).get("dataset"), "test_accuracy": test.get("accuracy"),
            "test_macro_f1": test.get("macro_f1"), "card": str(card) if card.exists() else None}
