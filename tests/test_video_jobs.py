"""Video analysis as a job (the Predict page): a corrupt, an endless, a too-long and a too-large
video are refused with one line before anything is queued or kept; a video that lies about its
length is stopped at the limits; a normal one gives a timeline, an annotated MP4 and previews,
and records the model that made them."""
import io
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer import jobs
from fer.jobs.launch import video as launch_video
from fer.store import layout
from fer.video import VideoError, VideoLimits, analyse_into, check, frames, probe, results

from builders import REPO, untrained_model

from skimage import data as skdata  # a requirement: imported, never skipped
FACE = cv2.resize(skdata.astronaut(), (300, 300))
PREDICT = str(REPO / "pages" / "8_Predict.py")


class _Pipe(io.RawIOBase):
    """A sink that cannot seek, as a live stream's: the muxer can never write the length."""

    def __init__(self, f):
        self.f = f

    def writable(self):
        return True

    def seekable(self):
        return False

    def write(self, b):
        return self.f.write(b)


def write_video(path: Path, n: int = 24, fps: int = 12, live: bool = False) -> Path:
    """An astronaut panning across a grey 640×480 frame (H.264 MP4, or a Matroska stream)."""
    with open(path, "wb") as f:
        c = av.open(_Pipe(f) if live else f, "w", format="matroska" if live else "mp4")
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 640, 480, "yuv420p"
        for i in range(n):
            frame = np.full((480, 640, 3), 80, np.uint8)
            x = 40 + (5 * i) % 300
            frame[90:390, x:x + 300] = FACE
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        c.close()
    return path


@pytest.fixture
def model_store(store):
    untrained_model(store / "models" / "default")
    return store


def _no_job_kept(store):
    assert not (store / "jobs").exists() or not any((store / "jobs").iterdir())


def test_a_corrupt_video_is_refused_and_nothing_is_kept(model_store, tmp_path):
    with pytest.raises(VideoError, match=r"^clip\.mp4: not a readable video"):
        launch_video("clip.mp4", np.random.default_rng(0).bytes(3000), "default")
    truncated = write_video(tmp_path / "whole.mp4").read_bytes()[:2000]  # cut before its index
    with pytest.raises(VideoError, match=r"^cut\.mp4: not a readable video"):
        launch_video("cut.mp4", truncated, "default")
    with pytest.raises(ValueError, match="not a video file"):
        launch_video("notes.txt", b"hello", "default")
    _no_job_kept(model_store)


def test_an_endless_video_is_refused(model_store, tmp_path):
    stream = write_video(tmp_path / "live.mkv", live=True)
    assert sum(1 for _ in frames(stream)) == 24  # it plays, but nothing says when it ends
    with pytest.raises(VideoError, match="its length is unknown"):
        launch_video("live.mkv", stream.read_bytes(), "default")
    _no_job_kept(model_store)


def test_a_too_long_too_many_frames_or_too_large_video_is_refused(model_store, tmp_path, monkeypatch):
    clip = write_video(tmp_path / "clip.mp4", n=36, fps=12)  # 3 s, 36 frames
    monkeypatch.setenv("FER_VIDEO_MAX_SECONDS", "2")
    with pytest.raises(VideoError, match=r"clip\.mp4: 3\.0 s long, over the 2 s limit \(video_max_seconds\)"):
        launch_video("clip.mp4", clip.read_bytes(), "default")
    monkeypatch.setenv("FER_VIDEO_MAX_SECONDS", "60")
    monkeypatch.setenv("FER_VIDEO_MAX_FRAMES", "30")
    with pytest.raises(VideoError, match=r"36 frames, over the 30 frame limit \(video_max_frames\)"):
        launch_video("clip.mp4", clip.read_bytes(), "default")
    monkeypatch.delenv("FER_VIDEO_MAX_FRAMES")
    monkeypatch.setenv("FER_VIDEO_MAX_MIB", "1")
    with pytest.raises(VideoError, match=r"2\.0 MiB, over the 1 MiB limit for a video \(video_max_mib\)"):
        launch_video("clip.mp4", clip.read_bytes() + bytes(2 * 2**20 - clip.stat().st_size), "default")
    _no_job_kept(model_store)


def test_a_video_longer_than_its_header_says_is_stopped_at_the_limits(model_store, tmp_path, monkeypatch):
    """The decoder counts what it decodes: a header that lies cannot make it run on."""
    import fer.video
    from fer.predict import Predictor

    clip = write_video(tmp_path / "clip.mp4", n=24)
    limits = VideoLimits(max_mib=10, max_seconds=60, max_frames=10)
    with pytest.raises(VideoError, match="runs past the limits .* stopped at frame 10"):
        list(frames(clip, limits))
    honest = fer.video.probe
    monkeypatch.setattr(fer.video, "probe", lambda *a, **k: {**honest(*a, **k), "frames": 8, "seconds": 0.7})
    assert check(clip, limits)["frames"] == 8  # the lying header passes the check ...
    folder = tmp_path / "job"
    folder.mkdir()
    with pytest.raises(VideoError, match="stopped at frame 10"):  # ... and the decoding stops it
        analyse_into(folder, clip, Predictor.load("default", detector="haar"), 5, limits)
    assert list(folder.iterdir()) == []  # nothing half-written is left


def test_a_video_job_writes_a_timeline_an_annotated_mp4_and_previews(model_store, tmp_path):
    clip = write_video(tmp_path / "astro.mp4", n=24, fps=12)
    folder = launch_video("astro.mp4", clip.read_bytes(), "default", every=4, detector="haar")
    assert (folder / f"{layout.VIDEO_INPUT}.mp4").exists()
    t = time.time()
    while jobs.status(folder)["state"] in jobs.ACTIVE:
        assert time.time() - t < 300, (folder / layout.JOB_LOG).read_text()
        time.sleep(0.5)
    status = jobs.status(folder)
    assert status["state"] == "finished", (folder / layout.JOB_LOG).read_text()
    assert status["progress"] == 1.0 and status["message"] == "frame 24 of 24"
    assert not (folder / f"{layout.VIDEO_INPUT}.mp4").exists()  # the upload is not kept
    found = results(folder)
    assert list(found["timeline"]["frame"].unique()) == [0, 4, 8, 12, 16, 20]
    assert len(found["previews"]) == 6 and found["previews"][0].shape == (240, 320, 3)
    info = found["info"]
    assert info["video"] == "astro.mp4" and info["frames"] == 24 and info["analysed_frames"] == 6
    assert info["model"]["name"] == "default" and len(info["model"]["sha256"]) == 64
    out = probe(found["annotated"])
    assert (out["frames"], out["width"], out["height"], round(out["fps"])) == (24, 640, 480, 12)
    with av.open(str(found["annotated"])) as c:  # H.264, the codec browsers play in MP4
        assert c.streams.video[0].codec_context.name == "h264"
    drawn = [f for _, _, f in frames(found["annotated"])]
    original = [f for _, _, f in frames(clip)]
    assert np.abs(drawn[0].astype(int) - original[0]).mean() > 1  # boxes and labels drawn on


def test_a_planted_video_job_cannot_read_a_file_outside_its_folder(model_store, tmp_path):
    outside = write_video(tmp_path / f"{layout.VIDEO_INPUT}.mp4")
    with pytest.raises(ValueError, match="not a video uploaded to the store"):
        jobs.submit("video", {"video": str(outside), "model": "default"})
    _no_job_kept(model_store)


def test_the_predict_page_refuses_a_corrupt_video_and_shows_a_finished_analysis(model_store, tmp_path):
    at = AppTest.from_file(PREDICT, default_timeout=120).run()
    assert not at.exception
    at.get("file_uploader")[1].upload("broken.mp4", b"\x00" * 5000, "video/mp4")
    at.run()
    at.button(key="analyse").click().run()
    assert at.error and at.error[0].value.startswith("broken.mp4: not a readable video")
    _no_job_kept(model_store)
    clip = write_video(tmp_path / "astro.mp4", n=12)
    at.get("file_uploader")[1].upload("astro.mp4", clip.read_bytes(), "video/mp4")
    at.run()
    at.button(key="analyse").click().run()
    assert not at.error, [e.value for e in at.error]
    folder = next((model_store / "jobs").iterdir())
    t = time.time()
    while jobs.status(folder)["state"] in jobs.ACTIVE:
        assert time.time() - t < 300
        time.sleep(0.5)
    at.run()
    assert not at.exception
    labels = {d.label for d in at.get("download_button")}
    assert {"Timeline (CSV)", "Annotated video (MP4)"} <= labels
    assert any(c.value.startswith("astro.mp4: 12 frames at 12.0 fps") for c in at.caption)


def test_video_limits_come_from_the_settings_and_survive_the_settings_page(store, monkeypatch):
    from fer import settings

    assert VideoLimits.from_settings() == VideoLimits(512, 600.0, 36_000)  # the defaults
    store.mkdir(parents=True)
    (store / "settings.toml").write_text("video_max_seconds = 30\nvideo_max_frames = 900")
    monkeypatch.setenv("FER_VIDEO_MAX_MIB", "64")
    assert VideoLimits.from_settings() == VideoLimits(64, 30.0, 900)
    assert settings.load().origin["video_max_mib"] == "FER_VIDEO_MAX_MIB"
    monkeypatch.setenv("FER_VIDEO_MAX_FRAMES", "none")
    with pytest.raises(ValueError, match="FER_VIDEO_MAX_FRAMES='none': use a number"):
        settings.load()
    monkeypatch.delenv("FER_VIDEO_MAX_FRAMES")
    at = AppTest.from_file(str(REPO / "pages" / "10_Settings.py"), default_timeout=30).run()
    at.button[0].click().run()  # save the form as it stands: the file's video limits are kept
    assert not at.exception and not at.error
    assert "video_max_seconds = 30.0" in (store / "settings.toml").read_text()
