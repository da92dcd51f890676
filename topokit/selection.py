"""Notebook 03's study, now :mod:`topokit.studies.activations`; this module re-exports its public names.

``topokit.selection`` keeps working for code written against it (every name below is the same
object as in :mod:`topokit.studies.activations`). It is not a library module: it imports the study
at import time, which the library modules never do.
"""
from __future__ import annotations

from .studies.activations import (  # noqa: F401
    BETTI_CHOICES,
    BettiVerdict,
    EPOCH_CHOICES,
    FAMILY_GRID,
    LR_FACTORS,
    MIN_CONVERGED,
    SELECTION_DATASETS,
    Selection,
    activation_name,
    betti_specifications,
    betti_verdict,
    cached,
    combine_verdicts,
    compare,
    digest,
    engine_check,
    epoch_specifications,
    explorer_frames,
    km_curves,
    omega_ratio,
    plan_seeds,
    planned_sweep,
    relative_epochs,
    scaled_lr,
    select_topo,
    selection_rule,
    tune_lr,
    tuned_sweep,
    winner_stability,
)
from .studies.activations import __all__  # noqa: F401
