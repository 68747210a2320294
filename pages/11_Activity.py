"""Activity: who changed what in the store, newest first, allowed or refused; a decision action
(one image or a bulk exclusion) can be undone here as one step, from any browser session."""
import pandas as pd
import streamlit as st

from fer import actions
from fer.actions import history
from fer.ui import page

actor = page.start("Activity")
st.caption("Every change to the store, from the pages and the command line, with who made it; refusals too "
           "(at most one a minute per visitor and action). Visitors see what was done, not who signed in.")

c = st.columns(3)
who = c[0].text_input("Who", key="activity-who", placeholder="a name, local, cli, visitor …")
what = c[1].selectbox("Action", ["any", *sorted(actions.ACTIONS)], key="activity-action")
on = c[2].text_input("On what", key="activity-target", placeholder="a dataset, run or model name")
found = history.records(actor, limit=500, who=who.strip(), action="" if what == "any" else what, target=on.strip())
if not found:
    st.info("Nothing recorded yet that matches: changes made from now on (imports, decisions, trainings, "
            "promotions …) appear here." if not (who or on or what != "any") else "No record matches these filters.")
    st.stop()

table = pd.DataFrame([{"time": r.get("time"), "who": f"{r['actor'].get('name')} ({r['actor'].get('kind')})",
                       "action": r.get("action"), "on": r.get("target"), "outcome": r.get("outcome"),
                       "detail": r.get("error") or ", ".join(f"{k}: {v}" for k, v in (r.get("detail") or {}).items()),
                       "id": r.get("id")} for r in found])
st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 420), placeholder="—")
st.download_button("Activity (CSV)", table.to_csv(index=False), "activity.csv", "text/csv")

st.subheader("Undo a decision action")
undoable = [r for r in found if history.undoable(r)]
if not undoable:
    st.caption("No keep or exclude decision among these records.")
    st.stop()
labels = {r["id"]: f"{r['time'][:19]} · {r['target']} · {r['actor'].get('name')}" for r in undoable}
chosen = st.selectbox("Decision action", list(labels), format_func=labels.get, key="activity-undo-pick")
record = next(r for r in undoable if r["id"] == chosen)
dataset = record["detail"]["dataset"]
why = actor.why_not("undo decisions")
if st.button(f"Undo {record['target']}", key=f"activity-undo-{chosen}", disabled=bool(why),
             help="every image it decided returns to what it was before, unless someone decided it again since"):
    try:
        done = actions.decisions.undo(actor, dataset, chosen)
    except (actions.Refused, ValueError) as e:
        st.error(str(e))
    else:
        left = f"; {done['changed_since']} decided again since were left as they are" if done["changed_since"] else ""
        st.success(f"Undone: {done['restored']} image(s) of {dataset} back to what they were{left}.")
if why:
    st.caption(why)
