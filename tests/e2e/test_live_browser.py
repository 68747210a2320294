"""The Live page in Chromium with a 30 fps fake camera: a real face (the astronaut) panning 4 px a
frame, a frame counter in every frame (live_probe.py). What the user sees: boxes on the face in
the mirrored picture, fresh frames that keep coming (not a backlog), an emotion timeline whose
time only increases (also across page reruns), and no exception box. Each step keeps a
screenshot; a failing step's is named ...-FAILED.png."""
import contextlib
import re

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported").expect

import live_probe as probe  # noqa: E402  (tests/e2e/live_probe.py)
from conftest import LAUNCH_ARGS, find_chromium  # noqa: E402  (tests/e2e/conftest.py)

POSITIVE = re.compile(r"^(0\.[1-9]|[1-9]\d*\.\d)$")  # a rate above 0, as the label writes it
CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
               "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
def model_store(store):
    """A store whose default model is an untrained fer_cnn: the pipeline, not the accuracy."""
    from builders import untrained_model

    untrained_model(store / "models" / "default")
    return store


@pytest.fixture
def live_page(pw, tmp_path):
    browser = pw.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS + CAMERA_ARGS + [
        f"--use-file-for-fake-video-capture={probe.write_camera(tmp_path / 'camera.y4m')}"])
    context = browser.new_context(viewport={"width": 1280, "height": 1200})
    context.add_init_script(probe.PROBE_JS)
    yield context.new_page()
    browser.close()


def test_live_with_a_30fps_camera(model_store, app_server, live_page, tmp_path):
    page, rec, n = live_page, probe.Records.empty(), [0]

    @contextlib.contextmanager
    def step(name):
        n[0] += 1
        try:
            yield
        except BaseException:
            path = tmp_path / f"{n[0]}-{name}-FAILED.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failing step: {path}")
            raise
        page.screenshot(path=str(tmp_path / f"{n[0]}-{name}.png"), full_page=True)

    def drain(frame):
        rec.add(frame.evaluate(probe.DRAIN_JS))

    base = app_server(model_store)
    def detect_every(key):
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="Detect every k frames")
        thumb = slider.locator("input[type=range]")
        thumb.focus()
        thumb.press(key)
        expect(slider.get_by_test_id("stSliderThumbValue")).to_have_text("1" if key == "Home" else "15")

    with step("open"):
        page.goto(f"{base}/Live")
        expect(page.get_by_role("heading", name="Live")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Press START")).to_be_visible(timeout=30_000)
        # detection on every frame: processing is slower than the camera, so a queue in front
        # of it would fall further behind every second
        detect_every("Home")

    with step("start"):
        page.frame_locator("iframe[title*='webrtc']").first.get_by_role("button", name="START").click(timeout=60_000)
        page.wait_for_function(probe.CAMERA_OPEN_JS, timeout=120_000)
        frame = probe.probe_frame(page)
        # the first frames wait for the model and the detector to load
        frame.wait_for_function(probe.new_frames_js(1), timeout=120_000)
        drain(frame)

    offset = probe.face_offset()
    with step("fresh frames"):
        t0 = frame.evaluate("() => performance.now()")
        seen = []
        for _ in range(3):  # three rounds of new frames, not a stream that stalls (a deadline, not a rate)
            frame.wait_for_function(probe.new_frames_js(3, shots=1), timeout=60_000)
            before = len(rec.remote)
            drain(frame)
            seen.append({r[1] for r in rec.remote[before:] if r[1] >= 0})
        t1 = frame.evaluate("() => performance.now()")
        assert seen[2] - seen[0] and seen[1] - seen[0]  # counters move on
        figures = probe.summarise(rec, t0, t1, offset)
        print("detect every frame:", figures)  # frames/s and latency: bench/live_browser.py's figures
        # (no backlog, the newest camera frame first: tests/test_live.py's
        # test_live_stream_sends_each_fresh_frame_once_and_drops_stale_ones)
        shots = [probe.decode_shot(url) for _, t, url in rec.shots if t0 <= t < t1]
        reads = [probe.read_counter(s) for s in shots]
        assert shots and all(r is not None and r[1] for r in reads)  # every returned picture is mirrored

    with step("the rate painted"):
        # the label counts what the browser paints of the returned video, not what the server sends:
        # a paused video paints nothing, and the label says so while frames are still sent
        label = page.get_by_test_id("fer-painted").locator(".fer-painted-value")  # (in a shadow root)
        expect(label).to_have_text(POSITIVE, timeout=60_000)
        pause = """(play) => { for (const f of document.querySelectorAll('iframe')) { let d = null;
            try { d = f.contentDocument; } catch (e) { continue; }
            for (const v of (d ? d.querySelectorAll('video') : [])) if (v.srcObject) { play ? v.play() : v.pause(); } } }"""
        page.evaluate(pause, False)
        expect(label).to_have_text("0.0", timeout=30_000)
        expect(page.get_by_text("frames/s sent")).to_be_visible()
        sent = page.get_by_text("frames/s sent").inner_text()
        assert float(sent.split(";")[-1].split()[0]) > 0, sent  # the server went on sending
        page.evaluate(pause, True)
        expect(label).to_have_text(POSITIVE, timeout=60_000)

    with step("boxes on the face"):
        detect_every("End")  # optical flow for 14 frames out of 15
        frame.wait_for_function(probe.new_frames_js(5), timeout=60_000)  # past the frames of the old setting
        drain(frame)
        t0 = frame.evaluate("() => performance.now()")
        frame.wait_for_function(probe.new_frames_js(15, shots=5), timeout=120_000)
        drain(frame)
        t1 = frame.evaluate("() => performance.now()")
        figures = probe.summarise(rec, t0, t1, offset)
        print("detect every 15 frames:", figures)
        box = figures["box"]
        assert box["frames_checked"] >= 3 and box["without_box"] <= box["frames_checked"] // 4, box
        assert box["corner_error_px"]["median"] <= 25, box

    with step("timeline"):
        expect(page.get_by_text("emotion now")).to_be_visible(timeout=30_000)
        page.wait_for_function(f"(() => {{ const x = ({probe.TIMELINE_X})(); return x && x.length > 1; }})()",
                               timeout=30_000)
        first = page.evaluate(probe.TIMELINE_X)
        # a page rerun (a setting changed) must not restart the clock
        smoothing = page.locator('[data-testid="stSlider"]').filter(has_text="Smoothing").locator("input[type=range]")
        smoothing.focus()
        smoothing.press("ArrowRight")
        page.wait_for_function(
            f"(() => {{ const x = ({probe.TIMELINE_X})(); return x && x[x.length - 1] > {first[-1] + 2}; }})()", timeout=30_000)
        later = page.evaluate(probe.TIMELINE_X)
        assert later == sorted(later) and later[0] >= 0, "the time axis went back"
        assert later[-1] > first[-1] + 2 and later[0] <= first[-1]  # the same clock, and it went on

    with step("no exception"):
        assert page.locator('[data-testid="stException"]').count() == 0
