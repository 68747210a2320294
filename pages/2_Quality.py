"""Quality: an overview of every check, then each check's flagged images, worst first; keep or
exclude without losing anything."""
import streamlit as st

from fer import actions, evaluation
from fer.data import exclusions, info, names
from fer.data.quality import GROUP_VIEWS, VIEWS, Thresholds
from fer.store import Evaluation, image_id_of, layout
from fer.ui import numbers, page, params
from fer.ui.data import flagged, manifest, overview, thumbnail
from fer.ui.evals import read

OVERVIEW = "overview"
LABEL_NOISE = "label noise (from a model)"
PER_GROUP = 8  # images of a group side by side; a larger group is paged

actor = page.start("Quality")

datasets = names()
if not datasets:
    st.info("No dataset yet. Import one on the Dataset page or with `python -m fer dataset import SRC --name NAME`.")
    st.stop()
name = params.choose(st.sidebar.selectbox, "Dataset", datasets, "dataset", "dataset", key="quality-dataset")
model_evals = {f"{e.model.label} / {e.split}": e for e in Evaluation.on_dataset(name)}
all_views = [OVERVIEW, *VIEWS] + ([LABEL_NOISE] if model_evals else [])
view = params.choose(st.sidebar.radio, "Check", all_views, "check", "check", key="quality-check")
df = manifest(name)
decisions = exclusions.latest(name)
excluded = {p for p, d in decisions.items() if d == "exclude"}


def open_check(check: str) -> None:
    st.session_state["quality-check"] = check  # the radio's state: the same tab, the address follows


def link(check: str, label: str, where=st) -> None:
    where.button(label, key=f"open-{check}", type="tertiary", on_click=open_check, args=(check,))


if view == OVERVIEW:
    c = st.columns(3)
    c[0].metric("images", f"{len(df):,}")
    c[1].metric("excluded (your decisions)", f"{len(excluded):,}")
    c[2].metric("usable for training", f"{len(exclusions.usable(df, name)):,}")
    st.subheader("Every check at this dataset's thresholds")
    table = overview(name)
    head = st.columns([3, 1, 1, 1])
    for col, title in zip(head, ("check", "images", "share", "groups")):
        col.markdown(f"**{title}**")
    for r in table.itertuples():
        row = st.columns([3, 1, 1, 1])
        link(r.check, f"{r.check} →", row[0])
        row[1].markdown(f"{r.images:,}")
        row[2].markdown(numbers.share(r.share))
        row[3].markdown("" if r.groups is None or r.groups != r.groups else f"{int(r.groups):,}")
    if model_evals:
        link(LABEL_NOISE, f"{LABEL_NOISE} →: images whose label a model of the store contradicts")
    st.caption("Flags exclude nothing by themselves: only your decisions do. Pick a check to review its images; "
               "thresholds can be moved there.")
    st.stop()

t = Thresholds.from_dict(info(name).get("thresholds"))
key, bounds = VIEWS.get(view, (None, None))
threshold = None
if view == LABEL_NOISE:
    source = st.sidebar.selectbox("Predictions of", list(model_evals), key="quality-noise-source")
    threshold = st.sidebar.slider("Model confidence at least", 0.5, 0.99, 0.8, 0.01, key="quality-noise-threshold")
if key:
    default = float(getattr(t, key))
    step = 1.0 if key in ("tiny_side", "near_duplicate_distance") else 0.5
    threshold = st.sidebar.slider(f"Threshold ({key.replace('_', ' ')})", bounds[0], bounds[1], default, step,
                                  key=f"quality-threshold-{name}-{key}",
                                  help=f"the import's threshold is {default:g}; moving it re-flags from the stored "
                                       "statistics and candidate pairs, nothing is rescanned")
if view == LABEL_NOISE:
    _, pred = read(model_evals[source])
    issues = evaluation.label_issues(pred, threshold)
    rows = df.set_index("path").loc[issues["path"]].reset_index()
    st.caption(f"Images whose given label the model ({source}) contradicts with at least {threshold:.0%} confidence, "
               "least likely given label first: candidates to check by eye, not errors for sure.")
else:
    rows = flagged(name, view, threshold)

c = st.columns(4)
c[0].metric("images", f"{len(df):,}")
c[1].metric(f"flagged: {view}", f"{len(rows):,}")
c[2].metric("excluded (all checks)", f"{len(excluded):,}")
c[3].metric("usable for training", f"{len(exclusions.usable(df, name)):,}")
st.caption(f"Flags exclude nothing by themselves: only your decisions do. Decisions go to {layout.EXCLUSIONS} "
           "(append-only); the manifest is never changed by them.")
link(OVERVIEW, "← every check")


def act(paths, decision, check):
    """A button's callback: a decision action (one image or many). Callbacks run before the page
    does, so every count below includes it, and a second click sent while the page reruns cannot
    drop the first (a rerun that a new click interrupts has already run its callbacks). Its
    record's id is what Undo (here, or on the Activity page from any session) undoes."""
    try:
        done = actions.decisions.decide(actor, name, list(paths), decision, check)
    except (actions.Refused, ValueError) as e:
        st.session_state["flash"] = str(e)
        return
    st.session_state[f"last-action-{name}"] = done["record"]
    st.session_state["flash"] = f"{decision}: {done['images']} image(s)"


def undo(record_id: str):
    try:
        done = actions.decisions.undo(actor, name, record_id)
    except (actions.Refused, ValueError) as e:
        st.session_state["flash"] = str(e)
        return
    st.session_state.pop(f"last-action-{name}", None)
    st.session_state["flash"] = f"undone: {done['restored']} image(s) back to what they were" + (
        f"; {done['changed_since']} decided again since left as they are" if done["changed_since"] else "")


if "flash" in st.session_state:
    st.toast(st.session_state.pop("flash"))


why = actor.why_not("keep or exclude images")
b = st.columns(4)
targets = rows["path"]
if view in ("exact duplicates", "near duplicates"):  # keep one copy: the first (train < val < test, path)
    targets = rows.loc[~rows.index.isin(rows.drop_duplicates("group").index), "path"]
b[0].button("Exclude everything flagged", disabled=rows.empty or bool(why), key="exclude-all", on_click=act,
            args=(list(targets), "exclude", view),
            help="duplicates: every copy but the first of each group; other checks: every flagged image; one step "
                 "to undo, here or on the Activity page")
b[1].button("Keep everything flagged", disabled=rows.empty or bool(why), key="keep-all", on_click=act,
            args=(list(rows["path"]), "keep", view), help="every flagged image marked kept (flags exclude nothing)")
last = st.session_state.get(f"last-action-{name}")
b[2].button("Undo the last action", disabled=last is None or bool(why), key="undo", on_click=undo, args=(last,),
            help="the images of your last decision return to what they were; the Activity page undoes any decision")
if why:
    st.info(why, icon=":material/lock:")

if rows.empty:
    st.success("Nothing flagged by this check at this threshold.")
    st.stop()

per_page = 8 if view in GROUP_VIEWS else 30
units = list(dict.fromkeys(rows["group"])) if view in GROUP_VIEWS else list(rows["path"])
pages = max(1, -(-len(units) // per_page))
# keyed on what is paged, so a page number never outlives the list it counted
page = b[3].number_input(f"Page (of {pages})", 1, pages, 1, key=f"page-{name}-{view}-{threshold}-{pages}")
shown = units[(page - 1) * per_page: page * per_page]


def tile(row, col):
    # Keys name the image, not its place on the page: a click always lands on the image it was made on.
    image = image_id_of(row["path"])
    with col:
        img = thumbnail(name, row["path"])
        if img is not None:
            st.image(img, width=96)
        state = decisions.get(row["path"])
        facts = row["error"] if isinstance(row["error"], str) else f"mean {row['mean']:.0f} · std {row['std']:.1f}"
        # Three lines whatever the decision: a tile that grew on a click would move the buttons below
        # it just as the next click lands (a lost click in the browser).
        decided = {"exclude": "**excluded**", "keep": "kept"}.get(state, "undecided")
        st.caption(f"{row['label_name']} · {row['split']}  \n{facts}  \n{decided}")
        if state == "exclude":
            st.button("Keep", key=f"keep-{image}", on_click=act, args=([row["path"]], "keep", view), disabled=bool(why))
        else:
            st.button("Exclude", key=f"exclude-{image}", on_click=act, args=([row["path"]], "exclude", view),
                      disabled=bool(why))


if view in GROUP_VIEWS:
    for g in shown:
        members = rows[rows["group"] == g]
        with st.container(border=True):
            st.markdown(f"**group {int(g)}** · {len(members)} images · splits {', '.join(sorted(set(members['split'])))}"
                        f" · labels {', '.join(sorted(set(members['label_name'])))}")
            first = 0
            if len(members) > PER_GROUP:  # paged, never cut: every member can be reached
                parts = -(-len(members) // PER_GROUP)
                part = st.number_input(f"Images of this group, part (of {parts})", 1, parts, 1,
                                       key=f"part-{name}-{view}-{int(g)}-{parts}")
                first = (part - 1) * PER_GROUP
                st.caption(f"images {first + 1}–{min(first + PER_GROUP, len(members))} of {len(members)}")
            cols = st.columns(PER_GROUP)
            for k, (_, r) in enumerate(members.iloc[first:first + PER_GROUP].iterrows()):
                tile(r, cols[k])
            st.button("Exclude all but the first", key=f"group-{view}-{int(g)}", on_click=act,
                      args=(list(members["path"].iloc[1:]), "exclude", view), disabled=bool(why),
                      help="keeps the copy in the earliest split (train < val < test)")
else:
    for start in range(0, len(shown), 6):  # row by row: images read left to right, as listed
        cols = st.columns(6)
        for k, p in enumerate(shown[start:start + 6]):
            tile(rows[rows["path"] == p].iloc[0], cols[k])
