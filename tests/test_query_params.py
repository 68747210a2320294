"""Every query parameter a page reads, given hostile values (``..``, absolute paths, links out of
the store, over-long and odd names), through AppTest: a clear warning, the page's default shown,
never an exception, never anything outside the store.

The tables below are the whole specification: a page that reads a new parameter, or a parameter
that changes form (``?path=`` becoming a manifest id, models named ``name@version``), is one edit
of ``READS``, ``VALID`` or ``HOSTILE``.
"""
import shutil

import pytest

from builders import app_page

EVAL = "tiny/test"

# parameter → (page, the other parameters the page needs before it reads this one)
READS = {
    "dataset": [("1_Dataset", {}), ("2_Quality", {})],
    "check": [("2_Quality", {})],
    "run": [("4_Runs", {}), ("5_Evaluate", {}), ("6_Errors", {}), ("7_Explain", {})],  # a model, as older links say
    "eval": [("5_Evaluate", {"run": "RUN"}), ("6_Errors", {"run": "RUN"}), ("7_Explain", {"run": "RUN"})],
    "true": [("6_Errors", {"run": "RUN", "eval": EVAL}), ("7_Explain", {"run": "RUN", "eval": EVAL})],
    "pred": [("6_Errors", {"run": "RUN", "eval": EVAL}), ("7_Explain", {"run": "RUN", "eval": EVAL})],
    "image": [("7_Explain", {"model": "RUN", "eval": EVAL})],
    "model": [("5_Evaluate", {}), ("6_Errors", {}), ("7_Explain", {}), ("8_Predict", {})],
    "view": [("4_Runs", {})],
    "study": [("4_Runs", {})],
}

# a value each parameter accepts in the seeded store (RUN and IMAGE filled in by the fixture)
VALID = {"dataset": "tiny", "check": "too dark", "run": "RUN", "eval": EVAL, "true": "happy", "pred": "sad",
         "image": "IMAGE", "model": "RUN", "view": "Models", "study": "seeded-study"}

# values that must name nothing; STORE is replaced by the seeded store's absolute path
HOSTILE = {
    "dot-dot": "..",
    "climbing": "../../../../etc/passwd",
    "climbing from a name": "tiny/../../runs",
    "absolute": "/etc/passwd",
    "absolute into the store": "STORE/datasets/tiny",
    "url-encoded climb": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "over-long": "x" * 10_000,
    "control characters": "a\x00b\nc\rd\x1b[31m",
    "markdown link": "[sign in again](http://evil.example/)",
    "html": "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "unicode": "ñ😀\u202egnp.exe",
    "windows path": "C:\\Windows\\system32",
}

CASES = [(param, page, ctx) for param, reads in READS.items() for page, ctx in reads]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A store with a dataset ``tiny`` and a finished run evaluated on its val and test splits."""
    import pandas as pd

    from fer.store import Run, image_id_of
    from fer import config as C
    from fer import jobs
    from test_training import tiny_dataset

    tmp = tmp_path_factory.mktemp("params")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_ARTIFACTS", str(tmp / "store"))
        tiny_dataset(tmp)
        run = Run.create(C.resolve({}, ["dataset=tiny", "epochs=1", "batch_size=16", "schedule.warmup_epochs=0",
                                        "eval_splits=[val, test]", "name=seeded"])).folder
        jobs.train(run, log=lambda m: None)
        from fer.sweeps import studies  # a study whose one trial is the seeded run

        study = studies.create("seeded-study", {"search": ["model.dropout=uniform:0:0.5"], "objective": "val_macro_f1"})
        trial = study.ask()
        trial.suggest_float("model.dropout", 0, 0.5)
        trial.set_user_attr("run", run.name)
        study.tell(trial, 0.5)
        path = pd.read_parquet(run / "eval" / "tiny" / "test" / "predictions.parquet")["path"].iloc[0]
        yield {"store": tmp / "store", "RUN": run.name, "IMAGE": image_id_of(path), "tmp": tmp}


def _fill(value: str, seeded) -> str:
    return {"RUN": seeded["RUN"], "IMAGE": seeded["IMAGE"]}.get(value, value.replace("STORE", str(seeded["store"])))


def _open(page, params, seeded):
    return app_page(page, {k: _fill(v, seeded) for k, v in params.items()}).run()


def _warnings_about(at, param):
    return [w.value for w in at.warning if w.value.startswith(f"?{param}=")]


@pytest.mark.parametrize("param,page,ctx", CASES, ids=[f"{p}-{pg}" for p, pg, _ in CASES])
def test_a_valid_value_is_taken_without_a_warning(seeded, param, page, ctx):
    at = _open(page, {**ctx, param: VALID[param]}, seeded)
    assert not at.exception, at.exception
    assert not _warnings_about(at, param)
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("param,page,ctx", CASES, ids=[f"{p}-{pg}" for p, pg, _ in CASES])
def test_a_hostile_value_is_refused_with_a_warning(seeded, param, page, ctx, kind):
    at = _open(page, {**ctx, param: HOSTILE[kind]}, seeded)
    assert not at.exception, at.exception
    said = _warnings_about(at, param)
    assert len(said) == 1 and ": no " in said[0], [w.value for w in at.warning]
    assert len(said[0]) < 250  # an over-long value is cut, not repeated whole
    assert said[0].count("`") == 2  # the value is shown as code: no link, image or HTML rendered from it
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("param,page,kind", [("dataset", "1_Dataset", "datasets"), ("dataset", "2_Quality", "datasets"),
                                             ("run", "4_Runs", "runs"), ("model", "8_Predict", "runs")])
def test_a_store_entry_linked_out_of_the_store_is_refused(seeded, param, page, kind):
    """A copy of a dataset or run outside the store, linked into it as ``linked``."""
    outside = seeded["tmp"] / "outside" / kind
    link = seeded["store"] / kind / "linked"
    shutil.copytree(seeded["store"] / kind / ("tiny" if kind == "datasets" else seeded["RUN"]), outside)
    link.symlink_to(outside, target_is_directory=True)
    try:
        at = _open(page, {param: "linked"}, seeded)
    finally:
        link.unlink()
        shutil.rmtree(outside)
    assert not at.exception
    assert _warnings_about(at, param)
