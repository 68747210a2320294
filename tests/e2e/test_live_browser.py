"""The Live page in Chromium with a fake camera: press START, annotated frames come back and the
timeline fills. The camera is a .y4m file composed from a real face (the astronaut photo)."""
import cv2
import numpy as np
import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported").expect
skdata = pytest.importorskip("skimage.data")

from conftest import LAUNCH_ARGS, find_chromium  # noqa: E402  (tests/e2e/conftest.py)


def write_y4m(path, frames=30, size=(640, 480)):
    """YUV4MPEG2 (I420): a header, then per frame 'FRAME' and the planes."""
    w, h = size
    face = cv2.cvtColor(cv2.resize(skdata.astronaut(), (300, 300)), cv2.COLOR_RGB2BGR)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            frame = np.full((h, w, 3), 70, np.uint8)
            x = 60 + 4 * i
            frame[90:390, x:x + 300] = face
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture
def model_store(store):
    """A store whose default model is an untrained fer_cnn: the pipeline, not the accuracy."""
    from builders import untrained_model

    untrained_model(store / "models" / "default")
    return store


def test_live_camera_round_trip(model_store, app_server, pw, tmp_path):
    y4m = write_y4m(tmp_path / "camera.y4m")
    base = app_server(model_store)
    args = LAUNCH_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-video-capture={y4m}", "--autoplay-policy=no-user-gesture-required"]
    # a browser of its own: the camera flags are launch arguments
    browser = pw.chromium.launch(executable_path=find_chromium(), args=args)
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    try:
        page.goto(f"{base}/Live")
        expect(page.get_by_role("heading", name="Live")).to_be_visible(timeout=60_000)
        frame = page.frame_locator("iframe[title*='webrtc']").first
        frame.get_by_role("button", name="START").click(timeout=60_000)
        # annotated frames come back: the returned stream plays in the component's <video>
        page.wait_for_function(
            """() => [...document.querySelectorAll('iframe')].some(f => {
                   const v = f.contentDocument && f.contentDocument.querySelector('video');
                   return v && v.videoWidth > 0 && v.currentTime > 1; })""", timeout=90_000)
        # the timeline beside it fills from the callback's queue
        expect(page.get_by_text("emotion now")).to_be_visible(timeout=60_000)
        expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.screenshot(path=str(tmp_path / "live.png"))
        print(f"screenshot: {tmp_path / 'live.png'}")
        browser.close()
