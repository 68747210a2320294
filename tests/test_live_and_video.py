"""FrameProcessor, LiveStream, the video path, the predict CLI and the Predict page."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer.labels import CLASSES
from fer.live import FrameProcessor, iou
from fer.predict import Predictor

from builders import REPO, untrained_model

from skimage import data as skdata  # a requirement: imported, never skipped
FACE = cv2.cvtColor(cv2.resize(skdata.astronaut(), (300, 300)), cv2.COLOR_RGB2BGR)


def frame_at(x, y=90):
    f = np.full((480, 640, 3), 80, np.uint8)
    f[y:y + 300, x:x + 300] = FACE
    return f


@pytest.fixture
def default_model(store):
    untrained_model(store / "models" / "default")
    return Predictor.load("default")


@pytest.fixture
def one_torch_thread():
    """As the live worker runs: one torch thread (this thread only), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_faces_are_followed_between_detections(default_model, monkeypatch, one_torch_thread):
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
    assert len(calls) == 2  # frames 0 and 5: the flow was trusted in between
    # the box moves with the face between detections (6 px a frame), not only at detections
    assert boxes[3][0] - boxes[1][0] > 6 and boxes[8][0] - boxes[6][0] > 6
    naive = default_model.predict(cv2.cvtColor(frame_at(60 + 6 * 9), cv2.COLOR_BGR2RGB))[0]
    assert iou(boxes[9], naive.box) > 0.5
    assert fp.fps > 0


def panning(n):
    """Camera frames of a real face panning 4 px a frame, right then back (triangle)."""
    xs = [20 + 4 * (k if k <= 70 else 140 - k) for k in (i % 140 for i in range(n))]
    return [frame_at(x) for x in xs]


@pytest.mark.parametrize("stride, gap", [(1, 1), (11, 1), (11, 11)],
                         ids=["every frame", "every 11th, gap unknown", "every 11th, gap given"])
def test_boxes_stay_on_a_panning_face(default_model, one_torch_thread, stride, gap):
    """Whatever reaches the processor, each box overlaps the face a detector finds on that same
    frame. Fed every 11th frame the face jumps 44 px: the flow is checked (forward-backward) and
    the face found again when it cannot follow; told the gap, the flow reaches that far."""
    from fer import faces

    video = panning(60 if stride == 1 else 220)[::stride]
    fp = FrameProcessor(default_model, detect_every=15)
    ious = []
    for f in video:
        fp.process(f, gap=gap)
        truth = faces.detect(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), refine=False)[0].box
        assert len(fp.results) == 1
        ious.append(iou(fp.results[0].box, truth))
    print(f"IoU with the detector: median {np.median(ious):.3f}, min {min(ious):.3f} over {len(ious)} frames, "
          f"{fp.detections} detections")
    assert min(ious) >= 0.5 and np.median(ious) >= 0.7
    if gap == 11:
        assert fp.detections <= len(video) // 2  # followed, not found again on every frame


def test_frame_size_change_mid_stream(default_model, one_torch_thread):
    """Browsers lower the resolution under load: the processor carries on at the new size."""
    from fer import faces

    fp = FrameProcessor(default_model, detect_every=15)
    sizes = [(640, 480)] * 3 + [(320, 240)] * 3 + [(480, 360)] * 2 + [(640, 480)] * 2
    for i, (w, h) in enumerate(sizes):
        f = cv2.resize(frame_at(60 + 4 * i), (w, h), interpolation=cv2.INTER_AREA)
        out = fp.process(f)
        assert out.shape == (h, w, 3) and len(fp.results) == 1
        truth = faces.detect(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), refine=False)[0].box
        assert iou(fp.results[0].box, truth) >= 0.5


def test_mirror_flips_the_picture_not_the_text(default_model, one_torch_thread):
    """The returned picture is mirrored, the boxes (and `results`) are in its coordinates, and
    every text on it reads left to right (drawn after the flip)."""
    from fer import faces
    from fer.draw import annotate, put_text

    frame = frame_at(20)  # off centre: the face on the left of the camera's picture
    fp = FrameProcessor(default_model, mirror=True)
    out = fp.process(frame, fps=12.5)
    mirrored = cv2.flip(frame, 1)
    truth = faces.detect(cv2.cvtColor(mirrored, cv2.COLOR_BGR2RGB), refine=False)[0].box
    box = fp.results[0].box
    assert iou(box, truth) >= 0.7 and (box[0] + box[2]) / 2 > 320  # on the right, where the mirror shows it
    expected = annotate(mirrored, fp.results, bgr=True)
    put_text(expected, "12.5 fps")
    assert np.array_equal(out, expected)
    fp.mirror = False  # turned off mid-stream: boxes follow at once
    fp.process(frame)
    assert (fp.results[0].box[0] + fp.results[0].box[2]) / 2 < 320


def test_rate_meter_counts_over_wall_time():
    from fer.live import RateMeter

    m = RateMeter(window=2.0)
    for k in range(10):
        m.tick(100.0 + 0.1 * k)  # 10 frames in the first second
    assert m.rate(101.0) == pytest.approx(10.0)
    assert m.rate(102.0) == pytest.approx(4.5)  # 9 of them within the last 2 s: idle time counts
    assert m.rate(104.0) == 0.0


def test_smoothing_is_a_moving_average_that_damps_flicker(default_model, one_torch_thread):
    """The same noisy frames through a processor without smoothing and one with 0.9: the second's
    probabilities are the exponential moving average of the first's, frame by frame, and flicker far
    less (an EMA of 0.9 keeps about a quarter of independent noise)."""
    rng = np.random.default_rng(0)
    frames = [np.clip(frame_at(120).astype(np.int16) + rng.integers(-40, 40, (480, 640, 3)), 0, 255).astype(np.uint8)
              for _ in range(12)]

    def probs(fp):
        out = []
        for f in frames:
            fp.process(f)
            out.append([fp.results[0].probs[c] for c in CLASSES])
        return np.array(out)

    raw, smooth = probs(FrameProcessor(default_model, smoothing=0.0)), probs(FrameProcessor(default_model, smoothing=0.9))
    expected = [raw[0]]
    for p in raw[1:]:
        expected.append(0.9 * expected[-1] + 0.1 * p)
    np.testing.assert_allclose(smooth, np.array(expected), atol=1e-5)
    assert np.std(smooth, axis=0).mean() < 0.5 * np.std(raw, axis=0).mean()


class _Camera:
    """An aiortc video track of panning-face frames at ``fps`` (faster than the processor)."""

    def __new__(cls, frames, fps):
        import asyncio
        import fractions

        import av
        from aiortc import MediaStreamTrack
        from aiortc.mediastreams import MediaStreamError

        class Camera(MediaStreamTrack):
            kind = "video"

            def __init__(self):
                super().__init__()
                self.sent = 0

            async def recv(self):
                if self.sent >= len(frames):
                    self.stop()
                if self.readyState != "live":
                    raise MediaStreamError
                await asyncio.sleep(1 / fps)
                f = av.VideoFrame.from_ndarray(frames[self.sent], format="bgr24")
                f.pts, f.time_base = self.sent * 3000, fractions.Fraction(1, 90000)
                self.sent += 1
                return f

        return Camera()


def _run_stream(stream, frames, fps, take, encode_s):
    """Camera → stream.sink; a slow consumer (the encoder) takes `take` frames from stream.track;
    then STOP as streamlit-webrtc does it (`sink.stop()` from another thread)."""
    import asyncio
    import threading

    async def main():
        camera = _Camera(frames, fps)
        stream.sink.addTrack(camera)
        stream.sink.start()
        out = []
        for _ in range(take):
            out.append(await asyncio.wait_for(stream.track.recv(), timeout=120))
            await asyncio.sleep(encode_s)
        stopper = threading.Thread(target=stream.sink.stop)
        stopper.start()
        while stopper.is_alive():
            await asyncio.sleep(0.01)
        return out

    return _in_own_thread(lambda: asyncio.run(main()))


def _in_own_thread(fn):
    """Run ``fn`` in a thread of its own: a browser test earlier in the session leaves
    Playwright's event loop running in this one, where asyncio.run() is refused."""
    import threading

    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # handed back to the test
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_live_stream_sends_each_fresh_frame_once_and_drops_stale_ones(default_model):
    from aiortc.mediastreams import MediaStreamError

    from fer.live import LiveStream

    stream = LiveStream(FrameProcessor(default_model, mirror=False))
    out = _run_stream(stream, panning(400), fps=200, take=8, encode_s=0.02)
    pts = [f.pts for f in out]
    assert pts == sorted(set(pts))  # never a frame twice, never an older one after a newer one
    pictures = [f.to_ndarray(format="bgr24") for f in out]
    assert all(not np.array_equal(a, b) for a, b in zip(pictures, pictures[1:]))
    assert stream.dropped > 0 and stream.processed < stream.received  # skipped, not queued
    assert not np.array_equal(pictures[-1], panning(400)[out[-1].pts // 3000])  # annotated
    times = [r["time"] for r in stream.timeline()]
    assert times == sorted(times) and times[0] >= 0 and len(times) == stream.processed
    assert all(r["faces"] == 1 and set(r["probs"]) == set(CLASSES) for r in stream.timeline())
    assert stream.ended  # STOP ended it
    stream.stop(wait=10)
    assert not stream.working
    with pytest.raises(MediaStreamError):
        import asyncio

        _in_own_thread(lambda: asyncio.run(stream.track.recv()))


def test_a_failing_frame_keeps_the_video_going_and_says_why(default_model):
    from fer.live import LiveStream

    processor = FrameProcessor(default_model)
    real, calls = processor.process, []

    def flaky(image, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise cv2.error("OpenCV(4.14.0) error: (-215:Assertion failed) in calcOpticalFlowPyrLK")
        return real(image, **kw)

    processor.process = flaky
    stream = LiveStream(processor)
    errors = []
    stream.track.publish = (lambda publish: lambda f: (errors.append(stream.error), publish(f)))(stream.track.publish)
    out = _run_stream(stream, panning(400), fps=100, take=4, encode_s=0.05)
    assert len(out) == 4 and stream.processed >= 4
    assert errors[1] and "Assertion failed" in errors[1]  # the page shows it
    assert errors[-1] is None  # and clears it once frames are processed again


def test_live_stream_keeps_a_bounded_window(default_model):
    from fer.live import LiveStream

    stream = LiveStream(FrameProcessor(default_model, draw=False), history_seconds=0.3)
    _run_stream(stream, panning(400), fps=100, take=12, encode_s=0.05)
    times = [r["time"] for r in stream.timeline()]
    assert times[-1] - times[0] <= 0.3 and times[-1] > 0.3  # the last 0.3 s of a longer stream
    chart = stream.emotions(points=3)  # averaged into at most 3 bins of time, in order
    assert 1 <= len(chart) <= 3 and list(chart["time"]) == sorted(chart["time"])
    assert times[0] <= chart["time"].min() and chart["time"].max() <= times[-1]
    assert np.allclose(chart[list(CLASSES)].sum(axis=1), 1, atol=1e-4)


def test_ten_streams_started_and_stopped_leave_nothing_behind(default_model):
    """Each START makes a LiveStream, each STOP ends it: its worker thread ends and nothing
    keeps it (or its frames) alive."""
    import gc
    import threading
    import weakref

    from fer.live import LiveStream

    processor = FrameProcessor(default_model)
    refs = []
    for _ in range(10):
        stream = LiveStream(processor)
        _run_stream(stream, panning(60), fps=100, take=2, encode_s=0.0)
        stream.stop(wait=10)
        refs.append(weakref.ref(stream))
        del stream
    gc.collect()
    assert [r for r in refs if r() is not None] == []
    assert not [t for t in threading.enumerate() if t.name == "fer-live"]


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
    cli = pd.read_csv(io.StringIO(p.stdout), dtype={"model_version": str})  # a version is a name ("shipped", "3")
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
    monkeypatch.setattr("fer.store.layout.EARLIER_SHIPPED", store / "nothing-shipped-before")
    at = AppTest.from_file(str(REPO / "pages" / "8_Predict.py"), default_timeout=60).run()
    assert not at.exception and "No model yet" in at.info[0].value
