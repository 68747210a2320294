"""Faults a training survives, each made for real (SIGTERM, kill -9, SIGSTOP, a truncated file, a
read-only or full store) and checked by what the user gets afterwards."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from fer import jobs, models
from fer.store import Job, Run, RunError
from fer.store.jobs import process_facts
from fer import config as C
from fer.training import engine, trainer

from builders import REPO
from test_training import TINY, _wait, cli, tiny_dataset

# every random draw a step makes: dropout (torch), mixup (NumPy), augmentation (its generator),
# the balanced sampler; a warm-up so that the learning rate changes at every step
RANDOM = ["model.dropout=0.3", "mixup.alpha=0.4", "mixup.prob=0.5", "sampler.balanced=true", "ema.enabled=true",
          "ema.decay=0.9", "schedule.warmup_epochs=1", "augment.randaugment_n=2", "checkpoint.every_seconds=0"]
BATCH, OPTIMISE = engine._batch, engine._optimise  # before any test wraps them
COMPARED = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1", "lr")


class Recorder:
    """What every optimisation step took: its step, learning rates and sample indices. ``stop_at``
    sends this process SIGTERM (a real Cancel) once that many steps are done."""

    def __init__(self, monkeypatch, stop_at=None):
        self.steps, self.stop_at = [], stop_at
        batch, optimise = BATCH, OPTIMISE

        def recording_batch(s, data, b):
            self._idx = data.order[b * data.batch_size:(b + 1) * data.batch_size].tolist()
            return batch(s, data, b)

        def recording_optimise(s, x, target, step):
            out = optimise(s, x, target, step)
            self.steps.append((step, [g["lr"] for g in s.optimizer.param_groups], self._idx))
            if self.stop_at is not None and len(self.steps) == self.stop_at:
                os.kill(os.getpid(), signal.SIGTERM)
            return out

        monkeypatch.setattr(engine, "_batch", recording_batch)
        monkeypatch.setattr(engine, "_optimise", recording_optimise)


def _new_run(sets, name):
    cfg = C.resolve({}, [*TINY, *sets, f"name={name}"])
    trainer.prepare(cfg)
    return Run.create(cfg).folder


def _epochs(folder):
    return [{k: e[k] for k in COMPARED} for e in Run(folder).metrics() if e.get("kind") == "epoch"]


def test_a_run_stopped_inside_an_epoch_and_resumed_matches_an_uninterrupted_one(store, tmp_path, monkeypatch):
    tiny_dataset(tmp_path, per_class=14)  # 98 images, 5 batches of 16 to train an epoch
    sets = ["dataset=tiny", "epochs=2", "eval_splits=[]", *RANDOM]
    whole = Recorder(monkeypatch)
    a = _new_run(sets, "whole")
    assert jobs.train(a, log=lambda m: None)["state"] == "finished"
    per_epoch = len(whole.steps) // 2
    assert per_epoch >= 4

    log = []
    stopped = Recorder(monkeypatch, stop_at=per_epoch + 2)  # SIGTERM after the 2nd step of epoch 2
    b = _new_run(sets, "stopped")
    assert jobs.train(b, log=log.append)["state"] == "cancelled"
    ck = torch.load(b / "last.pt", weights_only=True)
    assert ck["position"]["batch"] == 2 and ck["state"]["epoch"] == 1  # saved inside the epoch
    resumed = Recorder(monkeypatch)
    assert jobs.train(b, log=log.append)["state"] == "finished"
    assert "resuming at epoch 2, batch 3" in log

    assert stopped.steps + resumed.steps == whole.steps  # same steps, learning rates and samples
    assert len({tuple(lr) for _, lr, _ in whole.steps}) >= len(whole.steps) - 1  # (warm-up, then cosine)
    assert _epochs(b) == _epochs(a)  # same figures, epoch by epoch
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _train_cli(store, *args, check=True):
    return cli("fer", "train", *args, store=store, check=check)


def test_a_kill_9_inside_the_first_epoch_loses_at_most_the_checkpoint_interval(store, tmp_path):
    tiny_dataset(tmp_path, per_class=60)
    sets = ["--set", "dataset=tiny", "--set", "epochs=1", "--set", "batch_size=8", "--set", "eval_splits=[]",
            "--set", "checkpoint.every_seconds=1"]
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "fer", "train", "--config", "smoke", *sets], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    folder = store / "runs" / proc.stdout.readline().split()[0]
    last = folder / "last.pt"
    _wait(lambda: last.exists())  # a checkpoint inside the first epoch, after about a second
    proc.kill()
    proc.wait()
    position = torch.load(last, weights_only=True)["position"]
    assert position is not None and position["batch"] >= 1 and not Run(folder).epochs().shape[0]
    _wait(lambda: jobs.status(folder)["state"] == "failed", timeout=10)
    p = _train_cli(store, "--resume", folder.name)
    assert f"resuming at epoch 1, batch {position['batch'] + 1}" in p.stderr
    # the same training uninterrupted, in a process of its own: the same figures
    whole = store / "runs" / _train_cli(store, "--config", "smoke", *sets).stdout.split()[0]
    assert len(_epochs(folder)) == 1 and _epochs(folder) == _epochs(whole)
    from safetensors.torch import load_file  # and the same weights, bit for bit

    a, b = load_file(str(folder / "model.safetensors")), load_file(str(whole / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_writer_per_run_a_stopped_process_keeps_its_run(store, tmp_path, monkeypatch):
    tiny_dataset(tmp_path, per_class=20)
    f = _new_run(["dataset=tiny", "epochs=3", "batch_size=8", "eval_splits=[]"], "hung")
    jobs.submit("train", {"run": f.name})
    _wait(lambda: any(m.get("kind") == "progress" for m in Run(f).metrics()))
    pid = jobs.status(f)["pid"]
    os.killpg(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        monkeypatch.setattr("fer.store.jobs.STALE_SECONDS", 2)  # (60 s by default)
        _wait(lambda: "not responding" in jobs.status(f).get("message", ""), timeout=30)
        print(f"a stopped job shown as not responding after {time.monotonic() - stopped:.1f} s (stale after 2 s)")
        s = jobs.status(f)
        assert s["state"] == "running" and f"process {pid} still holds" in s["message"]
        with pytest.raises(RunError, match="running already"):
            jobs.resume_run(f.name)
        with pytest.raises(ValueError, match=f"still being written by process {pid}"):
            jobs.submit("train", {"run": f.name})
        p = _train_cli(store, "--resume", f.name, check=False)
        assert p.returncode == 2 and f"being written by process {pid}" in p.stderr and "Traceback" not in p.stderr
        env = {**os.environ, "FER_ARTIFACTS": str(store)}
        p = subprocess.run([sys.executable, "-m", "fer.worker", str(f)], env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 2 and "refused" in p.stderr and jobs.status(f)["pid"] == pid
    finally:
        os.killpg(pid, signal.SIGCONT)
    _wait(lambda: jobs.status(f)["state"] == "finished", timeout=300)
    assert list(Run(f).epochs()["epoch"]) == [1, 2, 3]  # one writer: each epoch once
    assert (f / "train.log").read_text().count("epoch 1/3") == 1


def test_a_stale_heartbeat_is_failed_unless_a_live_process_holds_the_job(store):
    folder = store / "jobs" / "j"
    folder.mkdir(parents=True)
    job = Job(folder)
    job.write_status(state="running", pid=os.getpid(), **process_facts(os.getpid()), heartbeat=time.time())
    assert job.status()["state"] == "running" and "message" not in job.status()
    job.write_status(heartbeat=time.time() - 120)  # alive pid (this one, reused say), silent for 2 minutes
    assert job.status()["state"] == "failed" and "no heartbeat for 120 s" in job.status()["error"]
    hold = ("import sys, time; from fer.store.locks import WriterLock; "
            "lock = WriterLock(sys.argv[1]).acquire('job j'); print('held', flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        s = job.status()
        assert s["state"] == "running" and f"process {holder.pid} still holds the job" in s["message"]
        assert job.writer == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert job.status()["state"] == "failed" and job.writer is None  # the kernel let the lock go
    job.write_status(heartbeat=time.time(), pid=holder.pid, **process_facts(os.getpid()))  # its process is gone
    assert job.status()["state"] == "failed" and "stopped without a word" in job.status()["error"]
    job.request_stop()  # Cancel asked it to stop: a process that died starting up was cancelled, not failed
    assert job.status()["state"] == "cancelled" and "error" not in job.status()


def test_cancel_in_the_first_epoch_leaves_weights_on_predict_and_sigterm_stops_the_final_evaluation(
        store, tmp_path, monkeypatch):
    from fer.predict import Predictor
    from fer.ui.model_picker import choices

    tiny_dataset(tmp_path)
    f = _new_run(["dataset=tiny", "epochs=1", "eval_splits=[val, test]"], "early")
    Recorder(monkeypatch, stop_at=2)
    assert jobs.train(f, log=lambda m: None)["state"] == "cancelled" and jobs.status(f)["state"] == "cancelled"
    assert Run(f).epochs().empty and models.load(f)  # no epoch done, yet weights that load
    assert [label for label, v in choices().items() if v.name == f.name] == [f"run early ({f.name}, cancelled)"]
    assert Predictor.load(f.name).classify([np.zeros((48, 48), np.uint8)]).shape == (1, 7)

    # resumed, it trains on; a SIGTERM during the final evaluation stops it there
    Recorder(monkeypatch)
    evaluate = trainer.write_evaluation
    timing = {}

    def cancelled_meanwhile(*args, **kwargs):
        timing["signal"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer, "write_evaluation", cancelled_meanwhile)
    log = []
    assert jobs.train(f, log=log.append)["state"] == "cancelled"
    print(f"stopped {time.monotonic() - timing['signal']:.2f} s after SIGTERM in the final evaluation")
    assert "resuming at epoch 1, batch 3" in log and any("SIGTERM during the final evaluation" in m for m in log)
    assert not (f / "eval" / "tiny" / "val" / "summary.json").exists() and jobs.status(f)["state"] == "cancelled"
    assert models.read_meta(f)["metrics"]["best_epoch"] == 1  # the validated weights replaced the early ones
    monkeypatch.setattr(trainer, "write_evaluation", evaluate)
    assert jobs.train(f, log=lambda m: None)["state"] == "finished"  # Resume evaluates, trains nothing again
    assert (f / "eval" / "tiny" / "test" / "summary.json").exists() and list(Run(f).epochs()["epoch"]) == [1]


def _wait_done(folder, timeout=300):
    _wait(lambda: jobs.status(folder)["state"] not in jobs.ACTIVE, timeout=timeout)
    return jobs.status(folder)


def test_a_damaged_checkpoint_is_reported_and_resume_falls_back_or_starts_fresh(store, tmp_path, monkeypatch):
    import shutil

    from fer.data import arrays

    tiny_dataset(tmp_path)
    per_epoch = engine.batches_per_epoch(len(arrays.load("tiny", 48, 1)["train"]), 16)
    x = _new_run(["dataset=tiny", "epochs=2", "eval_splits=[]"], "damaged")
    Recorder(monkeypatch, stop_at=per_epoch + 1)  # cancelled in epoch 2: last.pt inside it, previous.pt at its start
    assert jobs.train(x, log=lambda m: None)["state"] == "cancelled"
    y = store / "runs" / (x.name[:-4] + "beef")  # a second run in the same state
    shutil.copytree(x, y)
    (y / "run.json").write_text(json.dumps({**json.loads((y / "run.json").read_text()), "id": y.name}))

    last = (x / "last.pt").read_bytes()
    (x / "last.pt").write_bytes(last[: len(last) // 2])  # truncated (a full disk, a crash mid-copy)
    p = _train_cli(store, "--resume", x.name)
    assert "warning: last.pt cannot be used (" in p.stderr and "resuming from previous.pt" in p.stderr
    assert "resuming at epoch 2\n" in p.stderr and "Traceback" not in p.stderr
    assert list(Run(x).epochs()["epoch"]) == [1, 2] and jobs.status(x)["state"] == "finished"

    (y / "last.pt").write_bytes(last[:1000])
    (y / "previous.pt").write_bytes(os.urandom(5000))
    p = _train_cli(store, "--resume", y.name, check=False)
    said = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert said.startswith(f"error: run {y.name} cannot resume: last.pt cannot be used (") and \
        "previous.pt cannot be used (" in said and f"python -m fer train --resume {y.name} --fresh" in said
    jobs.resume_run(y.name)  # the same from the Train page: the job fails with that line
    s = _wait_done(y)
    assert s["state"] == "failed" and "cannot resume" in s["error"] and "Traceback" not in (y / "train.log").read_text()
    jobs.resume_run(y.name, fresh=True)  # Start again
    assert _wait_done(y)["state"] == "finished" and list(Run(y).epochs()["epoch"]) == [1, 2]


def test_torn_and_damaged_metrics_lines_lose_nothing_and_crash_no_page(store, tmp_path):
    from streamlit.testing.v1 import AppTest

    tiny_dataset(tmp_path)
    run = Run(_new_run(["dataset=tiny", "epochs=3"], "torn"))
    epoch = {"kind": "epoch", "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5,
             "val_macro_f1": 0.4, "lr": 0.001, "epoch_seconds": 1.0, "images_per_s": 100.0, "head_only": False}
    run.append_metrics({**epoch, "epoch": 1})
    with open(run.metrics_path, "ab") as f:  # a writer killed mid-line, then damage of every kind
        f.write(b'{"kind": "epoch", "epo')
    run.append_metrics({**epoch, "epoch": 2})  # a resume appends: on a line of its own
    with open(run.metrics_path, "ab") as f:
        f.write(b'3\n[1, 2]\n"epoch"\nnull\n\xff\xfe{"kind": "epoch"}\n')
    run.append_metrics({**epoch, "epoch": 3})
    assert [m["epoch"] for m in run.metrics()] == [1, 2, 3]
    run.job.write_status(state="failed", error="killed")
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=60).run()
    assert not at.exception and "3 of 3 epochs done" in at.get("progress")[0].proto.text
    at = AppTest.from_file(str(REPO / "pages" / "4_Runs.py"), default_timeout=60).run()
    assert not at.exception and at.dataframe[0].value["epochs"].tolist() == ["3/3"]


def _mount(*args) -> bool:
    return os.geteuid() == 0 and subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def read_only():
    """``read_only(path)`` makes a folder read-only for every process: a read-only bind mount as
    root (whom permissions do not stop), permissions otherwise. Undone at teardown."""
    undo = []

    def make(path):
        if _mount("--bind", str(path), str(path)):
            undo.append(lambda: subprocess.run(["umount", str(path)], check=True))
            assert _mount("-o", "remount,ro,bind", str(path))
        elif os.geteuid() != 0:
            subprocess.run(["chmod", "-R", "a-w", str(path)], check=True)
            undo.append(lambda: subprocess.run(["chmod", "-R", "u+w", str(path)], check=True))
        else:
            pytest.skip("root without the right to mount: nothing can make a folder read-only to root here")

    yield make
    for u in reversed(undo):
        u()


def test_a_read_only_store_is_one_clear_line(store, tmp_path, read_only):
    from streamlit.testing.v1 import AppTest

    tiny_dataset(tmp_path)
    read_only(store)
    p = _train_cli(store, "--config", "smoke", "--set", "dataset=tiny", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().startswith("error: cannot write to the store (") and str(store) in p.stderr
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=60).run()
    at.button[0].click().run()  # Train
    assert not at.exception and at.error[0].value.startswith("Not started: cannot write to the store (")


@pytest.fixture
def small_store(store, tmp_path):
    """A store on a file system with little room: ``grow()`` gives it more. A tmpfs of 8 MB where we
    may mount (a checkpoint of the tiny model is 15 MB: it does not fit); elsewhere each training
    process may write no file over 6 MB (RLIMIT_FSIZE)."""
    store.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(store))
    limit = {}
    if not mounted:
        import resource

        limit["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (6 << 20, 6 << 20))

    def grow():
        if mounted:
            assert _mount("-o", "remount,size=64m", str(store))
        limit.clear()

    yield limit, grow
    if mounted:
        subprocess.run(["umount", str(store)], check=True)


def test_a_full_store_stops_a_training_with_one_clear_line_and_it_resumes(store, tmp_path, small_store):
    limit, grow = small_store
    tiny_dataset(tmp_path)
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer", "train", "--config", "smoke", "--set", "dataset=tiny"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=300, **limit)
    folder = store / "runs" / p.stdout.split()[0]
    said = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert said.startswith("error: cannot write to the store (") and "last.pt" in said, said
    assert jobs.status(folder)["state"] == "failed" and jobs.status(folder)["error"] == said[len("error: "):]
    assert not [f for f in os.listdir(folder) if f.endswith(".tmp")]  # no half-written file left behind
    grow()
    _train_cli(store, "--resume", folder.name)
    assert jobs.status(folder)["state"] == "finished" and list(Run(folder).epochs()["epoch"]) == [1, 2]


# -- broken model folders ---------------------------------------------------------------------

def _broken_models(root):
    """A good model folder, and one broken each way a folder gets broken: name → (folder, the words
    its message must have)."""
    import shutil

    import builders as b
    from fer.labels import CLASSES

    good = b.untrained_model(root / "good")
    weights = (good / "model.safetensors").read_bytes()
    meta = json.loads((good / "model.json").read_text())
    cases = {
        "truncated weights": ({"weights": weights[: len(weights) // 2]}, "model.safetensors is damaged"),
        "random bytes as weights": ({"weights": os.urandom(len(weights))}, "model.safetensors is damaged"),
        "another architecture": ({"meta": {**meta, "architecture": "resnet18"}}, "does not fit the resnet18"),
        "an unknown architecture": ({"meta": {**meta, "architecture": "resnet_9000"}}, "unknown backbone"),
        "five classes": ({"meta": {**meta, "classes": list(CLASSES[:5])}}, "are not the seven"),
        "three channels": ({"meta": {**meta, "channels": 3, "normalisation": {"mean": [0.5] * 3, "std": [0.2] * 3}}},
                           "does not fit the fer_cnn with 3 channel(s)"),
        "model.json without input_size": ({"meta": {k: v for k, v in meta.items() if k != "input_size"}},
                                          "lacks 'input_size'"),
        "model.json torn": ({"meta_text": '{"architecture": "fer_'}, "model.json is not valid JSON"),
    }
    out = {}
    for name, (change, words) in cases.items():
        folder = root / name.replace(" ", "-").replace(".", "_")
        shutil.copytree(good, folder)
        if "weights" in change:
            (folder / "model.safetensors").write_bytes(change["weights"])
        if "meta" in change:
            (folder / "model.json").write_text(json.dumps(change["meta"]))
        if "meta_text" in change:
            (folder / "model.json").write_text(change["meta_text"])
        out[name] = (folder, words)
    return good, out


def _as_run(folder, name):
    """A finished run of the store holding ``folder``'s model files (the pages take ids only)."""
    import shutil

    run = Run.create(C.resolve({}, ["dataset=tiny", f"name={name}"]))
    for f in ("model.safetensors", "model.json"):
        shutil.copy(folder / f, run.folder / f)
    run.job.write_status(state="finished")
    return run.id


def test_broken_model_folders_give_one_clear_line_and_exit_code_2(store, tmp_path, capsys):
    from PIL import Image

    from fer.cli import main

    _, broken = _broken_models(tmp_path)
    image = tmp_path / "face.png"
    Image.new("RGB", (64, 64), (120, 120, 120)).save(image)
    for name, (folder, words) in broken.items():
        capsys.readouterr()
        assert main(["predict", str(image), "--model", str(folder), "--whole-image", "--quiet"]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: model folder {folder} cannot be loaded: ") and words in err, (name, err)
        assert len(err.splitlines()) == 1, (name, err)
    p = cli("fer", "predict", str(image), "--model", str(broken["truncated weights"][0]), store=store, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "model.safetensors is damaged" in p.stderr


def test_pages_stay_usable_with_a_broken_model_and_a_broken_default_falls_back(store, tmp_path):
    from streamlit.testing.v1 import AppTest

    from fer.store import promote

    tiny_dataset(tmp_path)
    good, broken = _broken_models(tmp_path)
    ids = {name: _as_run(folder, name) for name, (folder, _) in broken.items()}
    pages = {p: str(REPO / "pages" / f"{p}.py") for p in ("8_Predict", "7_Explain", "9_Live")}
    for name, run_id in ids.items():
        for page in (["8_Predict", "7_Explain", "9_Live"] if name in ("truncated weights", "five classes")
                     else ["8_Predict"]):
            at = AppTest.from_file(pages[page], default_timeout=120)
            at.query_params["model"] = run_id
            at.run()
            assert not at.exception, (page, name, at.exception)
            assert at.error and at.error[0].value.startswith("This model cannot be used: model folder "), (page, name)
            assert broken[name][1] in at.error[0].value and at.sidebar.selectbox, (page, name)

    # a broken current version of `default`: the shipped model answers, with a warning that says so
    promote(_as_run(good, "good"), "default")
    weights = store / "models" / "default" / "versions" / "1" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    at = AppTest.from_file(pages["8_Predict"], default_timeout=120).run()
    assert not at.exception and not at.error
    assert any(w.value.startswith("the store's default model (default@1) cannot be used, so the model shipped with "
                                  "FER Studio answers instead") for w in at.warning)
    assert "default@shipped" in at.caption[0].value
    from PIL import Image

    image = tmp_path / "face.png"
    Image.new("RGB", (64, 64), (120, 120, 120)).save(image)
    p = cli("fer", "predict", str(image), "--whole-image", "--quiet", store=store)
    assert "warning: the store's default model (default@1) cannot be used" in p.stderr and p.stdout.strip()
