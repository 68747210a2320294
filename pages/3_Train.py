"""Train: pick a dataset and a preset, adjust any option, see what it will cost, launch; follow every
run live."""
import streamlit as st

from fer import jobs, settings
from fer.data import names as dataset_names
from fer.store import Run
from fer.training import config as C
from fer.training.launch import launch, presets
from fer.training.trainer import pick_device
from fer.ui import train_form
from fer.ui.run_panel import run_panel

st.set_page_config(page_title="Train · FER Studio", layout="wide")
st.title("Train")
QUICK = "quick"  # preselected: a first model in minutes on a CPU


def choose() -> tuple[str, str, dict, str, str | None] | None:
    """Dataset, preset (with its line and its cost here) and device; None on an empty store."""
    datasets = dataset_names()
    if not datasets:
        st.info("No dataset to train on yet. Import one first:")
        st.code("python -m fer dataset import path/to/fer2013.zip --name fer2013", language="bash")
        return None
    all_presets = presets()
    names = list(all_presets)
    top = st.columns([2, 3, 1])
    dataset = top[0].selectbox("Dataset", datasets, help="a dataset of the store; corrupt and excluded images are "
                               "left out")
    device = top[2].text_input("Device", value=settings.load().device, help="auto, cpu, cuda or cuda:N").strip()
    try:
        kind, device_error = pick_device(device).type, None
    except (ValueError, RuntimeError) as e:
        kind, device_error = "cpu", f"Device {device!r}: {e}"
    if device_error:
        top[2].error(device_error)
    preset = top[1].selectbox("Preset", names, index=names.index(QUICK) if QUICK in names else 0,
                              format_func=lambda p: train_form.preset_label(p, all_presets[p], dataset, kind),
                              help="presets shipped with FER Studio (fer/presets), each with what it would cost "
                                   "here as it stands: every option below starts from it")
    top[1].caption(C.description(all_presets[preset]) or "")
    return dataset, preset, all_presets[preset], device, device_error


def launch_button(cfg: dict, device: str, refused: dict, device_error: str | None) -> None:
    if refused or device_error:
        st.error(f"Not ready: {len(refused) + bool(device_error)} option(s) refused, each said next to it above.")
    if st.button("Train", type="primary", disabled=bool(refused or device_error), key="train"):
        try:
            folder = launch(cfg, device=None if device == "auto" else device)
        except (C.ConfigError, ValueError) as e:
            st.error(f"Not started: {e}")
        else:
            st.success(f"Run `{folder.name}` queued: it trains in its own process and survives leaving this page.")


def train_section() -> None:
    chosen = choose()
    if chosen is None:
        return
    dataset, preset_name, preset, device, device_error = chosen
    cfg, slots = train_form.options(C.resolve(preset), preset_name)
    C.set_key(cfg, "dataset", dataset)
    C.set_key(cfg, "device", device)
    refused = train_form.problems(cfg)
    train_form.show_problems(refused, slots)
    st.subheader("Before you press Train")
    if not refused:
        train_form.review(cfg, dataset, "cpu" if device_error else pick_device(device).type)
    launch_button(cfg, device, refused, device_error)


@st.fragment(run_every=3)
def follow() -> None:
    rows = [j for j in jobs.listing() if j["kind"] == "train"]
    active = [j for j in rows if j["state"] in jobs.ACTIVE]
    recent = [j for j in reversed(rows) if j["state"] not in jobs.ACTIVE][:3]
    st.subheader(f"Runs in progress ({len(active)})")
    if not rows:
        st.caption("No run yet: press Train above.")
    for j in active + recent:
        with st.container(border=True):
            run_panel(Run.open(j["id"]), j["id"])


train_section()
follow()
