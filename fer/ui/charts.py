"""Plotly figures the pages show (built from library data; no Streamlit here)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CURVES = (("loss", "train_loss", "val_loss"), ("accuracy", "train_accuracy", "val_accuracy"),
          ("macro-F1", None, "val_macro_f1"))


def training_curves(curves: dict[str, pd.DataFrame]) -> go.Figure:
    """Loss, accuracy and macro-F1 per epoch; one colour per run, dashed = train, solid = val."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[c[0] for c in CURVES])
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    for k, (name, df) in enumerate(curves.items()):
        colour = palette[k % len(palette)]
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
