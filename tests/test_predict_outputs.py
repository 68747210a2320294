"""Every prediction says which model made it: the results table (Predict page and ``--csv``), the
JSON records (Predict page and ``--json``, photos and video frames) carry the model's name, version
and the sha256 of its weights file."""
import hashlib
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from fer.predict import MODEL_COLUMNS, Predictor, image_record, results_table
from fer.store import promote

from builders import REPO
from test_model_versions import fake_run

from skimage import data as skdata  # a requirement: imported, never skipped


@pytest.fixture
def best(store):
    """A named model at its second version, so name and version both matter."""
    a, b = fake_run("a", seed=1), fake_run("b", seed=2)
    promote(a.id, "best")
    promote(b.id, "best")
    return Predictor.load("best"), hashlib.sha256((b.folder / "model.safetensors").read_bytes()).hexdigest()


def test_the_table_and_the_records_name_the_model(best):
    p, sha = best
    assert p.identity() == {"name": "best", "version": "2", "sha256": sha}
    found = p.predict(skdata.astronaut())
    table = results_table([("astro.png", found), ("wall.png", [])], p.identity())
    assert len(table) == 1 and table[MODEL_COLUMNS].values.tolist() == [["best", "2", sha]]
    record = image_record("astro.png", found, p.identity())
    assert record["model"] == {"name": "best", "version": "2", "sha256": sha} and len(record["faces"]) == 1
    assert image_record("wall.png", [], p.identity())["faces"] == []  # a photo without a face still says which model


def test_every_json_line_of_the_cli_names_the_model(best, store, tmp_path):
    _, sha = best
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astro.png")
    video = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in range(6):
        frame = np.full((480, 640, 3), 80, np.uint8)
        frame[90:390, 40 + 5 * i:340 + 5 * i] = cv2.resize(skdata.astronaut()[:, :, ::-1], (300, 300))
        video.write(frame)
    video.release()
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer", "predict", str(tmp_path / "astro.png"), str(tmp_path / "clip.mp4"),
                        "--model", "best", "--json", "--every", "2", "--quiet"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert [("image" in x, "video" in x) for x in lines] == [(True, False)] + [(False, True)] * 3
    assert all(x["model"] == {"name": "best", "version": "2", "sha256": sha} for x in lines)
    p = subprocess.run([sys.executable, "-m", "fer", "predict", str(tmp_path / "astro.png"), "--model", "best@1",
                        "--csv"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    header, row = p.stdout.splitlines()[:2]
    assert header.endswith(",model,model_version,model_sha256") and row.split(",")[-3:-1] == ["best", "1"]
