"""What the Live page shows in Chromium with a 30 fps fake camera, beside the in-process figure.

    python bench/live_browser.py [--hogs 0] [--seconds 20] [--warmup 8] [--nice 0] [--cycles 10] [--app DIR]

Starts the app (``streamlit run Home.py`` in ``--app``, default this checkout, with its own
``.streamlit/config.toml``) on an empty store, so the shipped model runs; opens the Live page in
Debian's Chromium with a fake camera (tests/e2e/live_probe.py: a real face panning 4 px a frame,
640×480 at 30 fps, a frame counter in every frame) and presses START. For the page's default
settings (the runtime "the faster": onnxruntime for the shipped model), then with PyTorch chosen,
then its fastest, it measures over ``--seconds``:

- the camera's own rate (how fast its frame counter advances);
- frames presented on the page per second (``requestVideoFrameCallback``'s presentedFrames on the
  returned <video>) and how many of them were **distinct** (the counter read back from the
  painted picture; under load the page runs fewer callbacks than frames are presented, so the
  share of new frames among callbacks one presented frame apart is applied to the presented rate;
  the callbacks' own count of distinct frames, a lower bound, is printed beside it);
- camera-to-screen latency: when a returned frame is due on screen minus when the camera captured
  that same frame (both in the page's clock);
- box error: the top-left corner of the drawn face box (found from its label) against where the
  face really is (the detector's box on the still face, moved as the .y4m moved it);
- the page's fps label, the browser's own WebRTC counters both ways (frames encoded, received,
  decoded, dropped, jitter-buffer delay), the server's and the browser's CPU (cores), the busiest
  other processes (name, nice) and the machine's load.

Then STOP/START ``--cycles`` times with the server's resident memory after each STOP, and, in
this process and on the same frames, ``FrameProcessor`` with the same settings (every camera
frame, and every 11th as a slow server sees them) and the cost of each stage: PyTorch with its
default threads and with one, onnxruntime with one (the live worker's setting). One JSON object;
progress on stderr. ``--hogs N`` keeps N busy loops (``yes > /dev/null``, normal priority)
running from before the app starts to the end, the "busy" figures of the README. ``--app DIR`` measures another checkout (an older
commit) with this script. ``--nice N`` runs the server and the browser at that niceness (the
background training here runs at 5 to 10), to show what a user gets without priority over it.
"""
from __future__ import annotations

import argparse
import fractions
import inspect
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import live_probe as probe  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 "--autoplay-policy=no-user-gesture-required"]
TICK = os.sysconf("SC_CLK_TCK")

# The page's settings, as a user sets them: "default" leaves the page alone; "pytorch" chooses
# PyTorch as the runtime; "fastest" goes back to the faster runtime and moves each control that
# exists on the page to its fastest position.
SETTINGS = [("default", []),
            ("pytorch", [("radio", "Runtime", "PyTorch")]),
            ("fastest", [("radio", "Runtime", "the faster"), ("slider", "Detect every k frames", "End")])]


def say(*words) -> None:
    print(time.strftime("%H:%M:%S"), *words, file=sys.stderr, flush=True)


# -- processes --------------------------------------------------------------------------------
def _stat(pid: int) -> tuple[int, int, int, str] | None:
    """(ppid, cpu ticks, nice, name) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    f = raw[raw.rindex(")") + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]), int(f[16]), name


def _all() -> dict[int, tuple]:
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit() and (s := _stat(int(p))):
            out[int(p)] = s
    return out


def _tree(root: int, procs: dict) -> set[int]:
    kids, found = {}, {root}
    for pid, s in procs.items():
        kids.setdefault(s[0], []).append(pid)
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            found.add(k)
            todo.append(k)
    return found


class CpuMeter:
    """Cores used by the server, the browser and the busiest other processes over a window."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    def start(self):
        self.t0, self.p0 = time.monotonic(), _all()

    def stop(self) -> dict:
        dt, p1 = time.monotonic() - self.t0, _all()
        server = _tree(self.server_pid, p1)
        ours = _tree(os.getpid(), p1)
        used = {pid: (s[1] - self.p0[pid][1]) / TICK / dt for pid, s in p1.items() if pid in self.p0}
        others = sorted(((u, p1[pid][3], p1[pid][2]) for pid, u in used.items() if pid not in ours | server),
                        reverse=True)[:3]
        return {"server_cores": round(sum(used.get(p, 0) for p in server), 2),
                "browser_cores": round(sum(used.get(p, 0) for p in ours - server - {os.getpid()}), 2),
                "others": [{"name": n, "nice": nice, "cores": round(u, 2)} for u, n, nice in others if u > 0.02]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app: Path, store: Path, nice: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "HF_HUB_OFFLINE": "1",
           "FER_ARTIFACTS": str(store), "PYTHONPATH": str(app)}
    cmd = [sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(["nice", "-n", str(nice), *cmd] if nice else cmd, cwd=app, env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, base
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise SystemExit(f"the app did not start; log: {log}")


# -- the page ---------------------------------------------------------------------------------
def apply(page, controls) -> list[str]:
    done = []
    for kind, label, value in controls:
        if kind == "radio":  # an older checkout without the choice: left as it is
            box = page.locator('[data-testid="stRadio"]').filter(has_text=label)
            if box.count() == 0:
                continue
            box.first.get_by_text(value, exact=True).click()
            page.wait_for_timeout(500)
            done.append(f"{label}={value}")
            continue
        box = page.locator('[data-testid="stSlider"]').filter(has_text=label)
        if box.count() == 0:
            continue
        thumb = box.locator("input[type=range]")
        thumb.focus()
        thumb.press(value)
        page.wait_for_timeout(500)
        done.append(f"{label}={thumb.get_attribute('aria-valuetext')}")
    return done


def fps_label(page) -> str | None:
    """The page's own rate: new frames painted a second, as the Live page's label shows it."""
    m = page.get_by_test_id("fer-painted").locator(".fer-painted-value")  # (in a shadow root)
    if m.count() == 0:
        return None
    return m.first.inner_text()


def webrtc_counters(before: list[dict], after: list[dict], seconds: float) -> dict:
    """Per second over the window: the browser's own WebRTC counters for the video each way."""
    def pick(stats, kind):
        return next((s for s in stats if s["type"] == kind), None)

    out = {}
    b, a = pick(before, "outbound-rtp"), pick(after, "outbound-rtp")
    if a and b:
        out["browser_sends"] = {"frames_encoded_per_s": round((a["framesEncoded"] - b["framesEncoded"]) / seconds, 1),
                                "size": f"{a.get('frameWidth')}x{a.get('frameHeight')}",
                                "quality_limitation": a.get("qualityLimitationReason")}
    b, a = pick(before, "inbound-rtp"), pick(after, "inbound-rtp")
    if a and b:
        emitted = a.get("jitterBufferEmittedCount", 0) - b.get("jitterBufferEmittedCount", 0)
        out["browser_receives"] = {
            "frames_received_per_s": round((a["framesReceived"] - b["framesReceived"]) / seconds, 1),
            "frames_decoded_per_s": round((a["framesDecoded"] - b["framesDecoded"]) / seconds, 1),
            "frames_dropped_per_s": round((a.get("framesDropped", 0) - b.get("framesDropped", 0)) / seconds, 1),
            "jitter_buffer_ms": round((a.get("jitterBufferDelay", 0) - b.get("jitterBufferDelay", 0))
                                      / emitted * 1000, 1) if emitted else None,
            "freezes": a.get("freezeCount", 0) - b.get("freezeCount", 0)}
    return out


def measure(page, frame, rec: probe.Records, seconds: float, cpu: CpuMeter, offset) -> dict:
    rec.add(frame.evaluate(probe.DRAIN_JS))
    stats0 = frame.evaluate(probe.STATS_JS)
    t0 = frame.evaluate("() => performance.now()")
    cpu.start()
    labels = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        page.wait_for_timeout(1000)
        rec.add(frame.evaluate(probe.DRAIN_JS))
        labels.append(fps_label(page))
    t1 = frame.evaluate("() => performance.now()")
    load = cpu.stop()
    stats1 = frame.evaluate(probe.STATS_JS)
    rec.add(frame.evaluate(probe.DRAIN_JS))
    out = probe.summarise(rec, t0, t1, offset)
    out["fps_label"] = [x for x in labels if x is not None][-5:]
    out["cpu"] = load
    out["webrtc"] = webrtc_counters(stats0, stats1, (t1 - t0) / 1000)
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def start_stop_cycles(page, frame, server_pid: int, n: int) -> dict:
    """STOP and START ``n`` times; the server's resident memory after each STOP."""
    from playwright.sync_api import expect

    component = page.frame_locator("iframe[title*='webrtc']").first
    after_stop = []
    for _ in range(n):
        component.get_by_role("button", name="STOP").click(timeout=30_000)
        expect(component.get_by_role("button", name="START")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(2000)
        after_stop.append(_rss_mb(server_pid))
        component.get_by_role("button", name="START").click(timeout=30_000)
        frame.evaluate(probe.DRAIN_JS)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # returned frames again
            d = frame.evaluate(probe.DRAIN_JS)
            if d and any(r[1] >= 0 for r in d["remote"]):
                break
            page.wait_for_timeout(300)
        page.wait_for_timeout(3000)
    return {"cycles": n, "server_rss_mb_after_each_stop": after_stop,
            "growth_mb_from_2nd_to_last_stop": round(after_stop[-1] - after_stop[1], 1) if n > 2 else None}


def browser_run(app: Path, tmp: Path, seconds: float, warmup: float, nice: int, offset,
                settings=("default", "pytorch", "fastest"), cycles: int = 0) -> dict:
    from playwright.sync_api import expect, sync_playwright

    y4m = probe.write_camera(tmp / "camera.y4m")
    server, base = start_server(app, tmp / "store", nice, tmp / "server.log")
    results = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=CHROMIUM_ARGS + [f"--use-file-for-fake-video-capture={y4m}"])
            if nice:
                for pid in _tree(os.getpid(), _all()) - _tree(server.pid, _all()) - {os.getpid()}:
                    try:
                        os.setpriority(os.PRIO_PROCESS, pid, nice)
                    except OSError:
                        pass
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.add_init_script(probe.PROBE_JS)
            page = context.new_page()
            say("the app is up; opening Live and pressing START")
            page.goto(f"{base}/Live")
            expect(page.get_by_role("heading", name="Live")).to_be_visible(timeout=90_000)
            start = page.frame_locator("iframe[title*='webrtc']").first.get_by_role("button", name="START")
            start.click(timeout=60_000)
            deadline = time.monotonic() + 120
            frame = None
            while time.monotonic() < deadline:
                frame = frame or probe.probe_frame(page)
                if frame and frame.evaluate("() => window.__ferProbe.remote.some(r => r[1] >= 0)"):
                    break
                page.wait_for_timeout(500)
            else:
                raise SystemExit(f"no returned frame came back within 120 s; log: {tmp / 'server.log'}")
            cpu, rec = CpuMeter(server.pid), probe.Records.empty()
            for name, controls in [s for s in SETTINGS if s[0] in settings]:
                say(f"measuring '{name}': {warmup:g} s to settle, {seconds:g} s measured")
                changed = apply(page, controls)
                page.wait_for_timeout(warmup * 1000)
                results[name] = {"changed": changed, **measure(page, frame, rec, seconds, cpu, offset)}
                page.screenshot(path=str(tmp / f"{name}.png"))
            if cycles:
                say(f"{cycles} STOP/START cycles")
                results["memory"] = start_stop_cycles(page, frame, server.pid, cycles)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    return results


# -- in process -------------------------------------------------------------------------------
def in_process(model: str, threads: int, runtime: str = "torch", frames: int = 90) -> dict:
    """FrameProcessor and each stage alone, on ``runtime`` with ``threads`` threads (torch's in this
    thread, or onnxruntime's intra-op pool)."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    from fer.live import FrameProcessor
    from fer.predict import Predictor

    if "runtime" in inspect.signature(Predictor.load).parameters:
        predictor = Predictor.load(model, runtime=runtime, threads=threads)
    elif runtime != "torch":  # an older checkout
        return {"error": "this checkout's Predictor.load has no runtime"}
    else:
        predictor = Predictor.load(model)
    face = probe.face_image()
    video = [probe.camera_frame(i, face) for i in range(frames)]
    out = {}
    for name, every in (("default", None), ("fastest", 15)):
        for stride in (1, 11):
            proc = FrameProcessor(predictor) if every is None else FrameProcessor(predictor, detect_every=every)
            # the live stream tells the processor how many camera frames passed (older code: no gap)
            extra = {"gap": stride} if "gap" in inspect.signature(proc.process).parameters else {}
            proc.process(video[0])  # warm-up
            t = time.perf_counter()
            feed = video[::stride] if stride == 1 else (video * 3)[::stride][:frames // 2]
            for f in feed:
                proc.process(f, **extra)
            fps = len(feed) / (time.perf_counter() - t)
            out[f"{name}, every {'' if stride == 1 else '11th '}frame"] = round(fps, 1)
    # where the time goes, per 640×480 frame
    import av

    f = video[40]
    from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder  # what the server's WebRTC uses

    frames_in = []
    for i, v in enumerate(video[:60]):
        vf = av.VideoFrame.from_ndarray(v, format="bgr24").reformat(format="yuv420p")
        vf.pts, vf.time_base = i * 3000, fractions.Fraction(1, 90000)
        frames_in.append(vf)
    enc = Vp8Encoder()
    t = time.perf_counter()
    encoded = [enc.encode(v)[0] for v in frames_in]
    encode_ms = (time.perf_counter() - t) / len(frames_in) * 1000
    from aiortc.jitterbuffer import JitterFrame
    from aiortc.codecs.vpx import VpxPayloadDescriptor

    dec = Vp8Decoder()
    payloads = []
    for packets in encoded:  # depacketize as the receiver does
        data = b""
        for p in packets:
            _, rest = VpxPayloadDescriptor.parse(p)
            data += rest
        payloads.append(data)
    t = time.perf_counter()
    for k, data in enumerate(payloads):
        dec.decode(JitterFrame(data=data, timestamp=k * 3000))
    decode_ms = (time.perf_counter() - t) / len(payloads) * 1000

    def per_frame(fn, n=30):
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return round((time.perf_counter() - t) / n * 1000, 2)

    vf = av.VideoFrame.from_ndarray(f, format="bgr24").reformat(format="yuv420p")
    stages = {
        "vp8_encode": round(encode_ms, 2), "vp8_decode": round(decode_ms, 2),
        "yuv420p_to_ndarray_bgr24": per_frame(lambda: vf.to_ndarray(format="bgr24")),
        "from_ndarray_bgr24_to_yuv420p": per_frame(
            lambda: av.VideoFrame.from_ndarray(f, format="bgr24").reformat(format="yuv420p")),
    }
    from fer import faces

    rgb = cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
    small = cv2.resize(rgb, (320, 240), interpolation=cv2.INTER_AREA)
    found = faces.detect(rgb, method=predictor.detector, refine=False)
    stages["detect_640"] = per_frame(lambda: faces.detect(rgb, method=predictor.detector, refine=False), 10)
    stages["detect_320"] = per_frame(lambda: faces.detect(small, method=predictor.detector, refine=False), 10)
    stages["crop_and_classify_one_face"] = per_frame(lambda: predictor.classify([predictor.crop(rgb, found[0])]))
    return {"frame_processor_fps": out, "stages_ms": stages}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", type=Path, default=REPO, help="the checkout whose app is measured")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--model", default="default")
    ap.add_argument("--cycles", type=int, default=10, help="STOP/START cycles for the memory figure (0: none)")
    ap.add_argument("--hogs", type=int, default=0, help="busy loops beside the app, from start to end")
    args = ap.parse_args()
    app = args.app.resolve()
    sys.path.insert(0, str(app))  # the in-process figure uses the measured checkout's fer
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="live-browser-"))
    os.environ["FER_ARTIFACTS"] = str(tmp / "store")
    load_before = os.getloadavg()
    hogs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(args.hogs)]
    try:
        say(f"load {load_before[0]:.2f}, {args.hogs} busy loop(s); starting the app")
        offset = probe.face_offset()
        browser = browser_run(app, tmp, args.seconds, args.warmup, args.nice, offset, cycles=args.cycles)
        import torch

        default_threads = torch.get_num_threads()
        inproc = {}
        for runtime, n in [("torch", n) for n in sorted({default_threads, 1}, reverse=True)] + [("onnx", 1)]:
            say(f"in process: {runtime}, {n} thread(s)")
            inproc[f"{runtime}_threads_{n}"] = in_process(args.model, n, runtime)
        load_after = os.getloadavg()
    finally:
        for h in hogs:
            h.kill()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=app, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=app,
                                capture_output=True, text=True).stdout.strip())
    say("done")
    print(json.dumps({
        "app": {"checkout": str(app), "commit": commit + ("+changes" if dirty else "")},
        "camera": {"file_fps": probe.FPS, "size": f"{probe.W}x{probe.H}", "face_step_px": probe.STEP},
        "browser": browser,
        "in_process": inproc,
        "conditions": {"cpus": len(os.sched_getaffinity(0)), "nice": args.nice, "hogs": args.hogs,
                       "loadavg_before": [round(x, 2) for x in load_before],
                       "loadavg_after": [round(x, 2) for x in load_after],
                       "python": platform.python_version(), "seconds": args.seconds, "warmup": args.warmup,
                       "screenshots": str(tmp)},
    }, indent=2))


if __name__ == "__main__":
    main()
