"""Train: pick a dataset and a preset, adjust any option, see what it will cost, launch; follow every
run live."""
import streamlit as st

from fer import actions, models, settings
from fer import config as C
from fer.data import names as dataset_names
from fer.ui import costs, page
from fer.ui.run_panel import follow_jobs, run_panels
from fer.ui.sweep_panel import sweep_panel

actor = page.start("Train")
QUICK = "quick"  # preselected: a first model in minutes on a CPU
SECTIONS = {"run": ("name", "seed", "epochs", "batch_size", "amp", "channels_last", "eval_splits"),
            "model": "model.", "optimizer": "optimizer.", "schedule": "schedule.",
            "loss and sampling": ("loss.", "sampler."), "augmentation": "augment.", "mixup and EMA": ("mixup.", "ema."),
            "stopping and checkpoints": ("early_stopping.", "checkpoint.")}


def _keys(sel) -> list[str]:
    sel = (sel,) if isinstance(sel, str) else sel
    return [k for k in C.SCHEMA if k in sel or any(k.startswith(p) for p in sel if p.endswith("."))]


def field(key: str, value, wkey: str):
    """One option's widget; returns its value as the config takes it (an unparsable text as it is,
    for ``problems`` to refuse)."""
    k = C.SCHEMA[key]
    label, help_text = k.label, f"`{key}`: {k.meaning}. Default: {k.default!r}."
    if k.choices:
        options = list(k.choices)
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, help=help_text,
                            key=wkey)
    if key == "eval_splits":
        return st.multiselect(label, list(C.SPLITS), default=[s for s in value if s in C.SPLITS], help=help_text,
                              key=wkey)
    if key == "augment.crop_scale":
        lo, hi = (float(v) for v in value)
        return list(st.slider(label, 0.05, 1.0, (lo, hi), 0.05, help=help_text, key=wkey))
    if k.kind is bool:
        return st.checkbox(label, value=bool(value), help=help_text, key=wkey)
    if k.kind is int:
        return int(st.number_input(label, value=int(value), step=1, help=help_text, key=wkey))
    if k.kind is float and not k.optional:
        return float(st.number_input(label, value=float(value), format="%g", help=help_text, key=wkey))
    text = st.text_input(label, value="" if value is None else str(value), help=help_text, key=wkey).strip()
    if k.kind is float:  # empty: not set (head_lr: the backbone's lr)
        try:
            return float(text) if text else None
        except ValueError:
            return text
    return text or None


def options(base: dict, prefix: str) -> tuple[dict, dict]:
    """Every option, grouped, starting from ``base``; the config as set, and a place under each
    field for its refusal (key → ``st.empty``)."""
    cfg = C.resolve({})
    slots = {}
    for section, sel in SECTIONS.items():
        with st.expander(section, expanded=section == "run"):
            cols = st.columns(3)
            for i, key in enumerate(_keys(sel)):
                with cols[i % 3]:
                    C.set_key(cfg, key, field(key, C.get_key(base, key), f"{prefix}:{key}"))
                    slots[key] = st.empty()
    return cfg, slots


def problems(cfg: dict) -> dict[str, str]:
    """What the config's own checks refuse, and a backbone nobody can build."""
    found = C.problems(cfg)
    backbone = C.get_key(cfg, "model.backbone")
    if not backbone or not models.known(str(backbone)):
        found.setdefault("model.backbone", f"model.backbone={backbone!r}: unknown; use a timm model name "
                                           "(resnet18, convnext_tiny, …), fer_cnn or facenet_vggface2")
    return found


def choose() -> tuple[str, str, dict, str, str, str | None] | None:
    """Dataset, preset (with its line and its cost here), device and its kind; None on an empty store."""
    datasets = dataset_names()
    if not datasets:
        st.info("No dataset to train on yet. Import one first:")
        st.code("python -m fer dataset import path/to/fer2013.zip --name fer2013", language="bash")
        return None
    all_presets = C.presets()
    names = list(all_presets)
    top = st.columns([2, 3, 1])
    dataset = top[0].selectbox("Dataset", datasets, help="a dataset of the store; corrupt and excluded images are "
                               "left out")
    device = top[2].text_input("Device", value=settings.load().device, help="auto, cpu, cuda or cuda:N").strip()
    try:
        kind, device_error = models.pick_device(device).type, None
    except (ValueError, RuntimeError) as e:
        kind, device_error = "cpu", f"Device {device!r}: {e}"
        top[2].error(device_error)
    preset = top[1].selectbox("Preset", names, index=names.index(QUICK) if QUICK in names else 0,
                              format_func=lambda p: f"{p} · {costs.cost(C.resolve(all_presets[p]), dataset, kind)}",
                              help="presets shipped with FER Studio (fer/presets), each with what it would cost "
                                   "here as it stands: every option below starts from it")
    top[1].caption(C.description(all_presets[preset]))
    return dataset, preset, all_presets[preset], device, kind, device_error


def launch_button(cfg: dict, device: str, refused: dict, device_error: str | None) -> None:
    if refused or device_error:
        st.error(f"Not ready: {len(refused) + bool(device_error)} option(s) refused, each said next to it above.")
    why = actor.why_not("start trainings")
    if why:
        st.info(why, icon=":material/lock:")
    if st.button("Train", type="primary", disabled=bool(refused or device_error or why), key="train") \
            and not (refused or device_error):
        try:
            folder = actions.runs.start(actor, cfg, device=None if device == "auto" else device)
        except (C.ConfigError, ValueError, actions.Refused) as e:
            st.error(f"Not started: {e}")
        else:
            st.success(f"Run `{folder.name}` queued: it trains in its own process and survives leaving this page.")


def train_section() -> None:
    chosen = choose()
    if chosen is None:
        return
    dataset, preset_name, preset, device, kind, device_error = chosen
    cfg, slots = options(C.resolve(preset), preset_name)
    C.set_key(cfg, "dataset", dataset)
    C.set_key(cfg, "device", device)
    refused = problems(cfg)
    for key, why in refused.items():
        if key in slots:
            slots[key].error(why)
    st.subheader("Before you press Train")
    if not refused:
        costs.review(cfg, dataset, kind)
    launch_button(cfg, device, refused, device_error)


# In a container of its own: the form's messages come and go ("queued", an error) and the run panels
# below keep their place in the page when they do.
with st.container():
    train_section()
follow_jobs(("train",), "train", show=run_panels)
sweep_panel()
