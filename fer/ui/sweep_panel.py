"""The Train page's sweep: choose a dataset and a preset, the config keys to search with their
ranges (from the config schema, as the Train form), the trials, the objective and the trials at
once; press Sweep. The study runs as a job; its trials are runs, followed above like any other.
Below, every sweep with its progress and Cancel (which stops its running trials too)."""
from __future__ import annotations

import streamlit as st

from fer import actions, jobs
from fer.data import names as dataset_names
from fer.sweeps import space, studies
from fer.sweeps.coordinator import Sweep
from fer.ui import access

DEFAULT_KEYS = ["optimizer.lr", "model.dropout"]


def _range_inputs(key: str, info: dict) -> str | None:
    """One searched key's distribution and range; returns its ``KEY=DIST:ARGS`` (None when unusable)."""
    dists = list(space.allowed(key))
    rng = info["range"]
    default_dist = "loguniform" if rng and rng[2] else dists[0]
    c = st.columns([2, 2, 2, 3])
    c[0].markdown(f"`{key}`", help=f"{info['meaning']}. Default: {info['default']!r}.")
    dist = c[1].selectbox(f"{key}: distribution", dists, index=dists.index(default_dist), key=f"sweep-dist-{key}",
                          label_visibility="collapsed")
    if dist == "choice":
        options = info["choices"] or ([info["default"]] if info["default"] is not None else [])
        if info["choices"]:
            picked = c[2].multiselect(f"{key}: values", options, default=options, key=f"sweep-choice-{key}",
                                      label_visibility="collapsed")
        else:
            text = c[2].text_input(f"{key}: values (comma-separated)", ",".join(map(str, options)), key=f"sweep-text-{key}",
                                   label_visibility="collapsed")
            picked = [v.strip() for v in text.split(",") if v.strip()]
        return f"{key}=choice:" + ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in picked)
    whole = dist == "int"
    low_default, high_default = (rng[0], rng[1]) if rng else (0, 1)
    cast = int if whole else float
    low = c[2].number_input(f"{key}: low", value=cast(low_default), key=f"sweep-low-{key}-{dist}", format=None if whole else "%g",
                            label_visibility="collapsed")
    high = c[3].number_input(f"{key}: high", value=cast(high_default), key=f"sweep-high-{key}-{dist}",
                             format=None if whole else "%g", label_visibility="collapsed")
    return f"{key}={dist}:{low!r}:{high!r}"


def _form() -> None:
    datasets = dataset_names()
    if not datasets:
        st.caption("Import a dataset first.")
        return
    presets = space.presets()
    top = st.columns([2, 2, 2])
    dataset = top[0].selectbox("Dataset to sweep on", datasets, key="sweep-dataset")
    preset = top[1].selectbox("Preset of every trial", list(presets), index=list(presets).index("smoke") if "smoke" in presets else 0,
                              key="sweep-preset", help="every trial starts from this preset")
    name = top[2].text_input("Study name", "", key="sweep-name", placeholder="sweep-<time>",
                             help="letters, digits, . _ -; an existing study of that name gets more trials")
    searchable = space.searchable()
    keys = st.multiselect("Search these config keys", list(searchable), default=DEFAULT_KEYS, key="sweep-keys",
                          help="from the same config schema as the form above: floats on a linear or log scale, "
                               "whole numbers, or a list of values")
    search = [s for s in (_range_inputs(k, searchable[k]) for k in keys) if s]
    c = st.columns(4)
    trials = int(c[0].number_input("Trials", 1, 1000, 6, key="sweep-trials"))
    parallel = int(c[1].number_input("Trials at once", 1, 64, 1, key="sweep-parallel",
                                     help="each running trial takes one of the 'jobs at once' slots (Settings); "
                                          "the study itself takes none"))
    objective = c[2].selectbox("Objective", list(studies.OBJECTIVES), key="sweep-objective",
                               help="maximised: the trial's best epoch; each epoch's figure feeds the median pruner")
    epochs = int(c[3].number_input("Epochs per trial", 1, 1000, int(presets[preset].get("epochs") or 30),
                                   key=f"sweep-epochs-{preset}"))
    actor = access.actor()
    why = actor.why_not("start sweeps")
    if why:
        st.info(why, icon=":material/lock:")
    if st.button("Sweep", type="primary", key="sweep-start", disabled=bool(why)):
        try:
            cfg = space.preset_config(preset, [f"dataset={dataset}", f"epochs={epochs}"])
            sweep = Sweep.create(name.strip() or None, cfg, search, trials=trials, parallel=parallel,
                                 objective=objective)
            folder = actions.sweeps.start(actor, sweep)
        except (ValueError, actions.Refused) as e:
            st.error(f"Not started: {e}")
        else:
            st.success(f"Study `{sweep.name}` started (job `{folder.name}`): its trials appear above as runs. "
                       f"[See the study →](/Runs?study={sweep.name})")


@st.fragment(run_every=3)
def _sweeps() -> None:
    rows = [j for j in jobs.listing() if j["kind"] == "sweep"]
    if not rows:
        st.caption("No sweep yet.")
        return
    for j in reversed(rows[-5:]):
        name = jobs.Job.open(j["id"]).spec().get("args", {}).get("name", j["id"])
        with st.container(border=True):
            st.markdown(f"**{name}** · job `{j['id']}` · **{j['state']}** · [study →](/Runs?study={name})")
            if j["state"] in jobs.ACTIVE:
                st.progress(float(j.get("progress") or 0.0), text=j.get("message") or "starting")
                actor = access.actor()  # beyond localhost: signed-in users only
                why = actor.why_not("cancel sweeps")
                if st.button(f"Cancel {name}", key=f"sweep-cancel-{j['id']}", disabled=bool(why),
                             help=why or "stops the study and its running trials"):
                    try:
                        st.toast(f"{name}: {actions.sweeps.cancel(actor, j['id'])}")
                    except (ValueError, actions.Refused) as e:
                        st.error(str(e))
            elif j.get("error"):
                st.error(j["error"])
            log = jobs.log_tail(j["folder"], 6)
            if log:
                st.code(log, language=None)


def sweep_panel() -> None:
    """The sweep section of the Train page: the form, then every sweep."""
    st.subheader("Hyper-parameter sweep")
    with st.expander("Search hyper-parameters with Optuna", expanded=False):
        st.caption("A study (TPE sampler; median pruner after 2 finished trials, fed each epoch's validation "
                   f"figure) runs as a job; each trial is a run of the store. Storage: `{studies.shown_url()}`.")
        _form()
    _sweeps()
