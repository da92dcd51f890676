"""Figures of the reproduction report (notebook 05)."""
from __future__ import annotations

from typing import Optional

import pandas as pd

from ._base import _check_columns

__all__ = ["VERDICT_COLORS", "plot_verdicts", "plot_robustness"]

# ----------------------------------------------------------------------------- reproduction report

#: Colour of each verdict of the reproduction report (``"invalid"``: a record whose verdict is not
#: one of :data:`topokit.report.VERDICTS`).
VERDICT_COLORS = {"reproduced": "#009E73", "not reproduced": "#D55E00", "mixed": "#E69F00",
                  "not testable here": "#999999", "invalid": "#CC79A7"}


def plot_verdicts(claims: pd.DataFrame, title: Optional[str] = None):
    """One row per claim: its id and source, the measured value and the verdict as a coloured box.

    ``claims`` is :func:`topokit.report.load_claims`'s table. Recorded texts are drawn as plain
    text (no mathtext: a ``$`` in a measured value is shown, not parsed).
    """
    import matplotlib.pyplot as plt
    import textwrap

    claims = _check_columns(claims, ["claim_id", "source", "measured", "verdict"], "claims",
                            "pass topokit.report.load_claims()")
    n = len(claims)
    fig, ax = plt.subplots(figsize=(10, 0.75 * n + 0.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(n, 0)
    ax.axis("off")
    for i, r in enumerate(claims.itertuples()):
        color = VERDICT_COLORS.get(r.verdict, "#999999")
        ax.add_patch(plt.Rectangle((7.7, i + 0.12), 2.25, 0.76, color=color, alpha=0.85))
        ax.text(8.825, i + 0.5, str(r.verdict), ha="center", va="center", color="white", fontweight="bold", fontsize=9,
                parse_math=False)
        ax.text(0.05, i + 0.5, f"{r.claim_id}\n({r.source})", va="center", fontsize=9, fontweight="bold",
                parse_math=False)
        ax.text(2.3, i + 0.5, "\n".join(textwrap.wrap(str(r.measured), 70)[:3]), va="center", fontsize=8,
                parse_math=False)
    if title:
        ax.set_title(title, loc="left")
    return fig




def plot_robustness(specs: pd.DataFrame, choices, reference, *, value: Optional[str] = None,
                    low: Optional[str] = None, high: Optional[str] = None, claimed: Optional[float] = None,
                    xlabel: str = "", title: Optional[str] = None):
    """A claim's specification curve: one row per specification, its verdict as a coloured marker
    and, when ``value`` is given, the measured value with its interval (``low``/``high``).

    Parameters
    ----------
    specs : DataFrame
        As for :func:`topokit.report.record_robustness`: a column per choice and ``verdict``.
    choices : sequence of str
    reference : mapping
        The reference specification (drawn first, in bold).
    value, low, high : str, optional
        Columns holding a number and its interval (e.g. a speed-up and its 95% CI).
    claimed : float, optional
        A vertical line at the claimed value (e.g. 1.5 for "1.5-2x").
    """
    import matplotlib.pyplot as plt
    import numpy as np

    choices = list(choices)
    specs = _check_columns(specs, [*choices, "verdict"] + [c for c in (value, low, high) if c],
                           "specs", "pass one row per specification with a column per choice and 'verdict'")
    labels, is_ref = [], []
    for _, row in specs.iterrows():
        changed = [f"{c} = {row[c]}" for c in choices if row[c] != reference[c]]
        labels.append(", ".join(changed) if changed else "reference")
        is_ref.append(not changed)
    order = np.argsort(~np.asarray(is_ref), kind="stable")
    n = len(specs)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * n + 1.2))
    for y, i in enumerate(order):
        row = specs.iloc[i]
        color = VERDICT_COLORS.get(str(row["verdict"]), "#999999")
        x = float(row[value]) if value and np.isfinite(row[value]) else None
        if x is None:
            ax.scatter([0.5], [y], color=color, marker="s", s=60, transform=ax.get_yaxis_transform())
        else:
            if low and high and np.isfinite(row[low]) and np.isfinite(row[high]):
                ax.plot([row[low], row[high]], [y, y], color=color, lw=2)
            ax.scatter([x], [y], color=color, marker="s", s=40, zorder=3)
    ax.set_yticks(range(n))
    ax.set_yticklabels([labels[i] for i in order], fontsize=8)
    for tick, i in zip(ax.get_yticklabels(), order):
        if is_ref[i]:
            tick.set_fontweight("bold")
    ax.set_ylim(n - 0.5, -0.5)
    if claimed is not None:
        ax.axvline(claimed, color="#555555", ls="--", lw=1)
    if value:
        ax.set_xlabel(xlabel or value)
    else:
        ax.set_xticks([])
    handles = [plt.Line2D([], [], color=c, marker="s", ls="", label=v) for v, c in VERDICT_COLORS.items()
               if v in set(specs["verdict"].astype(str))]
    ax.legend(handles=handles, fontsize=7, loc="lower right", frameon=False)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    return fig
