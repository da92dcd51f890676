"""Figures for the notebooks: datasets, training curves, persistence diagrams, Betti numbers.

One style everywhere: :func:`set_style` sets a small matplotlib rc; colours are fixed per class
(:data:`CLASS_COLORS`), per activation (:data:`ACTIVATION_COLORS`) and per homology dimension
(:data:`DIM_COLORS`), in matplotlib and plotly alike (Okabe-Ito, readable by colour-blind
readers); classes are told apart by line style (:data:`CLASS_LINESTYLES`) where colour encodes
something else. Static figures are matplotlib, interactive ones (a slider over layers) plotly.

Every figure is written with :func:`save_figure`, atomically, into :func:`figures_dir`, or with
:func:`draw`, which does the same and on a rerun with the same inputs writes the cached files
without drawing again:
``figures/`` (or ``$TOPOKIT_FIGURES``), and its ``quick/`` subfolder in quick mode so that a
quick CI run never overwrites a full run's figures.

The functions are thin: they validate their inputs (``ValueError`` with the fix), draw with
matplotlib or plotly directly and return the figure; nothing is computed here that
:mod:`topokit.topology` should compute.

The figures live in one module per family (``_base`` holds the shared style and files); every
public name is importable from ``topokit.plotting``.
"""
from ._base import CLASS_COLORS, CLASS_LINESTYLES, ACTIVATION_COLORS, DIM_COLORS, RUN_COLORS, STYLE, figures_dir, save_figure, set_style, SavedFiles, PROJECT_FIGURES, PLOTLYJS  # noqa: F401
from .datasets import plot_dataset, plot_datasets, plot_point_clouds  # noqa: F401
from .training import plot_training_curves  # noqa: F401
from .diagrams import plot_diagrams_interactive, plot_diagrams_grid  # noqa: F401
from .betti import plot_betti_by_layer, plot_betti_by_epoch, plot_betti_curves, plot_betti_grid  # noqa: F401
from .activations import plot_activation_family, plot_selection_tradeoff, plot_km_curves, plot_speedup_forest, plot_rank_scatter, family_explorer  # noqa: F401
from .pruning import PRUNING_COLORS, plot_filter_scores, plot_pruning_curves, plot_pruning_sizes  # noqa: F401
from .report import VERDICT_COLORS, plot_robustness, plot_verdicts  # noqa: F401
from ._cached import draw, content_digest  # noqa: F401

__all__ = ["CLASS_COLORS", "CLASS_LINESTYLES", "ACTIVATION_COLORS", "DIM_COLORS", "RUN_COLORS", "STYLE", "figures_dir", "save_figure", "set_style", "SavedFiles", "plot_dataset", "plot_datasets", "plot_training_curves", "plot_diagrams_interactive", "plot_diagrams_grid", "plot_betti_by_layer", "plot_point_clouds", "plot_betti_by_epoch", "plot_betti_curves", "plot_betti_grid", "VERDICT_COLORS", "plot_verdicts", "plot_robustness", "PRUNING_COLORS", "plot_filter_scores", "plot_pruning_curves", "plot_pruning_sizes", "plot_activation_family", "plot_selection_tradeoff", "plot_km_curves", "plot_speedup_forest", "plot_rank_scatter", "family_explorer", "PROJECT_FIGURES", "PLOTLYJS", "draw", "content_digest"]
