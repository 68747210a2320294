"""Every plotly figure the pages show, built from library data (no Streamlit here): pages only lay
them out. Class colours are ``fer.draw.COLOURS``, the same as on annotated images and the camera
overlay; a figure's PNG comes from plotly's own toolbar button."""
from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer.draw import COLOURS
from fer.labels import CLASSES

CURVES = (("loss", "train_loss", "val_loss"), ("accuracy", "train_accuracy", "val_accuracy"),
          ("macro-F1", None, "val_macro_f1"))
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
TIGHT = dict(l=0, r=0, t=10, b=0)


def _rgb(cls: str) -> str:
    return f"rgb{COLOURS[cls]}"


def training_curves(curves: dict[str, pd.DataFrame]) -> go.Figure:
    """Loss, accuracy and macro-F1 per epoch; one colour per run, dashed = train, solid = val."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[c[0] for c in CURVES])
    for k, (name, df) in enumerate(curves.items()):
        colour = PALETTE[k % len(PALETTE)]
        if df.empty:
            continue
        for col, (_, train_key, val_key) in enumerate(CURVES, 1):
            for key, dash in ((train_key, "dash"), (val_key, "solid")):
                if key and key in df:
                    fig.add_trace(go.Scatter(x=df["epoch"], y=df[key], mode="lines+markers", name=f"{name} {key}",
                                             line=dict(color=colour, dash=dash), legendgroup=name,
                                             showlegend=col == 1), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def probability_bars(probs: Mapping[str, float] | list[float], height: int = 220) -> go.Figure:
    """The seven classes' probabilities as horizontal bars in the class colours."""
    values = [probs[c] for c in CLASSES] if isinstance(probs, Mapping) else list(probs)
    fig = go.Figure(go.Bar(x=values, y=list(CLASSES), orientation="h", marker_color=[_rgb(c) for c in CLASSES]))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), xaxis=dict(range=[0, 1], tickformat=".0%"))
    return fig


def emotion_timeline(df: pd.DataFrame, what: str = "probability (largest face)", height: int = 320) -> go.Figure:
    """Each class's probability over time (``time`` in seconds and one column per class)."""
    fig = go.Figure([go.Scatter(x=df["time"], y=df[c], name=c, mode="lines", line=dict(color=_rgb(c)))
                     for c in CLASSES])
    fig.update_layout(height=height, margin=TIGHT, xaxis_title="seconds", yaxis=dict(range=[0, 1], title=what))
    return fig


# Streamlit's selection events do not fire on heatmap traces: a nearly transparent square marker
# on every cell takes the click instead (``cell_of`` reads the chosen cell back).
CELL_MARKER = dict(symbol="square", size=44, color="rgba(0, 0, 0, 0.01)", line=dict(width=0))


def confusion_matrix(cm: pd.DataFrame, normalised: bool) -> go.Figure:
    """Rows true, columns predicted; colour by count or by row share, the counts written in; each
    cell clickable (a marker over it, for ``st.plotly_chart(on_select=...)``)."""
    shown = cm.div(cm.sum(axis=1).replace(0, 1), axis=0) if normalised else cm
    fig = go.Figure(go.Heatmap(z=shown.values, x=list(cm.columns), y=list(cm.index), colorscale="Blues",
                               text=cm.values, texttemplate="%{text}", hoverinfo="skip"))
    cells = [(t, p) for t in cm.index for p in cm.columns]
    fig.add_trace(go.Scatter(
        x=[p for _, p in cells], y=[t for t, _ in cells], mode="markers", marker=CELL_MARKER, showlegend=False,
        customdata=[[int(cm.loc[t, p]), float(shown.loc[t, p])] for t, p in cells],
        hovertemplate="true %{y}, predicted %{x}: %{customdata[0]} image(s)"
                      + (" (%{customdata[1]:.1%} of the row)" if normalised else "") + "<br>click: show them<extra></extra>"))
    fig.update_layout(height=420, xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                      margin=TIGHT, clickmode="event+select", dragmode=False)
    return fig


def cell_of(selection) -> tuple[str, str] | None:
    """(true, predicted) of the confusion-matrix cell a selection event names, or None."""
    points = (selection or {}).get("points") or []
    return (str(points[0]["y"]), str(points[0]["x"])) if points else None


def pr_curves(curves: dict[str, dict]) -> go.Figure:
    """Precision–recall curves of one class, one per model (``{name: {precision, recall, ap}}``),
    drawn as the step functions they are (scikit-learn's points joined step-post), AP in the legend."""
    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=curve["recall"], y=curve["precision"], mode="lines", line_shape="hv",
                                 name=f"{name} (AP {curve['ap']:.3f})", showlegend=True))
    fig.update_layout(height=360, xaxis_title="recall", yaxis_title="precision", margin=TIGHT,
                      xaxis_range=[0, 1.02], yaxis_range=[0, 1.02], legend=dict(orientation="h", y=-0.2))
    return fig


def reliability(table: pd.DataFrame, bins: int = 15) -> go.Figure:
    """Accuracy per confidence bin against the diagonal of perfect calibration."""
    fig = go.Figure([go.Bar(x=table["confidence"], y=table["accuracy"], name="accuracy", width=1 / bins * 0.9,
                            marker_color=PALETTE[0]),
                     go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dash"))])
    fig.update_layout(height=320, xaxis_title="confidence", yaxis_title="accuracy", margin=TIGHT)
    return fig


def class_distribution(counts: pd.DataFrame, by: str, shares: bool) -> go.Figure:
    """Images per class (rows) and ``by`` (columns: splits or sources), as counts or shares."""
    long = (counts / counts.sum() if shares else counts).reset_index().melt(id_vars="label_name", value_name="images")
    fig = px.bar(long, x="label_name", y="images", color=by, barmode="group", title=f"classes by {by}",
                 category_orders={"label_name": list(CLASSES)})
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=40, b=0), xaxis_title=None,
                      yaxis_tickformat=".0%" if shares else None)
    return fig


def histogram(table: pd.DataFrame, stat: str, by: str, title: str) -> go.Figure:
    """A histogram per group as steps (``stat`` bin centres, ``images`` counts, ``by`` groups)."""
    fig = px.line(table, x=stat, y="images", color=by, title=title, line_shape="hvh")
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=40, b=0))
    return fig


# -- sweeps: Optuna's own plotly figures, laid out like ours ------------------------------------

def _optuna_figure(plot, study, height: int = 360, **kwargs) -> go.Figure:
    from optuna import visualization  # Optuna's figures are plotly figures; imported only for a study

    fig = getattr(visualization, plot)(study, **kwargs)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def study_history(study) -> go.Figure:
    """Each trial's objective and the best so far (Optuna's optimisation history)."""
    return _optuna_figure("plot_optimization_history", study)


def study_epochs(study) -> go.Figure:
    """Each trial's validation figure per epoch: pruned trials are the lines that stop early."""
    fig = _optuna_figure("plot_intermediate_values", study)
    fig.update_xaxes(title_text="epoch")
    return fig


def study_parallel(study) -> go.Figure:
    """Parameters and objective of every finished trial as parallel coordinates."""
    return _optuna_figure("plot_parallel_coordinate", study, height=400)


def study_importances(study) -> go.Figure:
    """How much each parameter explains of the objective (Optuna's fANOVA importances); needs at
    least two finished trials."""
    return _optuna_figure("plot_param_importances", study, height=300)
