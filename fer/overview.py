"""What the store holds, read from small JSON files only (cheap enough for every page load)."""
from __future__ import annotations

from pathlib import Path

from fer import jobs, store


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
    out = []
    for p in _folders(store.runs_dir()):
        meta = store.read_json(p / "run.json", {}) or {}
        out.append({"id": p.name, "name": meta.get("name"), "state": jobs.status(p)["state"],
                    "dataset": meta.get("dataset"), "created": meta.get("created")})
    return out


def models() -> list[str]:
    return [p.name for p in _folders(store.models_dir()) if (p / "model.json").exists()]


def active_jobs() -> list[dict]:
    """Queued or running jobs and runs (stale ones excluded)."""
    return [{k: j.get(k) for k in ("id", "kind", "state", "started")} for j in jobs.listing()
            if j["state"] in jobs.ACTIVE]


def default_model() -> dict | None:
    """Which model "default" means now, and what it is (None when there is none)."""
    from fer import models

    try:
        folder = models.resolve("default")
    except models.ModelNotFound:
        return None
    meta = models.read_meta(folder)
    test = (meta.get("metrics") or {}).get("test") or {}
    return {"folder": str(folder), "shipped": folder == models.SHIPPED, "architecture": meta.get("architecture"),
            "input": f"{meta.get('input_size')} px, {'grayscale' if meta.get('channels') == 1 else 'RGB'}",
            "dataset": (meta.get("data") or {}).get("dataset"), "test_accuracy": test.get("accuracy"),
            "test_macro_f1": test.get("macro_f1"), "card": str(folder / "card.md") if (folder / "card.md").exists() else None}
