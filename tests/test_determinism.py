"""Same seed, same figures, whatever the load and however often a training checkpoints: a sweep
run beside two busy loops gives the JSON lines of the same sweep run alone (``test_sweeps``'s
``swept``); checkpoints inside every epoch change neither a figure nor a weight; a resumed study
draws new trials instead of its first ones again."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from fer import jobs
from fer.store import Run
from fer.training import trainer

from test_faults import COMPARED, RANDOM, _new_run
from test_sweeps import SEARCH, swept  # noqa: F401  (the sweep run alone, a module fixture)
from test_training import cli, tiny_dataset

COMPARED_KEYS = ("best_value", "best_params", "trials", "complete", "pruned", "failed", "state")


def hogs(n=2):
    """``n`` busy loops at normal priority, as `yes > /dev/null &` would be."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


@pytest.fixture(scope="module")
def swept_busy(tmp_path_factory):
    """The ``swept`` sweep (2 trials, then 1 more) again, in a store of its own, beside two busy loops."""
    from test_training import tiny_dataset as make

    tmp = tmp_path_factory.mktemp("busy")
    root = tmp / "store"
    busy = hogs()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FER_ARTIFACTS", str(root))
            mp.setenv("FER_MAX_JOBS", "1")
            make(tmp)
            args = ["fer", "sweep", "--config", "smoke", "--set", "dataset=tiny", "--set", "epochs=1", *SEARCH,
                    "--parallel", "1", "--name", "s1", "--json"]
            first = cli(*args, "--trials", "2", store=root, timeout=900)
            again = cli(*args, "--trials", "1", store=root, timeout=900)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    return {"first": first, "again": again}


def _figures(p) -> dict:
    line = json.loads(p.stdout)
    return {k: line[k] for k in COMPARED_KEYS}


def test_a_sweep_beside_two_busy_loops_gives_what_it_gives_alone(swept, swept_busy):  # noqa: F811
    assert _figures(swept_busy["first"]) == _figures(swept["first"])
    assert _figures(swept_busy["again"]) == _figures(swept["again"])


def test_a_resumed_study_draws_new_trials(swept, monkeypatch):  # noqa: F811
    from fer.sweeps import studies

    monkeypatch.setenv("FER_ARTIFACTS", str(swept["store"]))
    params = [t.params for t in studies.load("s1").trials][:3]  # (test_sweeps adds a pruned trial of its own)
    assert len(params) == 3 and params[2] != params[0] and params[2] != params[1]  # trial 2 was trial 0 again


def test_checkpoints_inside_every_epoch_change_no_figure_and_no_weight(store, tmp_path, monkeypatch):
    tiny_dataset(tmp_path, per_class=14)
    sets = ["dataset=tiny", "epochs=2", "eval_splits=[]", *[s for s in RANDOM if not s.startswith("checkpoint.")]]
    saved = []
    save = trainer._save_checkpoint

    def counting(t, position):
        saved.append(position is not None)
        return save(t, position)

    monkeypatch.setattr(trainer, "_save_checkpoint", counting)
    plain = _new_run([*sets, "checkpoint.every_seconds=0"], "epoch ends only")
    assert jobs.train(plain, log=lambda m: None)["state"] == "finished"
    assert not any(saved)
    often = _new_run([*sets, "checkpoint.every_seconds=0.001"], "after every batch")
    assert jobs.train(often, log=lambda m: None)["state"] == "finished"
    assert sum(saved) >= 6  # inside the epochs, not only at their ends

    def epochs(folder):
        return [{k: e[k] for k in COMPARED} for e in Run(folder).metrics() if e.get("kind") == "epoch"]

    assert epochs(often) == epochs(plain)
    a, b = load_file(str(plain / "model.safetensors")), load_file(str(often / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
