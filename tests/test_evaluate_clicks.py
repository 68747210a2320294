"""Evaluate → Errors → Explain in one tab: the confusion matrix's cells take clicks (a marker over
each, since heatmaps send no selection events), a chooser for keyboards, links that stay in the
tab; PR curves as steps with AP in the legend; a diagonal cell shows the correct predictions."""
import json
import urllib.parse

import numpy as np
import pandas as pd

from fer.labels import CLASSES
from fer.ui import charts

from builders import app_page
from test_evaluation import seeded_run  # noqa: F401  (a fixture: a finished run evaluated on tiny)


def test_every_cell_has_a_clickable_marker_with_its_count():
    cm = pd.DataFrame(np.arange(49).reshape(7, 7), index=list(CLASSES), columns=list(CLASSES))
    fig = charts.confusion_matrix(cm, normalised=True)
    heat, cells = fig.data
    assert heat.type == "heatmap" and cells.type == "scatter" and cells.marker.symbol == "square"
    assert len(cells.x) == 49 and fig.layout.clickmode == "event+select"
    k = list(zip(cells.y, cells.x)).index(("fear", "happy"))
    assert cells.customdata[k][0] == cm.loc["fear", "happy"]
    assert charts.cell_of({"points": [{"x": "happy", "y": "fear", "point_index": k}]}) == ("fear", "happy")
    assert charts.cell_of({"points": []}) is None and charts.cell_of(None) is None


def test_pr_curves_are_steps_with_ap_in_the_legend():
    curve = {"precision": np.array([0.5, 0.6, 1.0, 1.0]), "recall": np.array([1.0, 0.6, 0.2, 0.0]), "ap": 0.712}
    fig = charts.pr_curves({"run a": curve})
    assert fig.data[0].line.shape == "hv" and fig.data[0].name == "run a (AP 0.712)" and fig.data[0].showlegend


def _links(at):
    return {p.proto.label: (p.proto.page, dict(urllib.parse.parse_qsl(p.proto.query_string)))
            for p in at.get("page_link")}


def test_evaluate_links_a_cell_to_errors_and_errors_to_explain(seeded_run):  # noqa: F811
    run = seeded_run.name
    at = app_page("5_Evaluate", {"model": run, "eval": "tiny/test"}).run()
    assert not at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["type"] for t in spec["data"]] == ["heatmap", "scatter"]
    at.selectbox(key="cell-true").set_value("fear").run()
    at.selectbox(key="cell-pred").set_value("happy").run()
    summary = json.loads((seeded_run / "eval" / "tiny" / "test" / "summary.json").read_text())
    n = summary["confusion_matrix"][CLASSES.index("fear")][CLASSES.index("happy")]
    page, query = _links(at)[f"{n} image(s) →"]
    assert page.endswith("Errors") and query == {"model": run, "eval": "tiny/test", "true": "fear", "pred": "happy"}

    pred = pd.read_parquet(seeded_run / "eval" / "tiny" / "test" / "predictions.parquet")
    correct = pred[pred["label"] == pred["prediction"]]["label"].value_counts()
    label, right = int(correct.index[0]), int(correct.iloc[0])  # the class most often right
    assert right > 0
    cls = CLASSES[label]
    at = app_page("6_Errors", {"model": run, "eval": "tiny/test", "true": cls, "pred": cls}).run()
    assert not at.exception
    assert at.markdown[0].value.startswith(f"**{right:,}** correctly classified {cls} image(s)")
    at = app_page("6_Errors", {"model": run, "eval": "tiny/test"}).run()
    explain = [(page, q) for label, (page, q) in _links(at).items()]
    assert explain and all(page.endswith("Explain") for page, _ in explain)
    assert any(set(q) == {"model", "eval", "image"} for _, q in explain)
