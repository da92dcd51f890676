"""Figures of the reproduction report (notebook 05)."""
from __future__ import annotations

from typing import Optional

import pandas as pd

from ._base import _check_columns

__all__ = ["VERDICT_COLORS", "plot_verdicts"]

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


