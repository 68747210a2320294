"""Shared objects stay read-only and hostile files are bounded: Grad-CAM beside a classification on
one shared model, planted pids and addresses in job files, decision files that are links, model
files that claim to be huge (or nest without end), names with a final line break, and an import
box that tells nobody which paths exist."""
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest
from safetensors.torch import save as save_weights

from fer import explain, jobs
from fer.data import exclusions
from fer.store import Job, layout

import builders as b
from builders import REPO, app_page
from test_model_versions import fake_run, tree


# -- 1. shared objects are read-only --------------------------------------------------------------
def test_grad_cam_beside_a_classification_on_one_shared_model_from_two_threads():
    """Explain's maps come from its own copy: Predict's batches of another size on the same loaded
    model (as st.cache_resource shares it between sessions) neither break nor change them."""
    from fer.predict import Predictor

    p = Predictor.load("default")
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (48, 48), dtype=np.uint8) for _ in range(6)]
    alone = [explain.explain(p.model, p.meta, c, "GradCAM", target=k % 7)[0] for k, c in enumerate(crops)]
    batch = [rng.integers(0, 255, (48, 48), dtype=np.uint8) for _ in range(4)]
    expected = p.classify(batch)
    errors, maps, done = [], [], threading.Event()

    def explaining():
        try:
            for r in range(36):
                k = r % len(crops)
                maps.append((k, explain.explain(p.model, p.meta, crops[k], "GradCAM", target=k % 7)[0]))
        except Exception as e:  # noqa: BLE001 - every error is what the test counts
            errors.append(e)
        finally:
            done.set()

    def classifying():
        rounds = 0
        try:
            while not done.is_set() or rounds < 30:
                assert np.allclose(p.classify(batch), expected, atol=1e-6)
                rounds += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=explaining), threading.Thread(target=classifying)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(maps) == 36 and all(np.allclose(heat, alone[k], atol=1e-6) for k, heat in maps)
    hooks = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in p.model.modules())
    assert hooks == 0 and not any(m.training for m in p.model.modules())  # the shared model untouched


# -- 2. store files are not trusted ---------------------------------------------------------------
def _running_job(store, **status):
    folder = store / "jobs" / "planted"
    folder.mkdir(parents=True)
    job = Job(folder)
    job.write_spec({"kind": "evaluate", "args": {"model": "default", "dataset": "d"}, "created": "2026-12-06"})
    job.write_status(state="running", heartbeat=time.time(), **status)
    return job


def test_a_planted_pid_of_another_process_is_not_signalled(store):
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)  # another process group of this user
    try:
        job = _running_job(store, pid=sleeper.pid, backend="local")
        assert job.status()["state"] == "failed"  # not its process: the job's own is gone
        assert jobs.cancel(job.folder) == "failed"  # nothing to stop, nothing signalled
        assert job.own_process() == (None, f"process {sleeper.pid} is not this job's (its command line does not "
                                           "name the job's folder)")
        from fer.jobs.backends.local import LocalBackend

        assert LocalBackend().cancel(job, job.raw_status()).startswith("not signalled: process")
        time.sleep(0.2)
        assert sleeper.poll() is None  # alive: nothing was sent to it
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("pid", [-1, 0, "1", 1.5, None])
def test_a_pid_that_is_not_a_process_id_is_refused_with_a_message(store, pid):
    from fer.jobs.backends.local import LocalBackend

    job = _running_job(store, pid=pid, backend="local")
    assert LocalBackend().cancel(job, job.raw_status()) == f"not signalled: pid {pid!r} is not a process id"
    assert job.status()["state"] == "failed"


def test_a_job_files_ray_address_is_never_contacted(store, monkeypatch):
    from fer.jobs.backends import ray_jobs

    contacted = []

    class Recorder:
        def __init__(self, address, headers=None):
            contacted.append(address)

        def get_job_info(self, ray_job):
            raise RuntimeError("no such job")

        def get_job_logs(self, ray_job):
            return ""

        def stop_job(self, ray_job):
            return True

    monkeypatch.setattr(ray_jobs, "_client_class", lambda: Recorder)
    monkeypatch.setenv("FER_RAY_ADDRESS", "http://127.0.0.1:8265")
    job = _running_job(store, backend="ray", ray_address="http://attacker.example:9/", ray_job="fer-x", pid=None)
    jobs.status(job.folder)
    jobs.log_tail(job.folder)
    jobs.cancel(job.folder)
    assert contacted and set(contacted) == {"http://127.0.0.1:8265"}


def test_a_decision_file_that_is_a_link_is_refused(store, tmp_path):
    b.write(store / "datasets" / "d" / layout.DATASET_INFO, b"{}")
    outside = b.write(tmp_path / "elsewhere.csv", b"path,decision,check,time\n")
    (store / "datasets" / "d" / layout.EXCLUSIONS).symlink_to(outside)
    with pytest.raises(ValueError, match="is a link"):
        exclusions.record("d", ["src:a.png"], "exclude")
    with pytest.raises(ValueError, match="is a link"):
        exclusions.latest("d")
    assert outside.read_bytes() == b"path,decision,check,time\n"


# -- 3. model files are bounded before they cost anything -----------------------------------------
def _tiny_weights() -> bytes:
    import torch

    return save_weights({"fc.weight": torch.zeros(7, 4)})


def _zip(meta, weights: bytes | None = None, meta_text: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(layout.MODEL_META, meta_text if meta_text is not None else json.dumps(meta))
        z.writestr(layout.WEIGHTS, weights if weights is not None else _tiny_weights())
    return buf.getvalue()


META = {"architecture": "vit_large_patch16_224", "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                                              "neutral"],
        "input_size": 224, "channels": 1, "normalisation": {"mean": [0.5], "std": [0.25]}}
HOSTILE = {
    "vit_large": (lambda: _zip(META), "fit the vit_large_patch16_224"),
    "12 members": (lambda: _zip({**META, "architecture": "ensemble", "members": [
        {"architecture": "vit_large_patch16_224", "dropout": 0.0}] * 12}), "at most 8 members"),
    "nested": (lambda: _zip(None, meta_text="[" * 100_000 + "]" * 100_000), "nests deeper than 16 levels"),
}


@pytest.fixture(scope="module")
def valid_zip(tmp_path_factory):
    from fer.models import model_zip
    from fer.store import resolve_model

    path = tmp_path_factory.mktemp("valid") / "default.zip"
    path.write_bytes(model_zip.zip_bytes(resolve_model("default")))
    env = {**os.environ, "FER_ARTIFACTS": str(path.parent / "store"), "HF_HUB_OFFLINE": "1"}
    good = b.run_measured([sys.executable, "-m", "fer", "model", "import", str(path), "--name", "good"], env)
    assert good["rc"] == 0, good["stderr"]
    return good["peak_kib"]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_model_zip_that_claims_to_be_huge_is_refused_before_it_costs_memory(store, tmp_path, valid_zip, case):
    make, why = HOSTILE[case]
    data = make()
    path = b.write(tmp_path / f"{case.replace(' ', '-')}.zip", data)
    env = {**os.environ, "FER_ARTIFACTS": str(store), "HF_HUB_OFFLINE": "1"}
    r = b.run_measured([sys.executable, "-m", "fer", "model", "import", str(path), "--name", "hostile"], env)
    lines = r["stderr"].strip().splitlines()
    assert r["rc"] == 2 and len(lines) == 1 and why in lines[0] and "Traceback" not in r["stderr"], r["stderr"]
    extra = (r["peak_kib"] - valid_zip) / 1024
    print(f"{case}: {len(data)} bytes; peak {r['peak_kib'] / 1024:.0f} MiB, {extra:+.0f} MiB against a valid zip")
    assert extra <= 150
    assert tree(store) == {}  # nothing kept but the refusal's record


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_same_model_in_the_store_is_one_line_and_the_pages_stay_usable(store, tmp_path, case):
    make, why = HOSTILE[case]
    run = fake_run("hostile")
    with zipfile.ZipFile(io.BytesIO(make())) as z:
        for member in z.namelist():
            (run.folder / member).write_bytes(z.read(member))
    photo = b.write(tmp_path / "face.png", b.image_bytes(size=(96, 96)))
    env = {**os.environ, "FER_ARTIFACTS": str(store), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "fer", "predict", str(photo), "--model", run.id], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and why in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    for page in ("8_Predict", "7_Explain", "9_Live"):
        at = app_page(page, {"model": run.id}, timeout=120).run()
        assert not at.exception, (page, at.exception)
        assert any(why in e.value for e in at.error), page
    default = store / "models" / "default" / "versions" / "1"  # the same files planted as the default
    default.mkdir(parents=True)
    for member in (layout.MODEL_META, layout.WEIGHTS):
        (default / member).write_bytes((run.folder / member).read_bytes())
    p = subprocess.run([sys.executable, "-m", "fer", "predict", str(photo), "--json"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "warning:" in p.stderr and why in p.stderr, p.stderr  # the shipped model answers
    assert json.loads(p.stdout)["model"]["version"] == "shipped"


# -- 4. names are whole-string matches ------------------------------------------------------------
NAME_COMMANDS = {
    "dataset import": ["dataset", "import", "{src}", "--name", "mini\n"],
    "model promote": ["model", "promote", "{run}", "best\n"],
    "model import": ["model", "import", "{zip}", "--name", "best\n"],
    "model rename": ["model", "rename", "default", "best\n"],
    "model ensemble": ["model", "ensemble", "best\n", "--member", "{run}", "--member", "{run}"],
    "sweep": ["sweep", "--config", "smoke", "--set", "dataset=d", "--search", "model.dropout=uniform:0:0.5",
              "--name", "s1\n"],
}


@pytest.mark.parametrize("command", sorted(NAME_COMMANDS))
def test_a_name_with_a_final_line_break_is_refused_by_every_command(store, tmp_path, command):
    run = fake_run("r")
    src = b.imagefolder(tmp_path / "src", classes=("happy", "sad"), per_class=3)
    args = [a.format(src=src, run=run.id, zip=b.write(tmp_path / "m.zip", _zip(META))) for a in NAME_COMMANDS[command]]
    env = {**os.environ, "FER_ARTIFACTS": str(store), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "fer", *args], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2 and "use letters, digits, '.', '_' or '-'" in p.stderr, p.stderr
    assert not (store / "datasets").exists() and not (store / "models").exists()


# -- 5. no path probing; narrower roots -----------------------------------------------------------
def test_the_import_box_answers_the_same_for_a_missing_path_and_one_outside_the_roots(store, tmp_path, monkeypatch):
    monkeypatch.delenv("FER_IMPORT_ROOTS", raising=False)
    outside = b.imagefolder(tmp_path / "outside", classes=("happy",), per_class=2)  # exists, outside the roots
    answers = []
    for path in (outside, tmp_path / "nowhere", store / "imports" / "nothing-here"):
        at = app_page("1_Dataset", timeout=60).run()
        at.text_input(key="new-path").set_value(str(path))
        at.button(key="add-path").click().run()
        answers.append(at.error[0].value.replace(str(path), "PATH"))
    assert len(set(answers)) == 1 and "inside the import roots" in answers[0]
    inside = b.imagefolder(store / "imports" / "mine", classes=("happy",), per_class=2)  # the store's own folder
    at = app_page("1_Dataset", timeout=60).run()
    at.text_input(key="new-path").set_value(str(inside))
    at.button(key="add-path").click().run()
    assert not at.error and str(inside) in at.dataframe[0].value["location"].tolist()
