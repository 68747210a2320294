"""Live: emotions on the browser's camera, in real time (WebRTC). Frames stay in memory."""
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer import settings
from fer.draw import png_bytes
from fer.live import FrameProcessor, LiveStream, release_memory
from fer.ui import charts, page
from fer.ui.model_io import runtime_choice
from fer.ui.model_picker import picker
from fer.ui.painted import painted_fps_label

# What the browser is asked for: 640×480 holds faces at arm's length and keeps encoding and
# decoding cheap on both sides; more than 30 frames/s would only be dropped.
CAMERA = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30, "max": 30}},
          "audio": False}
TIMELINE_POINTS = 240  # the chart's resolution: half a second over the last two minutes

page.start("Live")
st.caption("Privacy: camera frames are processed in memory on this server and never written; only a snapshot you "
           "download leaves it. Off localhost, browsers only open the camera over HTTPS.")

predictor = picker("live", runtime=runtime_choice("live"))
if predictor is None:
    st.stop()
every = st.sidebar.slider("Detect every k frames", 1, 15, 4, help="faces are followed by optical flow in between, "
                          "and detected again at once when the flow loses them")
smoothing = st.sidebar.slider("Smoothing", 0.0, 0.95, 0.6, 0.05, help="weight of the past in the moving average")
mirror = st.sidebar.toggle("Mirror", value=True, help="show the picture as a mirror does; labels stay readable")

# One processor per browser session, model and runtime; its settings follow the sidebar while it runs.
key = f"live-{predictor.folder}-{predictor.detector}-{predictor.runtime}"
if st.session_state.get("live_key") != key:
    st.session_state.live_key = key
    st.session_state.live_processor = FrameProcessor(predictor)
processor: FrameProcessor = st.session_state.live_processor
processor.detect_every, processor.smoothing, processor.mirror = every, smoothing, mirror

# One LiveStream per START: the previous one ended with its camera track. Its timeline stays on
# screen until the new one has frames.
stream: LiveStream | None = st.session_state.get("live_stream")
if stream is None or stream.ended:
    if stream is not None and stream.started is not None:
        st.session_state.live_previous = stream
        # Streamlit's collection after every run is off (.streamlit/config.toml): free the
        # ended connection now, once, while no video runs.
        release_memory()
    stream = st.session_state.live_stream = LiveStream(processor)
stream.processor = processor

left, right = st.columns([3, 2])
with left:
    webrtc_streamer(
        key="live",
        mode=WebRtcMode.SENDRECV,
        rtc_configuration={"iceServers": settings.load().ice_servers},
        media_stream_constraints=CAMERA,
        sink_video_track=stream.sink,
        player_factory=stream.player,
    )
    if st.button("Snapshot", help="the current annotated frame, to look at and download"):
        frame = stream.latest if stream.latest is not None else getattr(st.session_state.get("live_previous"),
                                                                         "latest", None)
        if frame is None:
            st.warning("No frame yet: press START first.")
        else:
            png = png_bytes(frame[:, :, ::-1])
            st.image(png, caption="snapshot")
            st.download_button("Download the snapshot (PNG)", png, "snapshot.png", "image/png")


@st.fragment(run_every=1.0)  # once a second is enough for a person, and leaves the video alone
def timeline() -> None:
    current: LiveStream = st.session_state.live_stream
    shown = current if current.started is not None else st.session_state.get("live_previous")
    live = shown is not None and not shown.ended
    if shown is None:
        st.info("Press START and allow the camera: the current emotion and its timeline appear here.")
        return
    if shown.error:
        st.error(f"Frames are shown without faces: {shown.error}")
    st.caption(f"{shown.received} camera frames received, {shown.processed} processed, {shown.dropped} skipped "
               "for a newer one" + (f"; {shown.fps:.1f} frames/s sent" if live else " · stopped"))
    now = next((r for r in reversed(shown.timeline()) if r["probs"]), None)
    if now is None:
        st.info("No face yet: look into the camera.")
        return
    st.metric("emotion now", f"{now['label']} ({now['probs'][now['label']]:.0%})")
    chart = charts.emotion_timeline(shown.emotions(TIMELINE_POINTS), height=300)
    st.plotly_chart(chart.update_layout(xaxis_title="seconds since START"), key="live-timeline")
    st.plotly_chart(charts.probability_bars(now["probs"]), key="live-bars")


with right:
    painted_fps_label()  # counted by the browser: what reaches the screen, not what the server sent
    timeline()
