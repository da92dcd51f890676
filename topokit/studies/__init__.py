"""The notebooks' studies: each notebook's experiment, configuration and verdict rules, above the library.

The library modules (:mod:`topokit.data`, :mod:`~topokit.models`, :mod:`~topokit.activations`,
:mod:`~topokit.training`, :mod:`~topokit.topology`, :mod:`~topokit.filtertopology`,
:mod:`~topokit.pruning`, :mod:`~topokit.sweeps`, :mod:`~topokit.stats`, :mod:`~topokit.cache`,
:mod:`~topokit.parallel`, :mod:`~topokit.plotting` ...) are general tools and never import a study
(``tests/test_studies.py`` parses their imports; the one exception is :mod:`topokit.pruning`'s
documented lazy ``__getattr__``, which keeps ``pruning.study`` and the other old names working).
A study imports the library, never the reverse. One module per notebook:

- :mod:`topokit.studies.naitzat` -- notebook 02 (layer persistence diagrams): the measures per net
  and class and the ReLU-against-tanh and simple-at-the-logits rules.
- :mod:`topokit.studies.activations` -- notebook 03 (compare activations): the ``topo`` selection
  procedure and the fair comparison of activations (formerly ``topokit.selection``, which
  re-exports it).
- :mod:`topokit.studies.pruning` -- notebook 04 (pruning by Betti number): the data sets, sizes and
  curves, the cached study runner and the rules that judge Kochar et al.'s pruning claims.
- :mod:`topokit.studies.ladder` -- the activation claim on a ladder of Betti numbers (four
  families up to the paper's 150+), the same Optuna search budget for every activation on every
  rung, per-rung verdicts (no notebook yet).

Where each claim of the report (:data:`topokit.report.CLAIMS`) is judged:

====================  =====================================================================
claim                 verdict rule
====================  =====================================================================
``epochs``            :func:`topokit.studies.activations.compare` per dataset
                      (:func:`topokit.stats.verdict`); combined over datasets in notebook 03
``betti-reduction``   notebook 03's last cell (:func:`topokit.stats.interval_verdict`)
``prune-accuracy``    :func:`topokit.studies.pruning.judge_paper_rule` (exact McNemar,
                      :func:`topokit.stats.paired_mcnemar`) and
                      :func:`topokit.studies.pruning.accuracy_claim`
``prune-speed-size``  :func:`topokit.studies.pruning.judge_paper_rule` and
                      :func:`topokit.studies.pruning.speed_size_claim`
``relu-vs-tanh``      :func:`topokit.studies.naitzat.relu_vs_tanh_claim`
``simple-at-logits``  :func:`topokit.studies.naitzat.simple_at_logits_claim`
====================  =====================================================================

The per-dataset training recipes are the sweep engine's (:data:`topokit.sweeps.RECIPES`): the engine
resolves dataset names through them, so they stay in the library (see the comment there).

Import a study by name (``from topokit.studies import pruning as pruning_study``); importing this
package imports none of them.
"""

__all__ = ["naitzat", "activations", "pruning", "ladder"]
