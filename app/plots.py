"""Plotly figures used by several pages. Pure functions: data in, figure out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2")


def _layout(fig: go.Figure, height: int = 320, **kwargs: Any) -> go.Figure:
    kwargs.setdefault("margin", dict(l=10, r=10, t=40, b=10))
    fig.update_layout(height=height, **kwargs)
    return fig


def class_counts(counts: dict[str, dict[str, int]], classes: Sequence[str]) -> go.Figure:
    """Stacked bars of images per class, one colour per split."""
    fig = go.Figure()
    for i, (split, per_class) in enumerate(counts.items()):
        fig.add_bar(name=split, x=list(classes), y=[int(per_class.get(c, 0)) for c in classes], marker_color=PALETTE[i % 6])
    fig.update_layout(barmode="stack", title="Images per class", xaxis_title="class", yaxis_title="images", xaxis_type="category")
    return _layout(fig)


def training_curves(history: Sequence[dict[str, float]], title_suffix: str = "") -> go.Figure:
    """Loss, accuracy (train and validation) and learning rate by epoch, in three panels."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("loss", "accuracy", "learning rate"))
    epochs = list(range(1, len(history) + 1))
    for col, metric in ((1, "loss"), (2, "accuracy")):
        for prefix, name, dash in (("", "train", "solid"), ("val_", "validation", "dot")):
            ys = [row.get(prefix + metric) for row in history]
            if any(y is not None for y in ys):
                fig.add_scatter(
                    x=epochs, y=ys, name=f"{name} {metric}", mode="lines+markers", row=1, col=col,
                    line=dict(dash=dash, color=PALETTE[0] if prefix == "" else PALETTE[1]),
                )
    lrs = [row.get("lr", row.get("learning_rate")) for row in history]
    if any(v is not None for v in lrs):
        fig.add_scatter(x=epochs, y=lrs, name="learning rate", mode="lines+markers", row=1, col=3, line=dict(color=PALETTE[2]))
    # Each panel is a third of the width: at most ~8 epoch labels fit without overlapping.
    fig.update_xaxes(title_text="epoch", dtick=1 if len(history) <= 8 else None, nticks=8, tickformat="d",
                     title_standoff=4)
    fig.update_yaxes(tickformat=".1e", rangemode="tozero", row=1, col=3)
    # The legend sits below the "epoch" titles (not on them), and the top margin leaves the
    # Plotly toolbar a row of its own above the panel titles.
    return _layout(fig, height=340, title=f"Training curves{title_suffix}",
                   legend=dict(orientation="h", yanchor="top", y=-0.28, x=0), margin=dict(l=10, r=10, t=80, b=70))


def overlaid_curves(histories: dict[str, Sequence[dict[str, float]]], metric: str) -> go.Figure:
    """One metric of several runs on one chart: solid = train, dotted = validation."""
    fig = go.Figure()
    for i, (name, history) in enumerate(histories.items()):
        color = PALETTE[i % 6]
        epochs = list(range(1, len(history) + 1))
        for prefix, dash, label in (("", "solid", "train"), ("val_", "dot", "val")):
            ys = [row.get(prefix + metric) for row in history]
            if any(y is not None for y in ys):
                fig.add_scatter(x=epochs, y=ys, mode="lines", name=f"{name} ({label})", line=dict(color=color, dash=dash))
    longest = max((len(h) for h in histories.values()), default=0)
    fig.update_layout(title=metric, xaxis_title="epoch", xaxis_dtick=1 if longest <= 15 else None)
    return _layout(fig, height=320)


def confusion(matrix: Any, classes: Sequence[str], normalized: bool = False, title: str = "Confusion matrix",
              clickable: bool = False) -> go.Figure:
    """A confusion-matrix heatmap, rows = true class, columns = predicted class, counts in cells.

    With ``clickable``, an invisible square marker sits on every cell: Streamlit reports clicks
    on scatter points (not on heatmap cells), so this is what makes a cell selectable.
    """
    values = np.asarray(matrix, dtype=float)
    counts = np.asarray(matrix)
    if normalized:
        sums = values.sum(axis=1, keepdims=True)
        values = np.divide(values, sums, out=np.zeros_like(values), where=sums > 0)
        text = [[f"{v:.2f}" for v in row] for row in values]
    else:
        text = [[f"{int(v)}" for v in row] for row in values]
    labels = [str(c) for c in classes]
    hover = "true %{y}<br>predicted %{x}<br>%{text}<extra></extra>"
    fig = go.Figure(
        go.Heatmap(
            z=values, x=labels, y=labels, text=text, texttemplate="%{text}" if len(labels) <= 15 else None,
            colorscale="Blues", hovertemplate=hover, hoverinfo="skip" if clickable else None, showscale=False,
        )
    )
    side = max(260, min(620, 60 + 34 * len(labels)))
    if clickable:
        xs = [x for _ in labels for x in labels]
        ys = [y for y in labels for _ in labels]
        cell_px = max(6, int((side - 100) / max(len(labels), 1) * 0.9))
        fig.add_scatter(
            x=xs, y=ys, mode="markers", text=[str(int(v)) for v in counts.reshape(-1)], hovertemplate=hover,
            marker=dict(symbol="square", size=cell_px, opacity=0.0), showlegend=False, name="cells",
        )
    fig.update_yaxes(autorange="reversed", title="true", type="category")
    fig.update_xaxes(title="predicted", type="category")
    return _layout(fig, height=side, title=title)


def f1_bars(per_class: dict[str, dict[str, float]]) -> go.Figure:
    """F1 per class as bars."""
    names = list(per_class)
    fig = go.Figure(go.Bar(x=names, y=[per_class[n].get("f1", 0.0) for n in names], marker_color=PALETTE[0]))
    fig.update_layout(title="F1 per class", yaxis_range=[0, 1], xaxis_type="category")
    return _layout(fig, height=300)


def grouped_f1(per_run: dict[str, dict[str, dict[str, float]]]) -> go.Figure:
    """Per-class F1 of several runs as grouped bars."""
    fig = go.Figure()
    for i, (name, per_class) in enumerate(per_run.items()):
        classes = list(per_class)
        fig.add_bar(name=name, x=classes, y=[per_class[c].get("f1", 0.0) for c in classes], marker_color=PALETTE[i % 6])
    fig.update_layout(barmode="group", title="F1 per class", yaxis_range=[0, 1], xaxis_type="category",
                      legend=dict(orientation="h", y=-0.2))
    return _layout(fig, height=340)


def reliability(bins: Sequence[dict[str, float]], ece: float | None = None, title: str = "Reliability diagram") -> go.Figure:
    """Reliability diagram: accuracy per confidence bin against the diagonal."""
    used = [b for b in bins if b.get("count", 0) > 0]
    centers = [(b["lower"] + b["upper"]) / 2 for b in used]
    width = [b["upper"] - b["lower"] for b in used]
    fig = go.Figure()
    fig.add_bar(x=centers, y=[b["accuracy"] for b in used], width=width, name="accuracy", marker_color=PALETTE[0],
                customdata=[b["count"] for b in used], hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata} images")
    fig.add_scatter(x=centers, y=[b["confidence"] for b in used], mode="markers", name="mean confidence", marker_color=PALETTE[1])
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line=dict(dash="dash", color="gray"))
    title += f" (ECE {ece:.3f})" if ece is not None else ""
    fig.update_layout(title=title, xaxis_title="confidence", yaxis_title="accuracy", xaxis_range=[0, 1], yaxis_range=[0, 1],
                      legend=dict(orientation="h", y=-0.25))
    return _layout(fig, height=340)


def deletion_curves(curves: dict[str, Any]) -> go.Figure:
    """Deletion curves (``cnnlib.explain.faithfulness.Deletion``) per method, with the first one's random block order."""
    from cnnlib.explain.faithfulness import CHANCE_NAME  # here: the Explain page has loaded it already

    fig = go.Figure()
    for n, (title, curve) in enumerate(curves.items()):
        fig.add_scatter(x=curve.fractions, y=curve.probabilities, mode="lines+markers", name=f"{title} ({curve.score:.2f})",
                        line=dict(color=PALETTE[n % len(PALETTE)]))
    first = next(iter(curves.values()))
    fig.add_scatter(x=first.fractions, y=first.random_probabilities,
                    mode="lines", name=f"{CHANCE_NAME} ({first.random_score:.2f})",
                    line=dict(dash="dash", color="gray"))
    fig.update_layout(title="Answered probability as the most attributed pixels are blurred away",
                      xaxis_title="share of pixels blurred away", yaxis_title="probability", yaxis_range=[0, 1],
                      legend=dict(orientation="h", y=-0.3))
    return _layout(fig, height=360)


def top_k(labels: Sequence[str], confidences: Sequence[float], title: str = "Top classes") -> go.Figure:
    """Horizontal bars of the top-k classes, best on top."""
    fig = go.Figure(
        go.Bar(
            x=list(confidences)[::-1], y=[str(label) for label in labels][::-1], orientation="h",
            text=[f"{c:.1%}" for c in confidences][::-1], textposition="auto", marker_color=PALETTE[0],
        )
    )
    fig.update_layout(title=title, xaxis_range=[0, 1], xaxis_tickformat=".0%", yaxis_type="category")
    return _layout(fig, height=max(180, 60 + 32 * len(labels)))
