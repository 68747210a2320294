"""Optuna studies: where they are kept, how they are made and read back.

A study lives in Optuna's storage: by default an SQLite file in the store (``studies/studies.db``:
it survives restarts, and a study is resumed by sweeping again under its name); the setting
``study_storage`` (``FER_STUDY_STORAGE``) takes any SQLAlchemy URL instead, e.g. a PostgreSQL
database that workers on several machines share. Every study maximises its objective with TPE and
prunes with a median pruner after two start-up trials; what it searches, on which config and for
which objective is kept in the study's user attributes, so a resumed study searches the same space.
"""
from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from fer import settings
from fer.store import NotFound, check_name, layout

OBJECTIVES = {"val_macro_f1": "macro_f1", "val_accuracy": "accuracy"}  # objective → validation figure
STARTUP_TRIALS = 2  # the median pruner waits for this many finished trials before it prunes


def optuna():
    """Optuna, quiet (its INFO line per trial goes through our own log instead)."""
    import optuna as _optuna

    _optuna.logging.set_verbosity(_optuna.logging.WARNING)
    return _optuna


def default_url() -> str:
    return f"sqlite:///{layout.studies_db()}"


def url() -> str:
    """The storage in force: the settings' SQLAlchemy URL, else SQLite in the store."""
    return settings.load().study_storage or default_url()


def shown_url() -> str:
    """The storage URL without its password, for pages and logs."""
    from sqlalchemy.engine import make_url

    return make_url(url()).render_as_string(hide_password=True)


def storage():
    """Optuna's RDB storage at ``url()``."""
    target, kwargs = url(), {}
    if target == default_url():
        layout.studies_db().parent.mkdir(parents=True, exist_ok=True)
    if target.startswith("sqlite:"):
        kwargs = {"connect_args": {"timeout": 60}}  # trials and their coordinator write at once: wait, don't fail
    try:
        return optuna().storages.RDBStorage(target, engine_kwargs=kwargs)
    except Exception as e:  # a URL SQLAlchemy cannot open: one line naming the setting
        raise ValueError(f"study_storage {shown_url()}: cannot open it ({type(e).__name__}: {e})") from None


def pruner():
    return optuna().pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS)


def names() -> list[str]:
    """The studies in the storage, newest first."""
    if url() == default_url() and not layout.studies_db().exists():
        return []  # nothing swept yet: do not create the file by reading
    summaries = optuna().get_all_study_summaries(storage(), include_best_trial=False)
    return [s.study_name for s in sorted(summaries, key=lambda s: s.datetime_start or datetime.min, reverse=True)]


def load(name: str):
    """The study ``name`` (with the pruner, so that trials can ask whether to stop)."""
    check_name(name, "study name")
    if name not in names():
        raise NotFound(f"no study named {name!r} in {shown_url()}")
    return optuna().load_study(study_name=name, storage=storage(), pruner=pruner())


def sampler(seed: int, trials_so_far: int):
    """TPE seeded by the sweep's seed and the trials the study holds already: the same sweep draws
    the same trials, and a resumed study draws on instead of drawing its first trials again (a
    sampler seeded alike in the new process repeated trial 0's parameters as trial 2)."""
    return optuna().samplers.TPESampler(seed=seed * 100_003 + trials_so_far)


def create(name: str, spec: dict, seed: int = 0):
    """The study ``name``, made with ``spec`` (search, config, objective) or, when it exists,
    loaded after checking that ``spec`` searches the same keys for the same objective."""
    check_name(name, "study name")
    o = optuna()
    exists = name in names()
    held = len(o.load_study(study_name=name, storage=storage()).trials) if exists else 0
    study = o.create_study(study_name=name, storage=storage(), direction="maximize", load_if_exists=True,
                           sampler=sampler(seed, held), pruner=pruner())
    if not exists:
        for k, v in spec.items():
            study.set_user_attr(k, v)
        return study
    old = study.user_attrs
    if old.get("objective") != spec["objective"] or _keys(old.get("search", [])) != _keys(spec["search"]):
        raise ValueError(f"study {name!r} exists and searches {', '.join(_keys(old.get('search', [])))} for "
                         f"{old.get('objective')}: resume it with the same --search keys and objective, "
                         "or choose another --name")
    return study


def _keys(search: list[str]) -> list[str]:
    return sorted(s.split("=", 1)[0].strip() for s in search)


def trial_of(study, number: int):
    """The live trial ``number`` of ``study``, in another process than the one that asked for it."""
    storage_ = storage()
    study_id = storage_.get_study_id_from_name(study.study_name)
    return optuna().trial.Trial(study, storage_.get_trial_id_from_study_id_trial_number(study_id, number))


def pruned_at(trial) -> int | None:
    """The epoch a pruned trial stopped at (its last reported step)."""
    if trial.state.name != "PRUNED" or not trial.intermediate_values:
        return None
    return max(trial.intermediate_values)


def trials_table(study) -> pd.DataFrame:
    """One row per trial: number, state, value, pruned at which epoch, its run, its parameters."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append({"trial": t.number, "state": t.state.name.lower(),
                     "value": t.value if t.value is not None and math.isfinite(t.value) else None,
                     "epochs reported": len(t.intermediate_values), "pruned at epoch": pruned_at(t),
                     "run": t.user_attrs.get("run"), "seconds": round(seconds, 1) if seconds is not None else None,
                     **{f"params.{k}": v for k, v in t.params.items()}})
    return pd.DataFrame(rows)


def best(study) -> dict | None:
    """The best finished trial: ``{"number", "value", "params", "run"}``, or None before any."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.value is not None]
    if not complete:
        return None
    t = max(complete, key=lambda t: t.value)
    return {"number": t.number, "value": t.value, "params": dict(t.params), "run": t.user_attrs.get("run")}


def counts(study) -> dict:
    """How many trials the study holds, by state (lower-case Optuna states)."""
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name.lower()] = out.get(t.state.name.lower(), 0) + 1
    return out
