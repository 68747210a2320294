"""Live: emotions on the browser's camera, in real time (WebRTC). Frames stay in memory."""
import queue

import pandas as pd
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer import settings
from fer.draw import png_bytes
from fer.live import FrameProcessor, make_callback
from fer.ui import charts
from fer.ui.model_io import runtime_choice
from fer.ui.model_picker import picker

st.set_page_config(page_title="Live · FER Studio", layout="wide")
st.title("Live")
st.caption("Privacy: camera frames are processed in memory on this server and never written; only a snapshot you "
           "download leaves it. Off localhost, browsers only open the camera over HTTPS.")

predictor = picker("live", runtime=runtime_choice("live"))
if predictor is None:
    st.stop()
every = st.sidebar.slider("Detect every k frames", 1, 15, 4, help="faces are followed by optical flow in between")
smoothing = st.sidebar.slider("Smoothing", 0.0, 0.95, 0.6, 0.05, help="weight of the past in the moving average")
mirror = st.sidebar.toggle("Mirror", value=True)

# One processor, queue and snapshot holder per browser session; the callback runs in a worker thread.
key = f"live-{predictor.folder}-{predictor.detector}-{predictor.runtime}"
if st.session_state.get("live_key") != key:
    st.session_state.live_key = key
    st.session_state.live_processor = FrameProcessor(predictor)
    st.session_state.live_queue = queue.Queue(maxsize=600)
    st.session_state.live_latest = {}
    st.session_state.live_history = []
processor: FrameProcessor = st.session_state.live_processor
processor.detect_every, processor.smoothing, processor.mirror = every, smoothing, mirror

left, right = st.columns([3, 2])
with left:
    ctx = webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": settings.load().ice_servers},
        media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
        video_frame_callback=make_callback(processor, st.session_state.live_queue, st.session_state.live_latest),
        async_processing=True,
    )
    if st.button("Snapshot", help="the current annotated frame, to look at and download"):
        frame = st.session_state.live_latest.get("frame")
        if frame is None:
            st.warning("No frame yet: press START first.")
        else:
            png = png_bytes(frame[:, :, ::-1])
            st.image(png, caption="snapshot")
            st.download_button("Download the snapshot (PNG)", png, "snapshot.png", "image/png")


@st.fragment(run_every=0.5)
def timeline() -> None:
    history = st.session_state.live_history
    q = st.session_state.live_queue
    while True:
        try:
            history.append(q.get_nowait())
        except queue.Empty:
            break
    del history[:-600]  # the last minute or so
    seen = [h for h in history if h["probs"]]
    st.metric("frames/s", f"{history[-1]['fps']:.1f}" if history else "—")
    if not seen:
        st.info("Press START and allow the camera: the current emotion and its timeline appear here.")
        return
    now = seen[-1]
    st.metric("emotion now", f"{now['label']} ({now['probs'][now['label']]:.0%})")
    df = pd.DataFrame([{"time": h["time"], **h["probs"]} for h in seen])
    st.plotly_chart(charts.emotion_timeline(df, height=300), key="live-timeline")
    st.plotly_chart(charts.probability_bars(now["probs"]), key="live-bars")


with right:
    timeline()
