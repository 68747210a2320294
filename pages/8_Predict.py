"""Predict: emotions of every face in photos (one or many, or the camera) and in a video file."""
import io
import json
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from fer.draw import annotate, png_bytes
from fer.images import ImageError, load_rgb
from fer.predict import results_table
from fer.ui import charts
from fer.ui.model_io import runtime_choice
from fer.ui.model_picker import picker
from fer.video import VideoError, analyse, probe

st.set_page_config(page_title="Predict · FER Studio", layout="wide")
st.title("Predict")
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
        results = predictor.predict(rgb, whole_image=whole)
        if progress:
            progress.progress((i + 1) / len(uploads), text=f"{i + 1} of {len(uploads)} photos")
        annotated[up.name] = annotate(rgb, results)
        found.append((up.name, results))
        with st.container(border=True):
            st.markdown(f"**{up.name}** · {len(results)} face(s)" + (" (whole image)" if whole else ""))
            if not results:
                st.warning("No face found in this photo.")
                if st.button("Classify the whole image as one face", key=f"btn-whole-{up.name}"):
                    st.session_state[f"whole-{up.name}"] = True
                    st.rerun()
            cols = st.columns([3, 2])
            cols[0].image(annotated[up.name], width="stretch")
            with cols[1]:
                for k, r in enumerate(results[:6]):
                    c = st.columns([1, 3])
                    c[0].image(r.crop, caption=f"face {k + 1}", width=72)
                    c[1].plotly_chart(charts.probability_bars(r.probs, height=210), key=f"bars-{up.name}-{k}")
    table = results_table(found)
    if not table.empty:
        st.subheader("Results")
        st.dataframe(table, hide_index=True, width="stretch")
        d = st.columns(3)
        d[0].download_button("CSV", table.to_csv(index=False), "emotions.csv", "text/csv")
        d[1].download_button("JSON", json.dumps([{"image": n, "faces": table[table.image == n].drop(columns="image")
                                                  .to_dict("records")} for n in table.image.unique()], indent=1),
                             "emotions.json", "application/json")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, img in annotated.items():
                zf.writestr(f"{Path(name).stem}_annotated.png", png_bytes(img))
        d[2].download_button("Annotated images (zip)", buf.getvalue(), "annotated.zip", "application/zip")

with video_tab:
    video = st.file_uploader("A video (MP4, WebM, AVI)", type=["mp4", "webm", "avi", "mov", "mkv"], key="video")
    every = st.slider("Analyse every k-th frame", 1, 30, 5, key="every")
    if video is None:
        st.info("Upload a video: the emotions of its faces over time, as a plot and a CSV.")
    elif st.button("Analyse", type="primary", key="analyse"):
        with tempfile.NamedTemporaryFile(suffix=Path(video.name).suffix) as tmp:
            tmp.write(video.getvalue())
            tmp.flush()
            try:
                info = probe(tmp.name)
            except VideoError as e:
                st.error(str(e))
                st.stop()
            bar = st.progress(0.0, text="analysing…")
            timeline, shots = analyse(tmp.name, predictor, every=every,
                                      progress=lambda done, total: bar.progress(min(1.0, done / total),
                                                                                text=f"frame {done} of {total}"))
        st.session_state["timeline"] = (video.name, info, timeline, shots)
    if "timeline" in st.session_state:
        name, info, timeline, shots = st.session_state["timeline"]
        st.caption(f"{name}: {info['frames']} frames at {info['fps']:.1f} fps, {info['width']}×{info['height']}")
        first = timeline[timeline["face"] == 0]
        if first.empty:
            st.warning("No face was found in the analysed frames.")
        else:
            st.plotly_chart(charts.emotion_timeline(first), key="timeline")
            st.caption("Dominant emotion over the video: " + ", ".join(
                f"{k} {v:.0%}" for k, v in first["label"].value_counts(normalize=True).items()))
        if shots:
            st.image(shots, width=220, caption=[f"preview {i + 1}" for i in range(len(shots))])
        st.download_button("Timeline (CSV)", timeline.to_csv(index=False), f"{Path(name).stem}_emotions.csv", "text/csv")
