"""The claim-by-claim reproduction report.

Each claim the companion tests (the paper's own sentences, and the Naitzat et al. findings it
builds on) is listed in :data:`CLAIMS` with the notebook that tests it. That notebook measures it
and calls :func:`record_claim` with the measured value, its 95% confidence interval, the verdict
and the rule that produced the verdict (written before the numbers). Records go to the on-disk
cache (kind ``"claim"``), one per claim and run mode, so that
``notebooks/05_reproduction_report.ipynb`` can assemble the report without re-running anything:
:func:`load_claims` gives the table and :func:`write_report` writes ``REPORT.md`` and
``report.html`` beside the figures.

Verdicts are computed by the notebooks from their numbers (see :mod:`topokit.stats`), never
typed in; a claim whose notebook has not run in this mode is reported as such.
"""
from __future__ import annotations

import html
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from .cache import MISSING, Cache, make_key
from .fileio import atomic_path, full_mode, quick_mode

__all__ = ["CLAIMS", "VERDICTS", "ClaimResult", "record_claim", "load_claims",
           "report_markdown", "report_html", "write_report", "run_mode", "readme_table", "update_readme",
           "update_gallery", "final_figures_dir", "GALLERY"]

#: Allowed verdicts.
VERDICTS = ("reproduced", "not reproduced", "mixed", "not testable here")

#: The claims, in report order: id -> (who claims it, the claim in their words or close to them,
#: the notebook that tests it).
CLAIMS: dict[str, tuple[str, str, str]] = {
    "epochs": ("Kochar et al.",
               "The topological activation cuts the epochs to convergence by 1.5-2x on binary tasks "
               "(synthetic data with Betti numbers above 150, Fashion-MNIST, CIFAR-10, cats vs dogs).",
               "03_compare_activations.ipynb"),
    "betti-reduction": ("Kochar et al.",
                        "The topological activation reduces Betti numbers across layers faster, and that "
                        "is why it converges faster.",
                        "03_compare_activations.ipynb"),
    "prune-accuracy": ("Kochar et al.",
                       "All filters with Betti numbers greater than 300 were removed from each layer "
                       "without significant reduction in accuracy.",
                       "04_pruning_by_betti_number.ipynb"),
    "prune-speed-size": ("Kochar et al.",
                         "This resulted in faster prediction time and reduced memory size of the model.",
                         "04_pruning_by_betti_number.ipynb"),
    "relu-vs-tanh": ("Naitzat et al.",
                     "ReLU networks reduce Betti numbers faster (in earlier layers) than tanh networks.",
                     "02_layer_persistence_diagrams.ipynb"),
    "simple-at-logits": ("Naitzat et al.",
                         "A well-trained network brings every class to Betti numbers (1, 0, ...) by its "
                         "last layer.",
                         "02_layer_persistence_diagrams.ipynb"),
}


def run_mode(quick: Optional[bool] = None, full: Optional[bool] = None) -> str:
    """``"quick"``, ``"full"`` or ``"default"`` (from the arguments or the environment)."""
    return "quick" if quick_mode(quick) else "full" if full_mode(full) else "default"


@dataclass
class ClaimResult:
    """One claim's measured outcome.

    Attributes
    ----------
    claim_id : str
        A key of :data:`CLAIMS`.
    measured : str
        The measured value in words, with its interval (e.g. "speed-up 1.12 (95% CI 0.95-1.31)").
    value, low, high : float
        The headline number and its 95% confidence interval (NaN where none applies).
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        Why this verdict: the rule applied to the numbers, or why it is not testable.
    rule : str
        The verdict rule, as written before the numbers were computed.
    figure : str
        File name of the figure that shows it (in the figures folder), or "".
    details : dict
        Any further numbers (per dataset, per layer ...), JSON-like.
    """

    claim_id: str
    measured: str
    value: float
    low: float
    high: float
    verdict: str
    reason: str
    rule: str
    figure: str = ""
    details: dict = field(default_factory=dict)
    mode: str = "default"
    recorded: str = ""

    def __post_init__(self):
        if self.claim_id not in CLAIMS:
            raise ValueError(f"unknown claim {self.claim_id!r}; choose one of: {', '.join(CLAIMS)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        for name in ("value", "low", "high"):
            v = getattr(self, name)
            setattr(self, name, float("nan") if v is None else float(v))


def _key(claim_id: str, mode: str) -> str:
    return make_key({"claim": claim_id, "mode": mode})


def record_claim(claim_id: str, *, measured: str, value=float("nan"), low=float("nan"), high=float("nan"),
                 verdict: str, reason: str, rule: str, figure: str = "", details: Optional[Mapping] = None,
                 cache_dir=None, mode: Optional[str] = None) -> ClaimResult:
    """Store a notebook's measured outcome of one claim for the report (atomically, in the cache)."""
    mode = mode or run_mode()
    result = ClaimResult(claim_id, measured, value, low, high, verdict, reason, rule, figure,
                         dict(details or {}), mode, time.strftime("%Y-%m-%d %H:%M"))
    Cache(cache_dir).put("claim", _key(claim_id, mode), _jsonable(asdict(result)), config={"claim": claim_id,
                                                                                             "mode": mode})
    return result


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def load_claims(mode: Optional[str] = None, cache_dir=None):
    """The report table: one row per claim of :data:`CLAIMS`, in order.

    Columns: ``claim_id, source, claim, notebook, measured, value, low, high, verdict, reason,
    rule, figure, recorded, mode``. A claim whose notebook has not recorded it in this mode has
    verdict ``"not testable here"`` and a reason saying which notebook to run.
    """
    import pandas as pd

    mode = mode or run_mode()
    cache = Cache(cache_dir)
    rows = []
    for claim_id, (source, claim, notebook) in CLAIMS.items():
        got = cache.get("claim", _key(claim_id, mode))
        if got is MISSING:
            got = {"measured": "not measured", "value": None, "low": None, "high": None,
                   "verdict": "not testable here", "rule": "",
                   "reason": f"{notebook} has not recorded this claim in {mode} mode: run "
                             f"`topokit reproduce --only {notebook[:2]}`" + ("" if mode == "default" else f" --{mode}"),
                   "figure": "", "recorded": "", "details": {}}
        rows.append({"claim_id": claim_id, "source": source, "claim": claim, "notebook": notebook,
                     **{k: got.get(k) for k in ("measured", "value", "low", "high", "verdict", "reason", "rule",
                                                "figure", "recorded")}, "mode": mode})
    return pd.DataFrame(rows)


def _md_cell(text) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def report_markdown(claims, title: str = "Reproduction report") -> str:
    """The report as Markdown: the summary table, then one section per claim."""
    mode = claims["mode"].iloc[0] if len(claims) else run_mode()
    counts = claims["verdict"].value_counts()
    lines = [f"# {title}", "",
             f"Kochar, Vengalil & Sinha (arXiv 2109.01572) and the Naitzat et al. (JMLR 2020) findings it "
             f"builds on, tested claim by claim by the topokit notebooks ({mode} mode, generated "
             f"{time.strftime('%Y-%m-%d %H:%M')}). Verdicts are computed from the measured numbers by rules "
             f"fixed before the numbers; nothing here is typed in by hand.", "",
             "Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".", "",
             "| claim | source | measured (95% CI) | verdict | figure | notebook |",
             "|---|---|---|---|---|---|"]
    for r in claims.itertuples():
        fig = f"[{r.figure}]({r.figure})" if r.figure else ""
        lines.append(f"| {_md_cell(r.claim)} | {r.source} | {_md_cell(r.measured)} | **{r.verdict}** | {fig} | "
                     f"[{r.notebook[:2]}](../notebooks/{r.notebook}) |")
    for r in claims.itertuples():
        lines += ["", f"## {r.claim_id}: {r.verdict}", "", f"> {r.claim} ({r.source})", "",
                  f"- **Measured:** {r.measured}", f"- **Rule (fixed in advance):** {r.rule or 'n/a'}",
                  f"- **Why this verdict:** {r.reason}", f"- **Notebook:** {r.notebook}"
                  + (f" (recorded {r.recorded})" if r.recorded else "")]
        if r.figure and str(r.figure).endswith(".png"):
            lines += ["", f"![{r.claim_id}]({r.figure})"]
    return "\n".join(lines) + "\n"


_CSS = ("body{font-family:DejaVu Sans,Arial,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}"
        "th{background:#f4f4f4}.v-reproduced{background:#e3f4e8}.v-not-reproduced{background:#fbe4e0}"
        ".v-mixed{background:#fdf4d9}.v-not-testable-here{background:#eeeeee}img{max-width:100%}")


def report_html(claims, title: str = "Reproduction report") -> str:
    """The report as one self-contained HTML page (figures linked from the same folder)."""
    esc = html.escape
    rows = []
    for r in claims.itertuples():
        cls = "v-" + r.verdict.replace(" ", "-")
        fig = f'<a href="{esc(r.figure)}">{esc(r.figure)}</a>' if r.figure else ""
        rows.append(f'<tr class="{cls}"><td>{esc(r.claim)}</td><td>{esc(r.source)}</td><td>{esc(str(r.measured))}</td>'
                    f"<td><b>{esc(r.verdict)}</b><br><small>{esc(str(r.reason))}</small></td><td>{fig}</td>"
                    f'<td><a href="../notebooks/{esc(r.notebook)}">{esc(r.notebook)}</a></td></tr>')
    sections = []
    for r in claims.itertuples():
        img = f'<p><img src="{esc(r.figure)}" alt="{esc(r.claim_id)}"></p>' if str(r.figure).endswith(".png") else ""
        sections.append(f"<h2>{esc(r.claim_id)}: {esc(r.verdict)}</h2><blockquote>{esc(r.claim)} ({esc(r.source)})"
                        f"</blockquote><ul><li><b>Measured:</b> {esc(str(r.measured))}</li><li><b>Rule (fixed in "
                        f"advance):</b> {esc(str(r.rule or 'n/a'))}</li><li><b>Why this verdict:</b> "
                        f"{esc(str(r.reason))}</li></ul>{img}")
    mode = claims["mode"].iloc[0] if len(claims) else run_mode()
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_CSS}</style>"
            f"</head><body><h1>{esc(title)}</h1><p>Kochar et al. (arXiv 2109.01572) and Naitzat et al. (JMLR 2020), "
            f"tested claim by claim ({esc(mode)} mode, generated {time.strftime('%Y-%m-%d %H:%M')}). Verdicts are "
            f"computed from the numbers by rules fixed in advance.</p><table><tr><th>claim</th><th>source</th>"
            f"<th>measured (95% CI)</th><th>verdict</th><th>figure</th><th>notebook</th></tr>{''.join(rows)}</table>"
            f"{''.join(sections)}</body></html>\n")


def write_report(claims, directory=None) -> list[Path]:
    """Write ``REPORT.md`` and ``report.html`` into ``directory`` (default: the figures folder),
    both or neither."""
    import contextlib

    if directory is None:
        from .plotting import figures_dir

        directory = figures_dir()
    directory = Path(directory)
    paths = [directory / "REPORT.md", directory / "report.html"]
    texts = [report_markdown(claims), report_html(claims)]
    with contextlib.ExitStack() as stack:
        for path, text in zip(paths, texts):
            tmp = stack.enter_context(atomic_path(path))
            tmp.write_text(text, encoding="utf-8")
    return paths


README_START, README_END = "<!-- report:start -->", "<!-- report:end -->"

#: Figures shown in the README's gallery (file-name patterns in the figures folder, in order).
GALLERY = ("05_verdicts.png", "02_d1_relu_vs_tanh.png", "03_speedup_forest.png", "03_km_curves_mlp.png",
           "04_cats-vs-dogs_curves.png", "04_betti_scores_sweep.png")


def readme_table(claims) -> str:
    """The short reproduction table the README shows (claim, measured, verdict)."""
    mode = claims["mode"].iloc[0] if len(claims) else run_mode()
    lines = ["| claim | source | measured (95% CI) | verdict |", "|---|---|---|---|"]
    for r in claims.itertuples():
        lines.append(f"| {_md_cell(r.claim)} | {r.source} | {_md_cell(r.measured)} | **{r.verdict}** |")
    lines += ["", f"*Generated by `make reproduce` ({mode} mode) on {time.strftime('%Y-%m-%d')}; the full report "
                  f"with rules and reasons is `figures/REPORT.md` (and `figures/report.html`).*"]
    return "\n".join(lines)


def update_readme(claims, readme=None) -> bool:
    """Replace the README's text between the report markers by :func:`readme_table`.

    Returns whether the file changed. Raises ``ValueError`` when the markers are missing.
    """
    from .fileio import PROJECT_ROOT, atomic_write_text

    readme = Path(readme) if readme is not None else PROJECT_ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme} has no '{README_START}' ... '{README_END}' markers; add them where the "
                         "reproduction table should go")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{readme_table(claims)}\n{README_END}{tail}"
    if new == text:
        return False
    atomic_write_text(readme, new)
    return True


def final_figures_dir() -> Path:
    """Where this run's figures end up: ``topokit reproduce`` stages each notebook's figures
    (``TOPOKIT_FIGURES``) and tells the kernel the final folder (``TOPOKIT_FIGURES_FINAL``), which
    holds the figures of the notebooks that already ran; outside the pipeline, the figures folder."""
    import os

    from .plotting import figures_dir

    final = os.environ.get("TOPOKIT_FIGURES_FINAL", "").strip()
    if not final:
        return figures_dir()
    return Path(final) / "quick" if quick_mode() else Path(final)


def update_gallery(figures, gallery=None, width: int = 480) -> list[Path]:
    """Write small PNG copies (``width`` pixels wide) of the :data:`GALLERY` figures.

    ``figures`` is a folder or a list of folders, searched in order for each pattern. The gallery
    (default ``docs/gallery/`` in the project) is committed and shown in the README; each run of
    the default mode regenerates it from the figures it just made.
    """
    from PIL import Image

    from .fileio import PROJECT_ROOT

    folders = [Path(figures)] if isinstance(figures, (str, Path)) else [Path(f) for f in figures]
    gallery = Path(gallery) if gallery is not None else PROJECT_ROOT / "docs" / "gallery"
    written = []
    for pattern in GALLERY:
        found = next((sorted(f.glob(pattern)) for f in folders if list(f.glob(pattern))), [])
        for src in found[:1]:
            with Image.open(src) as im:
                im = im.convert("RGB")
                if im.width > width:
                    im = im.resize((width, max(1, round(im.height * width / im.width))), Image.LANCZOS)
                with atomic_path(gallery / src.name) as tmp:
                    im.save(tmp, format="PNG", optimize=True)
            written.append(gallery / src.name)
    return written
