"""Predict: emotions of every face in photos (one or many, or the camera) and in a video file (a
job: a timeline, a CSV and an annotated MP4)."""
import io
import json
import zipfile
from pathlib import Path

import streamlit as st

from fer.draw import annotate, png_bytes
from fer.images import ImageError, load_rgb
from fer import actions
from fer.predict import image_record, results_table
from fer.ui import charts, page
from fer.ui.model_io import runtime_choice
from fer.ui.model_picker import picker
from fer.ui.run_panel import follow_jobs
from fer.ui.videos import analyses, results
from fer.video import VideoLimits, describe

actor = page.start("Predict")
predictor = picker("predict", runtime=runtime_choice("predict"))
if predictor is None:
    st.stop()
st.caption(f"{predictor.label}: faces found with {predictor.detector}, cut as the model was trained "
           f"({predictor.size} px, {'grayscale' if predictor.channels == 1 else 'RGB'}).")


photos_tab, video_tab = st.tabs(["Photos", "Video"])

with photos_tab:
    uploads = st.file_uploader("Photos (JPEG, PNG, WebP, BMP)", type=["jpg", "jpeg", "png", "webp", "bmp"],
                               accept_multiple_files=True, key="photos")
    if st.toggle("Take a photo with the camera", key="use_camera"):
        shot = st.camera_input("Camera", key="camera")
        uploads = list(uploads or []) + ([shot] if shot else [])
    if not uploads:
        st.info("Upload one or more photos: every face in them gets its emotion.")
    found, annotated = [], {}
    progress = st.progress(0.0, text="…") if len(uploads or []) > 1 else None
    for i, up in enumerate(uploads or []):
        data = up.getvalue()
        try:
            rgb = load_rgb(data)
        except ImageError as e:
            st.error(f"{up.name}: {e}")
            continue
        whole = st.session_state.get(f"whole-{up.name}", False)
        faces = predictor.predict(rgb, whole_image=whole)
        if progress:
            progress.progress((i + 1) / len(uploads), text=f"{i + 1} of {len(uploads)} photos")
        annotated[up.name] = annotate(rgb, faces, numbered=True)  # the numbers of the crops and the table
        found.append((up.name, faces))
        with st.container(border=True):
            st.markdown(f"**{up.name}** · {len(faces)} face(s)" + (" (whole image)" if whole else ""))
            if not faces:
                st.warning("No face found in this photo.")
                if st.button("Classify the whole image as one face", key=f"btn-whole-{up.name}"):
                    st.session_state[f"whole-{up.name}"] = True
                    st.rerun()
            cols = st.columns([3, 2])
            cols[0].image(annotated[up.name], width="stretch")
            with cols[1]:
                for k, r in enumerate(faces[:6]):
                    c = st.columns([1, 3])
                    c[0].image(r.crop, caption=f"face {k + 1}", width=72)
                    c[1].plotly_chart(charts.probability_bars(r.probs, height=210), key=f"bars-{up.name}-{k}")
    table = results_table(found, predictor.identity())
    if not table.empty:
        st.subheader("Results")
        st.dataframe(table, hide_index=True, width="stretch", placeholder="—")
        d = st.columns(3)
        d[0].download_button("CSV", table.to_csv(index=False), "emotions.csv", "text/csv")
        d[1].download_button("JSON", json.dumps([image_record(n, r, predictor.identity()) for n, r in found], indent=1),
                             "emotions.json", "application/json")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, img in annotated.items():
                zf.writestr(f"{Path(name).stem}_annotated.png", png_bytes(img))
        d[2].download_button("Annotated images (zip)", buf.getvalue(), "annotated.zip", "application/zip")

with video_tab:
    limits = VideoLimits.from_settings()
    video = st.file_uploader("A video (MP4, WebM, AVI, MOV, MKV)", type=["mp4", "webm", "avi", "mov", "mkv", "m4v"],
                             max_upload_size=max(1, int(limits.max_mib)),  # the uploader says the setting's limit
                             key="video")
    every = st.slider("Analyse every k-th frame", 1, 30, 5, key="every")
    st.caption(f"Analysed as a job, so it goes on if you leave the page. Up to {limits.max_mib:g} MiB, "
               f"{limits.max_seconds:g} s and {limits.max_frames:,} frames (the video limits in Settings).")
    why = actor.why_not("analyse videos")
    if why:
        st.info(why, icon=":material/lock:")
    if st.button("Analyse", type="primary", key="analyse", disabled=video is None or bool(why)):
        try:
            folder = actions.videos.start(actor, video.name, video.getvalue(), predictor.model_version.ref, every,
                                          predictor.detector)
            st.session_state["video-job"] = folder.name
        except ValueError as e:  # unreadable, endless or over a limit: nothing kept, nothing queued
            st.error(str(e))
    follow_jobs(("video",), "predict-video")
    done = analyses()
    if not done:
        st.info("Upload a video: the emotions of its faces over time (a plot and a CSV) and an annotated copy.")
        st.stop()
    ids = list(done)
    mine = st.session_state.get("video-job")
    shown = st.selectbox("Analysis", ids, index=ids.index(mine) if mine in ids else 0, format_func=done.get,
                         key=f"video-shown-{mine}")
    found = results(shown)
    if found is None:
        st.caption("Nothing to show yet for this analysis: it is queued, running, or it ended without results.")
        st.stop()
    info, timeline = found["info"], found["timeline"]
    st.caption(describe(info))
    stem = Path(info["video"]).stem
    left, right = st.columns([3, 2])
    with left:
        if found["annotated_bytes"]:
            st.video(found["annotated_bytes"], format="video/mp4")
    with right:
        first = timeline[timeline["face"] == 0]
        if first.empty:
            st.warning("No face was found in the analysed frames.")
        else:
            st.plotly_chart(charts.emotion_timeline(first), key="timeline")
            st.caption("Dominant emotion over the video: " + ", ".join(
                f"{k} {v:.0%}" for k, v in first["label"].value_counts(normalize=True).items()))
    if found["previews"]:
        st.image(found["previews"], width=220, caption=[f"preview {i + 1}" for i in range(len(found["previews"]))])
    d = st.columns(2)
    d[0].download_button("Timeline (CSV)", timeline.to_csv(index=False), f"{stem}_emotions.csv", "text/csv")
    if found["annotated_bytes"]:
        d[1].download_button("Annotated video (MP4)", found["annotated_bytes"], f"{stem}_annotated.mp4", "video/mp4")
