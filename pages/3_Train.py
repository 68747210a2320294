"""Train: pick a dataset and a preset, adjust any option, launch; follow every run live."""
import streamlit as st
import yaml

from fer import jobs, settings
from fer.data import names as dataset_names
from fer.training import config as C
from fer.training.launch import launch, presets
from fer.store import Run
from fer.ui.run_panel import run_panel
from fer.ui.sweep_panel import sweep_panel

st.set_page_config(page_title="Train · FER Studio", layout="wide")
st.title("Train")

datasets = dataset_names()
if not datasets:
    st.info("No dataset to train on yet. Import one first:")
    st.code("python -m fer dataset import path/to/fer2013.zip --name fer2013", language="bash")
    st.stop()

all_presets = presets()
top = st.columns([2, 2, 1])
dataset = top[0].selectbox("Dataset", datasets, help="a dataset of the store; corrupt and excluded images are left out")
preset_name = top[1].selectbox("Preset", list(all_presets), index=list(all_presets).index("fer2013_cpu")
                               if "fer2013_cpu" in all_presets else 0,
                               help="the presets shipped with FER Studio (training/configs/*.yaml): every option below "
                                    "starts from it")
device_default = settings.load().device
device = top[2].text_input("Device", value=device_default, help="auto, cpu, cuda or cuda:N")
base = C.resolve(all_presets[preset_name])

SECTIONS = {"run": ("name", "seed", "epochs", "batch_size", "amp", "channels_last", "eval_splits"),
            "model": "model.", "optimizer": "optimizer.", "schedule": "schedule.", "loss and sampling": ("loss.", "sampler."),
            "augmentation": "augment.", "mixup and EMA": ("mixup.", "ema."),
            "stopping and checkpoints": ("early_stopping.", "checkpoint.")}


def _keys(sel) -> list[str]:
    sel = (sel,) if isinstance(sel, str) else sel
    return [k for k in C.SCHEMA if k in sel or any(k.startswith(p) for p in sel if p.endswith("."))]


def _widget(key: str, value, meaning: str, wkey: str):
    default = C.SCHEMA[key][0]
    help_text = f"{meaning}. Default: {default!r}."
    label = key.split(".")[-1].replace("_", " ")
    if key in C.CHOICES:
        options = list(C.CHOICES[key])
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, help=help_text,
                            key=wkey)
    if isinstance(default, bool):
        return st.checkbox(label, value=bool(value), help=help_text, key=wkey)
    if isinstance(default, int) and not isinstance(default, bool):
        return int(st.number_input(label, value=int(value), step=1, help=help_text, key=wkey))
    if isinstance(default, float):
        return float(st.number_input(label, value=float(value), format="%g", help=help_text, key=wkey))
    text = st.text_input(label, value="" if value is None else str(value), help=help_text, key=wkey)
    if key in ("optimizer.head_lr",):
        return float(text) if text.strip() else None
    if isinstance(default, list):
        return yaml.safe_load(text) if text.strip() else []
    return text.strip() or None


with st.form("train"):
    cfg = C.resolve(all_presets[preset_name])
    C.set_key(cfg, "dataset", dataset)
    C.set_key(cfg, "device", device)
    for section, sel in SECTIONS.items():
        with st.expander(section, expanded=section == "run"):
            cols = st.columns(3)
            for i, key in enumerate(_keys(sel)):
                with cols[i % 3]:
                    try:
                        value = _widget(key, C.get_key(base, key), C.SCHEMA[key][1], f"{preset_name}:{key}")
                    except ValueError:
                        st.error(f"{key}: not a number")
                        value = C.get_key(base, key)
                    C.set_key(cfg, key, value)
    submitted = st.form_submit_button("Train", type="primary")

if submitted:
    try:
        folder = launch(cfg, device=None if device == "auto" else device)
    except (C.ConfigError, ValueError) as e:
        st.error(f"Not started: {e}")
    else:
        st.success(f"Run `{folder.name}` queued: it trains in its own process and survives leaving this page.")


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


follow()
sweep_panel()
