"""Dataset: bring datasets in, look at what they hold, preview face alignment, manage them."""
import pandas as pd
import streamlit as st

from fer import actions, faces, settings, store
from fer.store import Job, layout
from fer.data import DatasetError, FORMATS, SourceError, SourceSpec, info, names
from fer.data import importing, stats
from fer.data.align import CROP_SIDE, preview_image
from fer.draw import detections
from fer.images import ImageError, load_rgb
from fer.labels import CLASSES
from fer.ui import access, page, params
from fer.ui.run_panel import follow_jobs
from fer.ui.data import (alignment_preview, explore, explore_figures, manifest, manifest_csv, manifest_parquet,
                         thumbnail)

actor = page.start("Dataset")
datasets = names()
import_tab, explore_tab, faces_tab, manage_tab = st.tabs(["Import", "Explore", "Faces", "Manage"])


def data_jobs() -> list[dict]:
    """Imports and alignments, followed; the page reruns when one ends (one key: one rerun)."""
    return follow_jobs(("import", "align"), "dataset")


# -- import ------------------------------------------------------------------------------------
with import_tab:
    with st.container():  # the job panel below keeps its place whatever messages come and go here
        st.markdown("Several sources make one dataset; the format of each is detected unless you name it.")
        read_only = access.locked(actor, "import datasets")
        if st.session_state.pop("import-queued", False):  # a fresh form once the import is on its way
            st.session_state["new-name"] = ""
        name = st.text_input("Dataset name", key="new-name", help=importing.NAME_RULE)
        problem = importing.name_problem(name)  # said before anything is uploaded or queued
        if problem:
            (st.error if name else st.caption)(problem)
        sources = st.session_state.setdefault("sources", [])
        kind = st.radio("Source", ["a folder on the server", "an uploaded zip"], horizontal=True)
        c = st.columns([3, 1, 1])
        fmt = c[1].selectbox("Format", ["auto"] + list(FORMATS), key="new-format")
        if kind == "a folder on the server":
            path = c[0].text_input("Folder, zip or CSV on the server", key="new-path",
                                   help=f"inside the import roots: {', '.join(settings.load().import_roots)}")
            if c[2].button("Add", key="add-path", disabled=read_only):
                try:
                    sources.append({"location": str(importing.check_folder(path)),
                                    "format": None if fmt == "auto" else fmt})
                except (SourceError, ValueError) as e:
                    st.error(str(e))
        else:
            up = c[0].file_uploader("A zip of images", type=["zip"], key="new-zip")
            if c[2].button("Add", key="add-zip", disabled=up is None or problem is not None or read_only,
                           help="the zip is kept inside the dataset's folder: name the dataset first"):
                try:
                    saved = actions.datasets.add_upload(actor, name, up.name, up.getvalue())
                    sources.append({"location": str(saved), "format": None if fmt == "auto" else fmt})
                except (SourceError, ValueError, actions.Refused) as e:
                    st.error(f"{up.name}: {e}" if up else str(e))
        if sources:
            st.dataframe(pd.DataFrame(sources), hide_index=True, width="stretch", placeholder="—")
            if st.button("Clear the sources"):
                sources.clear()
                st.rerun()
        typed = st.text_area("Label mapping (one per line)", key="new-map",
                             placeholder="joy=happy\n0=angry\ncontempt=drop")
        mapping = [m.strip() for m in typed.splitlines() if m.strip()]
        align = st.checkbox("Detect and align the faces after the import", key="new-align")
        c = st.columns(2)
        specs = [SourceSpec(s["location"], s["format"]) for s in sources]
        if c[0].button("Preview", disabled=not sources, help="counts per class before anything is written"):
            try:
                p = importing.preview(specs, mapping)
                st.write("Formats: " + ", ".join(f"{k} → {v}" for k, v in p["formats"].items()))
                table = p["counts"].assign(total=lambda d: d.sum(axis=1))
                st.dataframe(table, width="stretch", placeholder="—")
                st.caption("Dropped: " + (", ".join(f"{k} ({v})" for k, v in p["dropped"].items()) or "nothing"))
            except (SourceError, DatasetError, ValueError) as e:
                st.error(str(e))
        if c[1].button("Import", type="primary", disabled=not sources or problem is not None or read_only):
            try:
                actions.datasets.import_dataset(actor, specs, name, mapping, align=align)
                st.success(f"Importing {name} as a job: it goes on if you leave this page.")
                sources.clear()
                st.session_state["import-queued"] = True
            except (SourceError, DatasetError, ValueError, actions.Refused) as e:
                st.error(str(e))
    for job in data_jobs():
        if job["kind"] == "import" and job["state"] == "finished":  # show what it wrote
            st.query_params["dataset"] = Job.open(job["id"]).spec()["args"]["name"]

if not datasets:
    for tab in (explore_tab, faces_tab, manage_tab):
        with tab:
            st.info("No dataset yet: import one in the Import tab, or with "
                    "`python -m fer dataset import path/to/fer2013.zip --name fer2013`.")
    st.stop()

chosen = params.choose(st.sidebar.selectbox, "Dataset", datasets, "dataset", "dataset", key="dataset-chosen")
other = st.sidebar.selectbox("Side by side with", ["—"] + [d for d in datasets if d != chosen], key="dataset-other")
shown = [chosen] + ([other] if other != "—" else [])

# -- explore -----------------------------------------------------------------------------------
with explore_tab:
    shares = st.toggle("Shares instead of counts")
    cols = st.columns(len(shown))
    for col, ds in zip(cols, shown):
        x = explore(ds)
        d = info(ds)
        with col:
            st.subheader(ds)
            st.caption(f"{d['rows']:,} images · sources: " + ", ".join(f"{k} ({v['format']})" for k, v in d["sources"].items()))
            by = st.session_state.get(f"hist-{ds}", "label_name")  # the radio below sets it: one cached call
            figures = explore_figures(ds, shares, by)
            for by_ in ("split", "source"):
                st.plotly_chart(figures[f"dist-{by_}"], key=f"dist-{ds}-{by_}")
            b = x["balance"]
            st.markdown(f"Imbalance ratio (train, largest / smallest class): **{b['imbalance_ratio']:.1f}**"
                        if b["imbalance_ratio"] else "No training images.")
            st.dataframe(pd.DataFrame([b["weights"]], index=["sampler weight N/(C·N_c)"]), width="stretch",
                         placeholder="—")
            leak = x["leakage"]
            st.markdown(f"Duplicates: **{leak['groups']:,}** byte-identical groups over {leak['files']:,} files, "
                        f"**{leak['groups_across_splits']:,}** across splits, **{leak['groups_with_conflicting_labels']:,}** "
                        f"with conflicting labels; {leak['near_groups']:,} near-duplicate groups.")
            if st.button("Review them on Quality →", key=f"review-{ds}", type="tertiary"):  # in this tab
                st.switch_page("pages/2_Quality.py", query_params={"dataset": ds, "check": "duplicates across splits"})
            st.dataframe(x["sizes"], hide_index=True, width="stretch", placeholder="—")
            st.caption("Modes: " + ", ".join(f"{k} {v:,}" for k, v in x["modes"].items()))
            st.radio("Histograms by", ["label_name", "source"], horizontal=True, key=f"hist-{ds}")
            for stat in ("mean", "std"):
                st.plotly_chart(figures[f"hist-{stat}"], key=f"h-{ds}-{stat}")
            st.download_button("Manifest (CSV)", manifest_csv(ds), f"{ds}_manifest.csv", "text/csv", key=f"csv-{ds}")
            st.download_button("Manifest (parquet)", manifest_parquet(ds), f"{ds}_{layout.MANIFEST}", key=f"pq-{ds}")

    st.subheader(f"Samples of {chosen}")
    c = st.columns([2, 1])
    source_filter = c[0].multiselect("Sources", sorted(manifest(chosen)["source"].unique()))
    if c[1].button("Reshuffle"):
        st.session_state["sample_seed"] = st.session_state.get("sample_seed", 0) + 1
    seed = st.session_state.get("sample_seed", 0)
    df = manifest(chosen)
    df = df[~df["q_corrupt"] & (df["source"].isin(source_filter) if source_filter else True)]
    for cls in CLASSES:
        rows = df[df["label_name"] == cls]
        if rows.empty:
            continue
        pick = rows.sample(min(8, len(rows)), random_state=seed)
        st.caption(f"{cls} ({len(rows):,})")
        grid = st.columns(8)
        for k, (_, r) in enumerate(pick.iterrows()):
            img = thumbnail(chosen, r["path"])
            if img is not None:
                grid[k].image(img, caption=f"{r['source']} · {r['split']}", width=80)

# -- faces -------------------------------------------------------------------------------------
with faces_tab:
    d = info(chosen)
    crop = d.get("crop")
    if d.get("faces"):
        f = d["faces"]
        st.success(f"Aligned: {f['found']:,} faces, {f['no_face']:,} without a face, {f['shape'][1]} px, "
                   f"{'detected' if f['detected'] else 'ready-made crops resized'} ({f['created']}).")
    elif crop and crop.get("ready_made"):
        st.info(f"Ready-made face crops ({crop['size']} px, {'grayscale' if crop['grayscale'] else 'RGB'}): "
                "training uses them as they are; aligning only resizes them.")
    else:
        st.info("Not aligned yet: training would use centre crops of whole images.")
    c = st.columns(3)
    detector = c[0].selectbox("Detector", faces.METHODS)
    size = c[1].number_input("Crop size (px)", 16, 512, int((crop or {}).get("size", 112)) if crop else 112)
    why = actor.why_not("align datasets")
    if c[2].button("Align this dataset", key=f"align-dataset-{chosen}", disabled=bool(why),
                   help=why or "runs as a job; the aligned crops are written beside the manifest"):
        try:
            actions.datasets.align(actor, chosen, detector, int(size))
            st.success(f"Alignment of {chosen} queued.")
        except (DatasetError, ValueError, actions.Refused) as e:
            st.error(str(e))
    data_jobs()

    st.subheader("Alignment preview")
    st.caption("Images that are already face crops (the source's format says so, as for FER2013 and CK+48, or "
               f"every image of the source is square and at most {CROP_SIDE} px) are resized, not detected, and "
               "never flagged 'no face'.")
    margin = st.slider("Margin", 0.0, 0.6, 0.3, 0.05)
    up = st.file_uploader("Or try a photo of your own", type=["jpg", "jpeg", "png", "webp", "bmp"], key="align-up")
    if up is not None:
        try:
            samples = [("upload", preview_image(load_rgb(up.getvalue()), False, detector, margin))]
        except ImageError as e:
            st.error(f"{up.name}: {e}")
            samples = []
    else:
        samples = alignment_preview(chosen, st.session_state.get("sample_seed", 0), detector, margin)
    for label, p in samples:
        c = st.columns([2, 1, 3])
        c[0].image(detections(p["image"], p["faces"]), caption=label, width=220)
        if p["aligned"] is not None:
            c[1].image(p["aligned"], caption="as training sees it", width=112)
        c[2].caption(p["how"])

# -- manage ------------------------------------------------------------------------------------
with manage_tab:
    use = stats.disk_use()
    st.dataframe(use, hide_index=True, width="stretch", placeholder="—")
    st.caption(f"Store: {store.disk_usage(store.root()) / 2**20:,.1f} MiB in {store.root()}")
    locked = access.locked(actor, "rename, re-import or delete datasets")
    # every widget below names the dataset it acts on, in its key and its label: one left from the
    # dataset shown before can never act on this one
    c = st.columns(3)
    with c[0]:
        new = st.text_input(f"New name for {chosen}", value=chosen, key=f"rename-{chosen}", disabled=locked)
        if st.button(f"Rename {chosen}", key=f"rename-button-{chosen}", disabled=locked):
            try:
                actions.datasets.rename(actor, chosen, new)
                st.query_params["dataset"] = new
                st.rerun()
            except (DatasetError, ValueError, OSError, actions.Refused) as e:
                st.error(str(e))
    with c[1]:
        if st.button(f"Re-import {chosen}", key=f"reimport-{chosen}", disabled=locked,
                     help="the same sources, formats, mapping and seed, as a job; decisions are kept"):
            try:
                actions.datasets.reimport(actor, chosen)
                st.success(f"Re-import of {chosen} queued.")
            except (DatasetError, SourceError, ValueError, actions.Refused) as e:
                st.error(str(e))
    with c[2]:
        sure = st.checkbox(f"Yes, delete {chosen} (its manifest, crops and decisions; sources outside the store stay)",
                           key=f"delete-sure-{chosen}", disabled=locked)
        if st.button(f"Delete {chosen}", key=f"delete-{chosen}", disabled=locked or not sure):
            try:
                actions.datasets.delete(actor, chosen)
            except (DatasetError, ValueError, OSError, actions.Refused) as e:
                st.error(str(e))
            else:
                st.query_params.pop("dataset", None)  # the sidebar shows a dataset that is still there
                st.rerun()

    st.markdown("Import roots, device, jobs at once and the camera's ICE servers: [Settings →](/Settings)")
