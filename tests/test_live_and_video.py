"""FrameProcessor, the WebRTC callback, the video path, the predict CLI and the Predict page."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer.labels import CLASSES
from fer.live import FrameProcessor, iou, make_callback
from fer.predict import Predictor

from builders import REPO, untrained_model

skdata = pytest.importorskip("skimage.data")
FACE = cv2.cvtColor(cv2.resize(skdata.astronaut(), (300, 300)), cv2.COLOR_RGB2BGR)


def frame_at(x, y=90):
    f = np.full((480, 640, 3), 80, np.uint8)
    f[y:y + 300, x:x + 300] = FACE
    return f


@pytest.fixture
def default_model(store):
    untrained_model(store / "models" / "default")
    return Predictor.load("default")


def test_faces_are_followed_between_detections(default_model, monkeypatch):
    import fer.live

    calls = []
    real = fer.live.faces.detect
    monkeypatch.setattr(fer.live.faces, "detect", lambda *a, **k: calls.append(1) or real(*a, **k))
    fp = FrameProcessor(default_model, detect_every=5)
    boxes = []
    for i in range(10):
        out = fp.process(frame_at(60 + 6 * i))
        assert out.shape == (480, 640, 3) and len(fp.results) == 1
        boxes.append(fp.results[0].box)
    assert len(calls) == 2  # frames 0 and 5
    # the box moves with the face between detections (6 px a frame), not only at detections
    assert boxes[3][0] - boxes[1][0] > 6 and boxes[8][0] - boxes[6][0] > 6
    naive = default_model.predict(cv2.cvtColor(frame_at(60 + 6 * 9), cv2.COLOR_BGR2RGB))[0]
    assert iou(boxes[9], naive.box) > 0.5
    assert fp.fps > 0


def test_smoothing_damps_flicker(default_model):
    rng = np.random.default_rng(0)

    def flickering(fp):
        labels = []
        for i in range(12):
            f = frame_at(120).astype(np.int16) + rng.integers(-40, 40, (480, 640, 3))
            fp.process(np.clip(f, 0, 255).astype(np.uint8))
            labels.append(fp.results[0].probs)
        return np.std([[p[c] for c in CLASSES] for p in labels], axis=0).mean()

    assert flickering(FrameProcessor(default_model, smoothing=0.9)) < flickering(FrameProcessor(default_model,
                                                                                               smoothing=0.0))


def test_webrtc_callback_on_video_frames(default_model):
    import queue

    import av

    sink, latest = queue.Queue(maxsize=2), {}
    cb = make_callback(FrameProcessor(default_model), sink, latest)
    for i in range(4):
        frame = av.VideoFrame.from_ndarray(frame_at(100 + i), format="bgr24")
        frame.pts = i
        out = cb(frame)
        assert isinstance(out, av.VideoFrame) and out.pts == i and (out.width, out.height) == (640, 480)
    assert not np.array_equal(out.to_ndarray(format="bgr24"), frame_at(103))  # drawn on
    assert sink.qsize() == 2  # a full queue drops the oldest, never blocks the camera
    item = sink.get()
    assert item["faces"] == 1 and set(item["probs"]) == set(CLASSES) and latest["frame"].shape == (480, 640, 3)


def _video(path, frames=24):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 12, (640, 480))
    for i in range(frames):
        w.write(frame_at(40 + 5 * i) if i < frames - 4 else np.full((480, 640, 3), 80, np.uint8))
    w.release()
    return path


def test_video_timeline(default_model, tmp_path):
    from fer.video import analyse, probe

    path = _video(tmp_path / "clip.mp4")
    assert probe(path)["frames"] == 24
    seen = []
    timeline, shots = analyse(path, default_model, every=4, previews=3, progress=lambda d, t: seen.append(d))
    assert list(timeline["frame"]) == [0, 4, 8, 12, 16, 20]
    assert timeline["label"].iloc[:5].notna().all() and timeline["label"].isna().iloc[5]  # no face at the end
    assert np.allclose(timeline[list(CLASSES)].iloc[:5].sum(axis=1), 1, atol=1e-4)
    assert len(shots) == 3 and seen[-2] == 21 and seen[-1] == 24


def test_predict_cli_json_and_refusals(default_model, store, tmp_path):
    from PIL import Image

    Image.fromarray(skdata.astronaut()).save(tmp_path / "astro.jpg")
    video = _video(tmp_path / "clip.mp4", frames=8)
    (tmp_path / "text.jpg").write_text("not an image")
    env = {**os.environ, "FER_ARTIFACTS": str(store)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "fer", "predict", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=180)

    p = run(str(tmp_path / "astro.jpg"), str(video), "--json", "--every", "4")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    assert lines[0]["image"].endswith("astro.jpg") and len(lines[0]["faces"]) == 1
    face = lines[0]["faces"][0]
    assert len(face["box"]) == 4 and set(face["probs"]) == set(CLASSES) and face["label"] in CLASSES
    assert [(x["frame"], round(x["time"], 2)) for x in lines[1:]] == [(0, 0.0), (4, 0.33)]
    assert lines[2]["faces"] == []  # the face has left the clip by frame 4
    assert p.stderr.strip().splitlines()[-1].startswith("predicted 2 face(s) in 2 input(s)")
    p = run(str(tmp_path / "astro.jpg"), str(tmp_path / "text.jpg"))
    assert p.returncode == 2 and p.stderr.strip() == f"error: {tmp_path / 'text.jpg'}: not an image (unrecognised format)"
    p = run(str(tmp_path / "missing.png"))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_predict_page_upload_table_download(default_model, tmp_path):
    import io

    from PIL import Image

    page = str(REPO / "pages" / "8_Predict.py")
    at = AppTest.from_file(page, default_timeout=120).run()
    assert not at.exception and "Upload one or more photos" in at.info[0].value
    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(buf, "PNG")
    at.get("file_uploader")[0].upload("astro.png", buf.getvalue(), "image/png")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["image"]) == ["astro.png"] and table.loc[0, "label"] in CLASSES
    assert {d.label for d in at.get("download_button")} == {"CSV", "JSON", "Annotated images (zip)"}
    # a photo without a face says so and offers the whole image
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), (90, 90, 90)).save(blank, "PNG")
    at.get("file_uploader")[0].upload("wall.png", blank.getvalue(), "image/png")
    at.run()
    assert "No face found" in at.warning[0].value
    at.button(key="btn-whole-wall.png").click().run()
    assert at.dataframe[0].value.loc[0, "image"] == "wall.png"
    at.get("file_uploader")[0].upload("notes.jpg", b"hello", "image/jpeg")
    at.run()
    assert "notes.jpg: not an image" in at.error[0].value


def test_the_cli_csv_is_the_predict_pages_table(default_model, store, tmp_path):
    import io

    import pandas as pd
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(buf, "PNG")
    (tmp_path / "astro.png").write_bytes(buf.getvalue())
    env = {**os.environ, "FER_ARTIFACTS": str(store)}
    p = subprocess.run([sys.executable, "-m", "fer", "predict", str(tmp_path / "astro.png"), "--csv"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    cli = pd.read_csv(io.StringIO(p.stdout))
    at = AppTest.from_file(str(REPO / "pages" / "8_Predict.py"), default_timeout=120).run()
    at.get("file_uploader")[0].upload("astro.png", buf.getvalue(), "image/png")
    at.run()
    page = at.dataframe[0].value
    assert list(cli.columns) == list(page.columns) and len(cli) == len(page) == 1
    assert cli["label"].tolist() == page["label"].tolist()
    named = ["model", "model_version", "model_sha256"]  # each row names the model that made it
    assert cli[named].values.tolist() == page[named].values.tolist() == [["default", "1", default_model.sha256]]
    numbers = [c for c in page.columns if c not in ("image", "label", *named)]
    assert np.allclose(cli[numbers].to_numpy(float), page[numbers].to_numpy(float), atol=1e-5)
    video = _video(tmp_path / "clip.mp4", frames=4)
    p = subprocess.run([sys.executable, "-m", "fer", "predict", str(video), "--csv"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--json" in p.stderr


def test_predict_page_without_any_model(store, monkeypatch):
    monkeypatch.setattr("fer.store.layout.SHIPPED", store / "nothing-shipped")
    at = AppTest.from_file(str(REPO / "pages" / "8_Predict.py"), default_timeout=60).run()
    assert not at.exception and "No model yet" in at.info[0].value
