"""Following background jobs on a page: ``follow_jobs`` (any kind: the panel refreshes on its own
while a job is queued or running, and the whole page reruns once when one ends, so it shows what
the job wrote), and the run panel of a training (progress, speed, ETA, curves, the last log lines,
Cancel and Resume)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from fer import actions, jobs
from fer.runs import eta_seconds
from fer.store import ACTIVE, Run, RunError
from fer.ui import access
from fer.ui.charts import training_curves


REFRESH_SECONDS = 2.0


def job_lines(rows: list[dict], shown: int = 5) -> None:
    """The default panel: a progress bar per queued or running job, a line per recent one."""
    for j in list(reversed(rows))[:shown]:
        text = f"{j['kind']} {j['what']}: {j['state']}" + (f" ({j['message']})" if j.get("message") else "") + (
            f" — {j['error']}" if j.get("error") else "")
        if j["state"] in ACTIVE and j.get("progress") is not None:
            st.progress(min(1.0, float(j["progress"])), text=text)
        else:
            st.caption(text)


def training_lines(rows: list[dict]) -> None:
    """A progress bar per queued or running training (epochs done of the run's epochs)."""
    for j in rows:
        if j["state"] not in ACTIVE:
            continue
        try:
            run = Run.open(j["id"])
            done, total = len(run.epochs()), int(run.config().get("epochs", 1))
        except (RunError, OSError, ValueError):
            continue  # deleted or half-written meanwhile: the next refresh tells
        st.progress(min(1.0, done / max(total, 1)),
                    text=f"training {run.name} ({run.id}): {j['state']}, {done} of {total} epochs done")


def follow_jobs(kinds: tuple[str, ...], key: str, show: Callable[[list[dict]], None] = job_lines,
                every: float = REFRESH_SECONDS) -> list[dict]:
    """Follow the jobs of ``kinds`` on this page, in a panel drawn by ``show`` (from the job rows,
    oldest first). While one of them is queued or running the panel refreshes on its own every
    ``every`` seconds (a fragment: the rest of the page does not rerun); when one ends, the whole
    page reruns once so that everything on it shows what the job wrote. Returns the jobs that
    ended since the page last ran (``[]`` most of the time), for a page that wants to react
    (e.g. select the dataset an import just wrote).

    A page with nothing running does not poll: a job started elsewhere (the command line, another
    tab) shows at the page's next run."""
    seen, ended = f"follow-seen:{key}", f"follow-ended:{key}"

    def rows() -> list[dict]:
        return [j for j in jobs.listing() if j["kind"] in kinds]

    def look(current: list[dict]) -> tuple[set, list[dict]]:
        """The active jobs now, and those that ended since the last look."""
        active = {j["id"] for j in current if j["state"] in ACTIVE}
        gone = st.session_state.get(seen, set()) - active
        st.session_state[seen] = active
        return active, [j for j in current if j["id"] in gone]

    # A whole-page run notices ended jobs itself, before it draws: rerunning from inside the panel
    # would throw away the click that started this run when its button is further down the page.
    current = rows()
    active, done = look(current)
    done = st.session_state.pop(ended, []) + done
    polling = bool(active)

    def panel() -> None:
        ctx = get_script_run_ctx()
        if ctx is not None and ctx.fragment_ids_this_run:  # the panel's own run, not the page's
            shown = rows()
            _, gone = look(shown)
        else:
            shown, gone = current, []
        show(shown)  # first: a click on a button in the panel (Cancel) is handled before any rerun
        if gone:  # rerun the page once, with the ended jobs for it to read
            st.session_state[ended] = gone
            st.rerun(scope="app")
        if not polling and any(j["state"] in ACTIVE for j in rows()):  # started from the panel (Resume): poll
            st.rerun(scope="app")

    st.fragment(panel, run_every=every if polling else None)()
    return done


def _tail(path: Path, lines: int = 12) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def run_panels(rows: list[dict], recent: int = 3) -> None:
    """The Train page's panel: every queued or running training, then the last few ended ones."""
    active = [j for j in rows if j["state"] in ACTIVE]
    ended = [j for j in reversed(rows) if j["state"] not in ACTIVE][:recent]
    st.subheader(f"Runs: {len(active)} in progress" + (f", the last {len(ended)} ended" if ended else ""))
    if not rows:
        st.caption("No run yet: press Train above.")
    for j in active + ended:
        with st.container(border=True):
            run_panel(Run.open(j["id"]), j["id"])


def run_panel(run: Run, key: str) -> None:
    """One run: state, its controls (for its state only: cancel, or resume and start again), the
    progress bar, speed, ETA, curves, the last log lines. The controls come right under the title,
    before anything whose presence changes with the state (curves, an error, the log), so a rerun
    that changes the state redraws them in place: the old state's button never stands beside the
    new state's."""
    status = run.status()
    cfg = run.config()
    metrics = run.metrics()
    epochs = [m for m in metrics if m.get("kind") == "epoch"]
    progress = [m for m in metrics if m.get("kind") == "progress"]
    last = progress[-1] if progress else None
    total = cfg.get("epochs", 1)
    in_epoch = (last["batch"] / last["batches"]) if last and last["epoch"] > len(epochs) else 0.0
    st.markdown(f"**{run.name}** · `{run.id}` · {cfg.get('dataset')} · **{status['state']}**")
    _controls(run, key, status["state"])
    st.progress(min(1.0, (len(epochs) + in_epoch) / total), text=f"{len(epochs)} of {total} epochs done"
                + (f", {in_epoch:.0%} into epoch {len(epochs) + 1}" if in_epoch else ""))
    c = st.columns(4)
    c[0].metric("images/s", f"{last['images_per_s']:.0f}" if last else "—")
    c[1].metric("time left", _minutes(eta_seconds(epochs, in_epoch, total)) if status["state"] == "running" else "—")
    c[2].metric("best val F1", f"{max(e['val_macro_f1'] for e in epochs):.3f}" if epochs else "—")
    c[3].metric("val loss", f"{epochs[-1]['val_loss']:.3f}" if epochs else "—")
    if epochs:
        st.plotly_chart(training_curves({run.name: pd.DataFrame(epochs)}), key=f"curves-{key}")
    if status.get("error"):
        st.error(status["error"])
    log = _tail(run.log_path)
    if log:
        st.code(log, language=None)


def _controls(run: Run, key: str, state: str) -> None:
    """The buttons of the run's state, each naming the run; beyond localhost a visitor sees them
    disabled, with the reason. They sit in a container keyed by the state: the browser keeps a keyed
    button that a rerun replaces by another one (Cancel by Resume) on screen, faded, until that rerun
    ends, but it replaces a container with another one at once."""
    group = "active" if state in ACTIVE else "stopped" if state in ("cancelled", "failed", "refused") else "done"
    with st.container(key=f"controls-{group}-{key}"):
        _buttons(run, key, state)


def _buttons(run: Run, key: str, state: str) -> None:
    b = st.columns(2)
    actor = access.actor()
    why = actor.why_not("cancel, resume or restart runs")
    if state in ACTIVE and b[0].button(f"Cancel {run.name}", key=f"cancel-{key}", disabled=bool(why),
                                       help=why or "stops after the current batch; the weights so far are kept"):
        try:
            st.toast(f"{run.id}: {actions.runs.cancel(actor, run.id)}")
        except (RunError, ValueError) as e:
            st.error(str(e))
    if state in ("cancelled", "failed", "refused"):
        resume = b[0].button(f"Resume {run.name}", key=f"resume-{key}", disabled=bool(why),
                             help=why or "continues from the last checkpoint (saved at every epoch's end and every "
                                         "few minutes inside one)")
        fresh = b[1].button(f"Start {run.name} again", key=f"fresh-{key}", disabled=bool(why),
                            help=why or "trains this run again from scratch: its checkpoints, epochs and weights go "
                                        "(when its checkpoints are damaged, say)")
        if resume or fresh:
            try:
                (actions.runs.restart if fresh else actions.runs.resume)(actor, run.id)
                st.toast(f"{run.id}: {'started again' if fresh else 'resumed'}")
            except (RunError, ValueError) as e:
                st.error(str(e))
