"""A fake camera whose frames say which frame they are, and a page probe that reads them back.

Used by the Live browser test and by ``bench/live_browser.py``:

- ``write_camera(path)`` writes a 30 fps 640×480 ``.y4m`` for Chromium's fake capture device: a
  real face (the astronaut photo) panning 4 px a frame on a grey background, and a frame counter in
  a band of 12 black/white blocks at the bottom (a white marker, 10 bits, a black marker: the
  markers tell a mirrored frame from a plain one). ``face_origin(i)`` says where the face was pasted.
- ``PROBE_JS`` goes in as a Playwright init script. In every frame that opens the camera it
  wraps ``getUserMedia`` to watch the local camera on a hidden <video>, and watches every other
  <video> (the returned stream) with ``requestVideoFrameCallback``: per painted frame the time and
  the counter read back from the picture; a few painted frames a second as JPEG for the box check.
- ``summarise(...)`` turns those records into distinct frames/s, camera-to-screen latency and the
  error of the drawn face box.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np

W, H, FPS = 640, 480, 30
BLOCKS, BAND_TOP = 12, 440  # counter band: rows 440..479, 12 blocks of 640/12 px
FACE_SIZE, FACE_Y = 220, 110
STEP, TRAVEL = 4, 340  # px per camera frame; the face goes 340 px right, then back
PERIOD = 2 * TRAVEL // STEP  # 170 frames
BACKGROUND = 95


def face_image() -> np.ndarray:
    """The astronaut's head and shoulders, 220×220, BGR."""
    import skimage.data

    return cv2.cvtColor(cv2.resize(skimage.data.astronaut()[30:230, 130:330], (FACE_SIZE, FACE_SIZE)),
                        cv2.COLOR_RGB2BGR)


def face_origin(i: int) -> tuple[int, int]:
    """Top-left corner of the pasted face in camera frame ``i``."""
    k = i % PERIOD
    dx = STEP * k if k <= PERIOD // 2 else STEP * (PERIOD - k)
    return 40 + dx, FACE_Y


def counter_band(n: int) -> np.ndarray:
    bits = [1] + [(n >> (9 - b)) & 1 for b in range(10)] + [0]
    band = np.zeros((H - BAND_TOP, W, 3), np.uint8)
    for b, bit in enumerate(bits):
        band[:, b * W // BLOCKS:(b + 1) * W // BLOCKS] = 235 if bit else 16
    return band


def read_counter(frame_bgr: np.ndarray) -> tuple[int, bool] | None:
    """(counter, mirrored) from a frame's band, or None when it cannot be read."""
    h, w = frame_bgr.shape[:2]
    band = cv2.cvtColor(frame_bgr[int(h * 450 / H):int(h * 470 / H)], cv2.COLOR_BGR2GRAY)
    lum = [float(band[:, int((b + .3) * w / BLOCKS):int((b + .7) * w / BLOCKS)].mean()) for b in range(BLOCKS)]
    if any(90 < v < 166 for v in lum):
        return None
    bits = [int(v > 128) for v in lum]
    mirrored = bits[0] == 0 and bits[-1] == 1
    if mirrored:
        bits = bits[::-1]
    elif not (bits[0] == 1 and bits[-1] == 0):
        return None
    return int("".join(map(str, bits[1:-1])), 2), mirrored


def camera_frame(i: int, face: np.ndarray | None = None) -> np.ndarray:
    """Camera frame ``i`` (BGR), exactly as written to the .y4m."""
    face = face_image() if face is None else face
    f = np.full((H, W, 3), BACKGROUND, np.uint8)
    x, y = face_origin(i)
    f[y:y + FACE_SIZE, x:x + FACE_SIZE] = face
    f[BAND_TOP:] = counter_band(i % 1024)
    return f


def write_camera(path, frames: int = 3 * PERIOD) -> str:
    """A YUV4MPEG2 (I420) file at 30 fps; Chromium loops it. Three periods (17 s): longer than any
    latency worth measuring, so a counter read back names one camera frame."""
    face = face_image()
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            f.write(b"FRAME\n" + cv2.cvtColor(camera_frame(i, face), cv2.COLOR_BGR2YUV_I420).tobytes())
    return str(path)


# In every frame (the WebRTC component lives in an iframe). Records are arrays to keep them small:
# local [t, counter, captureTime] (every third camera frame), remote [t, counter,
# expectedDisplayTime, width, height, presentedFrames].
PROBE_JS = r"""
(() => {
  if (window.__ferProbe || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  const probe = window.__ferProbe = {local: [], remote: [], shots: [], shotEveryMs: 500, localEvery: 3,
                                     localSeen: 0, lastShot: 0, lastShotCounter: -2, watched: new WeakSet(),
                                     localVideo: null, pcs: []};
  const PC = window.RTCPeerConnection;  // kept, to read WebRTC's own counters (getStats)
  if (PC) {
    window.RTCPeerConnection = function (...args) { const pc = new PC(...args); probe.pcs.push(pc); return pc; };
    window.RTCPeerConnection.prototype = PC.prototype;
    Object.setPrototypeOf(window.RTCPeerConnection, PC);
  }
  const BLOCKS = 12;
  const band = document.createElement('canvas'); band.width = 240; band.height = 8;
  const bctx = band.getContext('2d', {willReadFrequently: true});
  const full = document.createElement('canvas');
  const read = (v) => {
    const vw = v.videoWidth, vh = v.videoHeight;
    if (!vw || !vh) return -1;
    bctx.drawImage(v, 0, vh * 450 / 480, vw, vh * 20 / 480, 0, 0, 240, 8);
    const d = bctx.getImageData(0, 0, 240, 8).data;
    let bits = [];
    for (let b = 0; b < BLOCKS; b++) {
      let s = 0, n = 0;
      for (let y = 2; y < 6; y++) for (let x = Math.floor((b + .3) * 20); x < Math.floor((b + .7) * 20); x++) {
        const i = (y * 240 + x) * 4; s += .299 * d[i] + .587 * d[i + 1] + .114 * d[i + 2]; n++;
      }
      const lum = s / n;
      if (lum > 90 && lum < 166) return -1;
      bits.push(lum > 128 ? 1 : 0);
    }
    if (bits[0] === 0 && bits[BLOCKS - 1] === 1) bits = bits.reverse();
    else if (!(bits[0] === 1 && bits[BLOCKS - 1] === 0)) return -1;
    let n = 0; for (let b = 1; b < BLOCKS - 1; b++) n = n * 2 + bits[b];
    return n;
  };
  const watch = (v, kind) => {
    probe.watched.add(v);
    const cb = (now, md) => {
      // the camera is regular, so a third of its frames is enough to time all of them (and
      // leaves the page's thread to paint the returned video)
      if (kind === 'local') {
        if (probe.localSeen++ % probe.localEvery === 0) probe.local.push([now, read(v), md.captureTime ?? null]);
      } else {
        const c = read(v);
        probe.remote.push([now, c, md.expectedDisplayTime ?? now, v.videoWidth, v.videoHeight, md.presentedFrames]);
        if (c >= 0 && c !== probe.lastShotCounter && now - probe.lastShot >= probe.shotEveryMs
            && probe.shots.length < 400) {
          full.width = v.videoWidth; full.height = v.videoHeight;
          full.getContext('2d').drawImage(v, 0, 0);
          probe.shots.push([c, now, full.toDataURL('image/jpeg', 0.92)]);
          probe.lastShot = now; probe.lastShotCounter = c;
        }
      }
      v.requestVideoFrameCallback(cb);
    };
    v.requestVideoFrameCallback(cb);
  };
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await gum(constraints);
    if (stream.getVideoTracks().length) {
      const v = document.createElement('video');
      v.muted = true; v.playsInline = true; v.autoplay = true; v.srcObject = stream;
      v.style.cssText = 'position:fixed;left:0;top:0;width:32px;height:24px;opacity:0.01;pointer-events:none';
      (document.body || document.documentElement).appendChild(v);
      probe.localVideo = v;
      v.play().catch(() => {});
      watch(v, 'local');
    }
    return stream;
  };
  setInterval(() => {
    for (const v of document.querySelectorAll('video'))
      if (!probe.watched.has(v) && v !== probe.localVideo && v.srcObject) watch(v, 'remote');
  }, 200);
})();
"""

# WebRTC's counters for the video both ways: what the browser encoded and sent (outbound), what
# came back, was decoded, dropped or delayed in the jitter buffer (inbound).
STATS_JS = """async () => { const p = window.__ferProbe; const out = [];
  for (const pc of (p ? p.pcs : [])) {
    if (pc.connectionState === 'closed') continue;
    (await pc.getStats()).forEach(s => {
      if ((s.type === 'inbound-rtp' || s.type === 'outbound-rtp') && s.kind === 'video') out.push(s); });
  }
  return out; }"""

DRAIN_JS = """() => { const p = window.__ferProbe; if (!p) return null;
  return {local: p.local.splice(0), remote: p.remote.splice(0), shots: p.shots.splice(0)}; }"""


def probe_frame(page):
    """The frame that opened the camera (the WebRTC component's iframe), or None yet."""
    for f in page.frames:
        try:
            if f.evaluate("() => !!(window.__ferProbe && window.__ferProbe.localVideo)"):
                return f
        except Exception:  # a frame navigating or detached
            continue
    return None


@dataclass
class Records:
    local: list
    remote: list
    shots: list

    @classmethod
    def empty(cls) -> "Records":
        return cls([], [], [])

    def add(self, drained: dict | None) -> None:
        if drained:
            self.local += drained["local"]
            self.remote += drained["remote"]
            self.shots += drained["shots"]



def decode_shot(data_url: str) -> np.ndarray:
    raw = base64.b64decode(data_url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)


def true_face_box(i: int, offset: np.ndarray, mirrored: bool) -> np.ndarray:
    """Where the face is in camera frame ``i`` (in the returned picture's coordinates): the
    detector's box on the still face (``offset``, relative to the pasted image) moved with it."""
    x, y = face_origin(i)
    box = offset + np.array([x, y, x, y], np.float32)
    return np.array([W - box[2], box[1], W - box[0], box[3]], np.float32) if mirrored else box


def face_offset() -> np.ndarray:
    """MTCNN's box on the pasted face, relative to the pasted image's corner."""
    from fer import faces

    f = camera_frame(0)
    found = faces.detect(cv2.cvtColor(f, cv2.COLOR_BGR2RGB), refine=False)
    x, y = face_origin(0)
    return np.asarray(found[0].box, np.float32) - np.array([x, y, x, y], np.float32)


def _label_patch(shot_bgr: np.ndarray, ref_bgr: np.ndarray) -> tuple[int, int] | None:
    """(left, bottom) of the face's label: the largest filled patch of one class colour among the
    pixels that differ from the camera frame (boxes are 1 px lines that compression blurs; the
    label is a solid block)."""
    from fer.draw import COLOURS

    diff = np.abs(shot_bgr.astype(np.int16) - ref_bgr.astype(np.int16)).max(axis=2) > 40
    diff[BAND_TOP - 4:] = False
    diff[:40, :200] = False  # the fps label
    best = None
    for rgb in COLOURS.values():
        close = np.abs(shot_bgr.astype(np.int16) - np.array(rgb[::-1], np.int16)).max(axis=2) < 60
        mask = cv2.morphologyEx((diff & close).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 15), np.uint8))  # drop the 1 px box lines
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        for x, y, w, h, area in stats[1:]:
            if w >= 30 and h >= 10 and (best is None or area > best[0]):
                best = (area, int(x), int(y + h - 1))
    return None if best is None else best[1:]


def _label_offset() -> np.ndarray:
    """Where the label patch's (left, bottom) sits relative to its box's (x1, y1), measured by
    drawing one with the app's own annotate()."""
    from fer.draw import annotate
    from fer.labels import CLASSES
    from fer.predict import FaceResult

    ref = camera_frame(0)
    x, y = face_origin(0)
    box = (x + 40.0, y + 40.0, x + 150.0, y + 170.0)
    r = FaceResult(box, None, {c: 1.0 if c == "happy" else 0.0 for c in CLASSES}, "happy", 1.0)
    left, bottom = _label_patch(annotate(ref, [r], bgr=True), ref)
    return np.array([left - box[0], bottom - box[1]], np.float32)


def drawn_corner(shot_bgr: np.ndarray, counter: int, mirrored: bool, label_offset: np.ndarray) -> np.ndarray | None:
    """The top-left corner of the face box drawn on a painted frame, from its label; None if none."""
    ref = camera_frame(counter)
    if mirrored:
        ref = cv2.flip(ref, 1)
    if shot_bgr.shape[:2] != ref.shape[:2]:
        shot_bgr = cv2.resize(shot_bgr, (W, H), interpolation=cv2.INTER_LINEAR)
    found = _label_patch(shot_bgr, ref)
    return None if found is None else np.array(found, np.float32) - label_offset


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _pct(xs, q):
    return round(float(np.percentile(xs, q)), 1) if len(xs) else None


def summarise(rec: Records, t0: float, t1: float, offset: np.ndarray | None = None, loop: int = 3 * PERIOD) -> dict:
    """Figures for the window [t0, t1) of the page's clock (ms). Latency looks up the capture of each
    returned frame in all the local records, also those before the window."""
    seconds = (t1 - t0) / 1000
    local_all = [r for r in rec.local if r[1] >= 0]
    remote = [r for r in rec.remote if t0 <= r[0] < t1]
    remote_ok = [r for r in remote if r[1] >= 0]
    shots = [s for s in rec.shots if t0 <= s[1] < t1]
    # a distinct frame: a painted counter that differs from the one painted before it
    fresh = [r for k, r in enumerate(remote_ok) if k == 0 or r[1] != remote_ok[k - 1][1]]
    # The file loops: unwrap the local counters into camera frame numbers k, whose capture times
    # are then known for every k in between (the camera is regular) even where the local
    # preview skipped a paint. A returned frame is the latest k with its counter captured before it.
    ks, caps, loops, last = [], [], 0, None
    for t, c, cap in local_all:
        if last is not None and c < last - loop // 2:
            loops += 1
        last = c
        ks.append(c + loops * loop)
        caps.append(cap if cap is not None else t)
    latency = []
    if ks:
        ks_arr, caps_arr = np.maximum.accumulate(np.array(ks, float)), np.array(caps, float)
        for t, c, shown, *_ in fresh:
            for m in range(loops + 1, -1, -1):
                k = c + m * loop
                if ks_arr[0] <= k <= ks_arr[-1]:
                    cap = float(np.interp(k, ks_arr, caps_arr))
                    if cap <= shown:
                        latency.append(shown - cap)
                        break
    window_ks = [k for k, (t, _, _) in zip(ks, local_all) if t0 <= t < t1]
    sizes = sorted({(r[3], r[4]) for r in remote})
    # Under load the page's thread runs fewer callbacks than the compositor presents frames
    # (presentedFrames counts them all). Among callbacks one presented frame apart, the share
    # whose counter changed estimates how many presented frames were new ones.
    presented = (remote[-1][5] - remote[0][5]) / seconds if len(remote) > 1 and remote[0][5] is not None else None
    pairs = [(a, b) for a, b in zip(remote_ok, remote_ok[1:]) if b[5] - a[5] == 1]
    new_share = float(np.mean([b[1] != a[1] for a, b in pairs])) if pairs else None
    out = {
        "camera_fps": round((window_ks[-1] - window_ks[0]) / seconds, 2) if len(window_ks) > 1 else None,
        "presented_fps": round(presented, 2) if presented is not None else None,
        "distinct_fps": round(presented * new_share, 2) if presented is not None and new_share is not None else None,
        "distinct_fps_how": "frames presented on the page (presentedFrames) × the share of new frames among "
                            f"{len(pairs)} callbacks one presented frame apart "
                            f"({None if new_share is None else round(new_share, 3)})",
        "callbacks_per_s": round(len(remote) / seconds, 2),
        "distinct_seen_by_callbacks_per_s": round(len(fresh) / seconds, 2),
        "unreadable_painted_share": round(1 - len(remote_ok) / len(remote), 3) if remote else None,
        "latency_ms": {"median": _pct(latency, 50), "p90": _pct(latency, 90), "max": _pct(latency, 100),
                       "n": len(latency),
                       "basis": "expectedDisplayTime of the returned frame − captureTime of the same camera frame"
                       if any(r[2] is not None for r in local_all) else "paint − local paint"},
        "received_sizes": [f"{w}x{h}" for w, h in sizes],
    }
    if offset is not None:
        label_offset = _label_offset()
        errors, missing = [], 0
        for c, _, url in shots:
            img = decode_shot(url)
            read = read_counter(img)
            if read is None:
                continue
            counter, mirrored = read
            truth = true_face_box(counter, offset, mirrored)
            got = drawn_corner(img, counter, mirrored, label_offset)
            if got is None:
                missing += 1
                continue
            errors.append(float(np.hypot(*(got - truth[:2]))))
        out["box"] = {"frames_checked": len(errors) + missing, "without_box": missing,
                      "corner_error_px": {"median": _pct(errors, 50), "p90": _pct(errors, 90),
                                          "max": _pct(errors, 100)},
                      "how": "top-left corner of the drawn box (found from its label) against the detector's box "
                             "on the still face moved with the face"}
    return out


# The Live timeline's times (seconds since START) as the page holds them: plotly sends numpy arrays
# base64-encoded. A function for page.evaluate; null until the chart is drawn.
TIMELINE_X = """() => {
  const TYPES = {f8: Float64Array, f4: Float32Array, i8: BigInt64Array, i4: Int32Array, i2: Int16Array, u1: Uint8Array};
  for (const d of document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
    const title = d.layout && d.layout.xaxis && d.layout.xaxis.title;
    if (!(title && String(title.text || title).includes('since START'))) continue;
    const x = d.data[0].x;
    if (x && x.bdata) {
      const raw = Uint8Array.from(atob(x.bdata), c => c.charCodeAt(0));
      return Array.from(new TYPES[x.dtype](raw.buffer), Number);
    }
    return Array.from(x);
  }
  return null; }"""


def new_frames_js(n: int, shots: int = 0) -> str:
    """A condition for ``wait_for_function``: the returned stream has painted ``n`` distinct frames
    (counters read back) since the records were last drained, and ``shots`` pictures were kept.
    Tests wait for frames within a generous deadline; how fast they come is the bench's business."""
    return (f"() => {{ const p = window.__ferProbe; if (!p) return false; "
            f"return new Set(p.remote.filter(r => r[1] >= 0).map(r => r[1])).size >= {n} "
            f"&& p.shots.length >= {shots}; }}")


# A condition for the page's ``wait_for_function``: the WebRTC component's iframe has opened the camera.
CAMERA_OPEN_JS = ("() => [...document.querySelectorAll('iframe')].some(f => { try { return "
                  "!!(f.contentWindow.__ferProbe && f.contentWindow.__ferProbe.localVideo); } catch (e) { return false; } })")

