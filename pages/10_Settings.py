"""Settings: what the app may import from, where it trains, how many jobs run at once, the
camera's STUN/TURN servers, the limits against decompression bombs and on videos. Environment variables
still win over what is saved here."""
import json

import pandas as pd
import streamlit as st

from fer import actions, settings
from fer.ui import access, page

actor = page.start("Settings")

try:
    s = settings.load()
except ValueError as e:
    st.error(f"The settings cannot be read: {e}. Fix or delete the file; saving here replaces it.")
    s = settings.Settings(import_roots=settings.default_import_roots(),
                          origin={k: "default" for k in settings.KEYS})

st.dataframe(pd.DataFrame([{"setting": k, "value": str(getattr(s, k)), "from": s.origin.get(k, "default")}
                           for k in settings.KEYS]), hide_index=True, width="stretch", placeholder="—")
overridden = [f"{k} ({s.origin[k]})" for k in settings.KEYS if s.origin.get(k, "").startswith("FER_")]
if overridden:
    st.warning("Set by environment variables, which win over this file: " + ", ".join(overridden))
if access.locked(actor, "change the settings"):
    st.stop()  # the table above is the read-only view

with st.form("settings"):
    roots = st.text_area("Import roots (one per line)", "\n".join(s.import_roots),
                         help="folders the Dataset page may import from (uploads are always allowed)")
    device = st.text_input("Device", s.device, help="auto, cpu, cuda or cuda:N")
    max_jobs = st.number_input("Jobs at once", 1, 64, int(s.max_jobs),
                               help="imports, trainings and evaluations that run at once; more wait in a queue")
    ice = st.text_area("ICE servers (JSON)", json.dumps(s.ice_servers),
                       help='e.g. [{"urls": ["stun:stun.example.org:3478"]}]; none needed on localhost')
    st.caption("Limits on what an import reads (decompression bombs): a file over its limit is flagged, never read.")
    c = st.columns(4)
    limits = {
        "max_image_mib": c[0].number_input("Largest image (MiB)", 1, 1 << 20, int(s.max_image_mib)),
        "max_file_mib": c[1].number_input("Largest other file (MiB)", 1, 1 << 20, int(s.max_file_mib),
                                          help="a CSV, a label list, ..."),
        "zip_max_members": c[2].number_input("Most members in a zip", 1, 1 << 31, int(s.zip_max_members)),
        "zip_max_ratio": c[3].number_input("Largest zip compression ratio", 1.0, 1e6, float(s.zip_max_ratio),
                                           help="unpacked size / packed size"),
    }
    st.caption("Limits on a video analysed on the Predict page: a video over one is refused before it is analysed.")
    c = st.columns(4)
    limits |= {
        "video_max_mib": c[0].number_input("Largest video (MiB)", 1, 1 << 20, int(s.video_max_mib)),
        "video_max_seconds": c[1].number_input("Longest video (s)", 1.0, 1e7, float(s.video_max_seconds)),
        "video_max_frames": c[2].number_input("Most frames in a video", 1, 1 << 31, int(s.video_max_frames)),
    }
    st.caption("Where trainings, sweep trials and evaluations run, and where sweeps are kept.")
    c2 = st.columns(3)
    backend = c2[0].selectbox("Jobs backend", settings.BACKENDS, index=settings.BACKENDS.index(s.jobs_backend),
                              help="local: processes on this machine; ray: a Ray cluster's job API (every node must "
                                   "see this store at the same path)")
    ray_address = c2[1].text_input("Ray address", s.ray_address, help="the Ray dashboard's URL")
    study_storage = c2[2].text_input("Study storage", s.study_storage, placeholder="SQLite in the store",
                                     help="empty, or an SQLAlchemy URL (postgresql://...) shared by several machines")
    if backend == "ray" and not settings.ray_installed():
        st.warning("Ray is not installed here: `pip install 'fer-studio[ray]'` (or `pip install -r "
                   "requirements-ray.txt`) enables the ray backend.")
    if st.form_submit_button("Save settings", type="primary"):
        try:
            new = settings.Settings(import_roots=[r.strip() for r in roots.splitlines() if r.strip()],
                                    device=device.strip(), max_jobs=int(max_jobs), ice_servers=json.loads(ice or "[]"),
                                    jobs_backend=backend, ray_address=ray_address.strip(),
                                    study_storage=study_storage.strip(),
                                    **{k: settings.LIMITS[k][1](v) for k, v in limits.items()})
            st.success(f"Saved to {actions.settings.save(actor, new)} (environment variables still win).")
        except (ValueError, json.JSONDecodeError) as e:
            st.error(f"Not saved: {e}")
