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

Everything recorded is shown as text, never as markup: ``report.html`` is rendered by Jinja2 with
autoescaping, every text in ``REPORT.md`` and the README table goes through one Markdown escaper
(:func:`_md`), a figure is shown only when it is an image file under the figures folder, and a
verdict outside :data:`VERDICTS` (a cache entry altered by hand) is shown as :data:`INVALID`;
whatever is left out or marked so is named in a :class:`ReportWarning`.

A claim's section can carry further *parts* (:data:`PARTS`), recorded beside the claim by the
notebooks that measure them: **Robustness** (:func:`record_robustness`: the verdict recomputed
under the reasonable alternatives to each free choice, the share of specifications in which it
holds and the choices that flip it; its headline goes into the README table) and **Betti ladder**
(:func:`record_part`: the activation claim rung by rung).
"""
from __future__ import annotations

import json
import math
import numbers
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Mapping, Optional
from urllib.parse import quote

from . import _checks
from ._checks import InvalidParameterError
from .cache import MISSING, Cache, make_key
from .fileio import atomic_path, full_mode, quick_mode

__all__ = ["CLAIMS", "VERDICTS", "INVALID", "MODES", "IMAGE_SUFFIXES", "ReportWarning", "ClaimResult",
           "record_claim", "load_claims", "report_markdown", "report_html", "write_report", "run_mode",
           "readme_table", "update_readme", "update_gallery", "final_figures_dir", "GALLERY", "PARTS", "ClaimPart",
           "record_part", "record_robustness", "load_parts"]

#: Allowed verdicts.
VERDICTS = ("reproduced", "not reproduced", "mixed", "not testable here")
#: What the report shows for a claim whose recorded verdict is not one of :data:`VERDICTS`
#: (a cache entry altered by hand, or a table edited after :func:`load_claims`); never recordable.
INVALID = "invalid"
#: Run modes a claim can be recorded in.
MODES = ("quick", "default", "full")
#: File extensions a report figure may have (it is shown as an image and linked).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")

#: The parts a claim's section may carry after its verdict, in the order they are shown.
PARTS = ("Robustness", "Betti ladder")
#: At most this many rows in one part's table (a table is a summary, not a dump).
MAX_PART_ROWS = 300

#: CSS class of each verdict in report.html (the verdict text itself is never used as a class).
_VERDICT_CLASS = {**{v: "v-" + v.replace(" ", "-") for v in VERDICTS}, INVALID: "v-invalid"}


class ReportWarning(UserWarning):
    """Something recorded for the report cannot be shown as recorded (a figure that is not a file
    under the figures folder, a verdict outside :data:`VERDICTS`) and is left out or marked invalid."""


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
    "ext-resnet-betti": ("topokit extension",
                         "Extension, not a claim of either paper: on a residual network (CIFAR ResNet-20), "
                         "removing the filters with the highest Betti scores beats removing random filters "
                         "at equal fractions.",
                         "06_bring_your_own_model.ipynb"),
}


def run_mode(quick: Optional[bool] = None, full: Optional[bool] = None) -> str:
    """``"quick"``, ``"full"`` or ``"default"`` (from the arguments or the environment)."""
    return "quick" if quick_mode(quick) else "full" if full_mode(full) else "default"


# ----------------------------------------------------------------------------- checks


def _string(value, name: str, fix: str = "") -> str:
    return _checks.string(value, name, fix=fix)


def _bound(value, name: str) -> float:
    """A number of a claim's interval: None and NaN mean 'none applies' (NaN), inf is allowed."""
    if value is None:
        return float("nan")
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value):
        return float("nan")
    return _checks.real(value, name, finite=False, fix="pass a number, or None / NaN where none applies")


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def _figure_problem(figure) -> Optional[str]:
    """Why ``figure`` cannot name a file in the figures folder, from its text alone (None: it can)."""
    if not isinstance(figure, str):
        return f"it is a {type(figure).__name__}, not a file name"
    if _SCHEME.match(figure) or figure.startswith("//"):
        return "it is a URL (it has a scheme such as javascript:, data: or http:), not a file of the figures folder"
    if "\\" in figure or any(ord(c) < 32 or ord(c) == 127 for c in figure):
        return "it contains a backslash or a control character"
    path = PurePosixPath(figure)
    if path.is_absolute() or PureWindowsPath(figure).drive:
        return "it is an absolute path; give the file name relative to the figures folder"
    if ".." in path.parts:
        return "it climbs out of the figures folder with '..'"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return (f"its extension {path.suffix or '(none)'!s} is not an image's ({', '.join(IMAGE_SUFFIXES)})")
    return None


def _check_record(record, texts) -> None:
    """The checks a claim's record and its parts share: a known claim and mode, text fields, and a
    figure that is a relative image path (or "")."""
    _checks.choice(record.claim_id, "claim_id", CLAIMS,
                   fix=f"unknown claim {record.claim_id!r}: a new claim goes into topokit.report.CLAIMS first")
    _checks.choice(record.mode, "mode", MODES)
    for name in texts:
        _string(getattr(record, name), name)
    if record.figure:
        why = _figure_problem(record.figure)
        if why is not None:
            raise InvalidParameterError(
                f"figure must be the file name of an image in the figures folder, relative to it (e.g. "
                f"'03_speedup_forest.png'), or ''; got {record.figure!r}: {why}")


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
        File name of the figure that shows it, relative to the figures folder (an image:
        one of :data:`IMAGE_SUFFIXES`), or "".
    details : dict
        Any further numbers (per dataset, per layer ...), JSON-like.
    mode : str
        The run mode it was measured in, one of :data:`MODES`.
    recorded : str
        When it was recorded.

    Raises
    ------
    topokit._checks.InvalidParameterError
        For an unknown claim or verdict, a text that is not a string, a number that is not one,
        ``low > high``, a figure that is not a relative image path, or details that are not a
        JSON-like mapping.
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
        _check_record(self, ("measured", "reason", "rule", "figure", "recorded"))
        _checks.choice(self.verdict, "verdict", VERDICTS,
                       fix="compute it from the numbers (topokit.stats.interval_verdict gives one)")
        for name in ("value", "low", "high"):
            setattr(self, name, _bound(getattr(self, name), name))
        if self.low > self.high:
            raise InvalidParameterError(f"low must not exceed high, got low={self.low!r} > high={self.high!r}; "
                                        "pass the interval's lower bound as low")
        if not isinstance(self.details, Mapping):
            raise InvalidParameterError(
                f"details must be a mapping (a dict) or None, got {type(self.details).__name__}")
        try:
            json.dumps(_jsonable(dict(self.details)), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"details must hold only JSON-like values (numbers, strings, lists, dicts), got one that is not "
                f"({exc}); convert it, e.g. with .tolist() or str()") from None


def _key(claim_id: str, mode: str) -> str:
    return make_key({"claim": claim_id, "mode": mode})


def record_claim(claim_id: str, *, measured: str, value=float("nan"), low=float("nan"), high=float("nan"),
                 verdict: str, reason: str, rule: str, figure: str = "", details: Optional[Mapping] = None,
                 cache_dir=None, mode: Optional[str] = None) -> ClaimResult:
    """Store a notebook's measured outcome of one claim for the report (atomically, in the cache).

    Parameters
    ----------
    claim_id : str
        A key of :data:`CLAIMS`.
    measured, reason, rule : str
        The measured value in words, why this verdict, and the rule fixed before the numbers.
    value, low, high : float or None
        The headline number and its 95% interval (None or NaN where none applies).
    verdict : str
        One of :data:`VERDICTS`.
    figure : str, default ""
        File name of an image in the figures folder, relative to it (no URL, absolute path or
        ``..``). Whether it exists is checked when the report is written.
    details : mapping, optional
        Further JSON-like numbers.
    cache_dir : path, optional
        The cache folder (default ``$TOPOKIT_CACHE``).
    mode : str, optional
        One of :data:`MODES`; default the current run mode (:func:`run_mode`).

    Returns
    -------
    ClaimResult

    Raises
    ------
    topokit._checks.InvalidParameterError
        Before anything is stored, for any argument :class:`ClaimResult` refuses (an unknown
        claim or verdict lists the valid ones).
    """
    mode = run_mode() if mode is None else mode
    if details is not None and not isinstance(details, Mapping):
        raise InvalidParameterError(f"details must be a mapping (a dict) or None, got {type(details).__name__}")
    result = ClaimResult(claim_id, measured, value, low, high, verdict, reason, rule, figure,
                         dict(details or {}), mode, time.strftime("%Y-%m-%d %H:%M"))
    Cache(cache_dir).put("claim", _key(claim_id, mode), _jsonable(asdict(result)), config={"claim": claim_id,
                                                                                             "mode": mode})
    return result


@dataclass
class ClaimPart:
    """One part of a claim's section (:data:`PARTS`): a headline, a small table and a figure.

    Attributes
    ----------
    claim_id : str
        A key of :data:`CLAIMS`.
    part : str
        One of :data:`PARTS`.
    headline : str
        One sentence (for Robustness, the README table shows it).
    columns : list of str
        The table's column names.
    rows : list of list of str
        The table's cells, as text.
    text : str
        A short paragraph shown under the headline.
    figure : str
        An image in the figures folder, relative to it, or "".
    mode, recorded : str
    """

    claim_id: str
    part: str
    headline: str
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    text: str = ""
    figure: str = ""
    mode: str = "default"
    recorded: str = ""

    def __post_init__(self):
        _check_record(self, ("headline", "text", "figure", "recorded"))
        _checks.choice(self.part, "part", PARTS)
        self.columns = [_text(c) for c in self.columns]
        self.rows = [[_text(c) for c in row] for row in self.rows]
        if any(len(row) != len(self.columns) for row in self.rows):
            raise InvalidParameterError("every row of a part's table must have one cell per column")
        if len(self.rows) > MAX_PART_ROWS:
            raise InvalidParameterError(f"a part's table holds at most {MAX_PART_ROWS} rows, got {len(self.rows)}; "
                                        "summarise it (the full table belongs in the notebook)")


def _part_key(claim_id: str, part: str, mode: str) -> str:
    return make_key({"claim": claim_id, "part": part, "mode": mode})


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return _text(value)


def record_part(claim_id: str, part: str, *, headline: str, table=None, text: str = "", figure: str = "",
                cache_dir=None, mode: Optional[str] = None) -> ClaimPart:
    """Store one part of a claim's section (atomically, in the cache, kind ``"claim-part"``).

    Parameters
    ----------
    claim_id : str
        A key of :data:`CLAIMS`.
    part : str
        One of :data:`PARTS`.
    headline : str
        One sentence that sums the part up, computed from the numbers.
    table : DataFrame, optional
        A small table (at most :data:`MAX_PART_ROWS` rows); cells are shown as text.
    text : str, default ""
        A short paragraph shown under the headline.
    figure : str, default ""
        An image in the figures folder, relative to it.
    cache_dir : path, optional
    mode : str, optional
        One of :data:`MODES`; default the current run mode.

    Returns
    -------
    ClaimPart

    Raises
    ------
    topokit._checks.InvalidParameterError
        For an unknown claim, part or mode, a table that is not a DataFrame or is too long, or a
        figure that is not a relative image path; before anything is stored.
    """
    import pandas as pd

    mode = run_mode() if mode is None else mode
    if table is None:
        columns, rows = [], []
    elif isinstance(table, pd.DataFrame):
        columns = [str(c) for c in table.columns]
        rows = [[_cell(v) for v in row] for row in table.itertuples(index=False, name=None)]
    else:
        raise InvalidParameterError(f"table must be a pandas DataFrame or None, got {type(table).__name__}")
    result = ClaimPart(claim_id, part, headline, columns, rows, text, figure, mode, time.strftime("%Y-%m-%d %H:%M"))
    Cache(cache_dir).put("claim-part", _part_key(claim_id, part, mode), asdict(result),
                         config={"claim": claim_id, "part": part, "mode": mode})
    return result


def _varied(row, choices, reference) -> str:
    changed = [f"{c} = {row[c]}" for c in choices if row[c] != reference[c]]
    return ", ".join(changed) if changed else "reference"


def record_robustness(claim_id: str, specs, choices, reference: Mapping, *, verdict: str = "verdict",
                      measured: str = "measured", text: str = "", figure: str = "", cache_dir=None,
                      mode: Optional[str] = None) -> ClaimPart:
    """Store a claim's specification curve as its **Robustness** part.

    Parameters
    ----------
    claim_id : str
        A key of :data:`CLAIMS`.
    specs : DataFrame
        One row per specification: a column per free choice (``choices``), the verdict reached
        under it (``verdict``, one of :data:`VERDICTS`) and, optionally, the measured value in
        words (``measured``). Usually each row departs from ``reference`` in one choice.
    choices : sequence of str
        The free-choice columns.
    reference : mapping
        The specification the claim's headline verdict uses (choice -> value); one row must match.
    text, figure : str
        A short paragraph and a figure (see :func:`topokit.plotting.plot_robustness`).

    Returns
    -------
    ClaimPart
        Headline: the reference verdict, the share of specifications that reach it, and each
        single change of a choice that flips it (or that none does).

    Raises
    ------
    topokit._checks.InvalidParameterError
        For a table without the named columns, a verdict outside :data:`VERDICTS`, or a reference
        that no row matches.
    """
    import pandas as pd

    from .robustness import flips

    if not isinstance(specs, pd.DataFrame) or specs.empty:
        raise InvalidParameterError("specs must be a non-empty DataFrame, one row per specification")
    choices = [_string(c, "choice") for c in choices]
    if not choices:
        raise InvalidParameterError("choices must name at least one free-choice column")
    if not isinstance(reference, Mapping) or sorted(reference) != sorted(choices):
        raise InvalidParameterError(f"reference must give a value for each of the choices {choices}, got "
                                    f"{reference!r}")
    missing = [c for c in [*choices, verdict] if c not in specs.columns]
    if missing:
        raise InvalidParameterError(f"specs lacks the column(s) {missing}; it has {list(specs.columns)}")
    bad = sorted(set(specs[verdict].astype(str)) - set(VERDICTS))
    if bad:
        raise InvalidParameterError(f"specs holds verdicts {bad} outside {VERDICTS}")
    flipped = flips(specs, choices, verdict, reference)
    is_ref = pd.Series(True, index=specs.index)
    for c in choices:
        is_ref &= specs[c] == reference[c]
    ref_verdict = str(specs.loc[is_ref, verdict].iloc[0])
    held = int((specs[verdict].astype(str) == ref_verdict).sum())
    n = len(specs)
    headline = f"{ref_verdict} in {held} of {n} specifications"
    if flipped.empty:
        headline += "; no single alternative choice changes it"
    else:
        shown = [f"{r.choice} = {r.value} ({r.verdict})" for r in flipped.itertuples()]
        headline += "; it changes with " + "; ".join(shown[:4]) + ("; ..." if len(shown) > 4 else "")
    order = (~is_ref).astype(int).to_numpy().argsort(kind="stable")
    shown_specs = specs.iloc[order]
    table = pd.DataFrame({
        "specification": [_varied(row, choices, reference) for _, row in shown_specs.iterrows()],
        "verdict": shown_specs[verdict].astype(str).to_numpy(),
        "measured": (shown_specs[measured].astype(str).to_numpy() if measured in specs.columns
                     else [""] * len(shown_specs)),
    })
    return record_part(claim_id, "Robustness", headline=headline, table=table, text=text, figure=figure,
                       cache_dir=cache_dir, mode=mode)


def load_parts(mode: Optional[str] = None, cache_dir=None) -> dict:
    """The recorded parts: ``{claim_id: [part record (dict), ...]}`` in :data:`PARTS` order.

    A cache entry that is not a valid part record is left out, with a :class:`ReportWarning`.
    """
    mode = run_mode() if mode is None else _checks.choice(mode, "mode", MODES)
    cache = Cache(cache_dir)
    out: dict = {}
    for claim_id in CLAIMS:
        for part in PARTS:
            got = cache.get("claim-part", _part_key(claim_id, part, mode))
            if got is MISSING:
                continue
            try:
                if not isinstance(got, Mapping):
                    raise InvalidParameterError(f"it is a {type(got).__name__}")
                record = ClaimPart(**{k: got[k] for k in ClaimPart.__dataclass_fields__ if k in got})
            except (InvalidParameterError, TypeError, KeyError) as exc:
                _warn(f"the {part} part of claim {claim_id!r} is left out: its cache entry is not a valid part "
                      f"record ({exc})")
                continue
            out.setdefault(claim_id, []).append(asdict(record))
    return out


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


def _warn(message: str) -> None:
    warnings.warn(message, ReportWarning, stacklevel=3)


def _cached_number(value, claim_id: str, name: str):
    """A number read back from a claim's cache entry (NaN: none); anything else is dropped, with a warning."""
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf"):  # how _jsonable stores infinite bounds
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    _warn(f"claim {claim_id!r}: the cached {name} {value!r} is not a number; it is shown as missing")
    return math.nan


_FIELDS = ("measured", "value", "low", "high", "verdict", "reason", "rule", "figure", "recorded")


def load_claims(mode: Optional[str] = None, cache_dir=None):
    """The report table: one row per claim of :data:`CLAIMS`, in order.

    Columns: ``claim_id, source, claim, notebook, measured, value, low, high, verdict, reason,
    rule, figure, recorded, mode, robustness, parts`` (``robustness``: the headline of the claim's
    Robustness part, "" when none was recorded; ``parts``: its parts, see :func:`load_parts`). A claim whose notebook has not recorded it in this mode has
    verdict ``"not testable here"`` and a reason saying which notebook to run. A cache entry whose
    verdict is not one of :data:`VERDICTS` (or that is not a record at all) is shown with verdict
    :data:`INVALID` and a :class:`ReportWarning`; figures are checked when the report is written.
    """
    import pandas as pd

    mode = run_mode() if mode is None else _checks.choice(mode, "mode", MODES)
    cache = Cache(cache_dir)
    rows = []
    for claim_id, (source, claim, notebook) in CLAIMS.items():
        rerun = f"`topokit reproduce --only {notebook[:2]}`" + ("" if mode == "default" else f" --{mode}")
        got = cache.get("claim", _key(claim_id, mode))
        if got is MISSING:
            got = {"measured": "not measured", "value": None, "low": None, "high": None,
                   "verdict": "not testable here", "rule": "",
                   "reason": f"{notebook} has not recorded this claim in {mode} mode: run {rerun}",
                   "figure": "", "recorded": "", "details": {}}
        elif not isinstance(got, Mapping):
            _warn(f"claim {claim_id!r}: its cache entry is a {type(got).__name__}, not a claim record; it is "
                  f"reported as {INVALID!r}: rerun {notebook}")
            got = {"measured": "", "verdict": INVALID, "rule": "", "figure": "", "recorded": "",
                   "reason": f"the cache entry is not a claim record: rerun {rerun}"}
        else:
            got = dict(got)
            if got.get("verdict") not in VERDICTS:
                _warn(f"claim {claim_id!r}: the cached verdict {got.get('verdict')!r} is not one of {VERDICTS}; it "
                      f"is reported as {INVALID!r}: rerun {notebook}")
                got["reason"] = (f"the recorded verdict {got.get('verdict')!r} is not one of: {', '.join(VERDICTS)} "
                                 f"(the cache entry was altered): rerun {rerun}")
                got["verdict"] = INVALID
        for name in ("value", "low", "high"):
            got[name] = _cached_number(got.get(name), claim_id, name)
        rows.append({"claim_id": claim_id, "source": source, "claim": claim, "notebook": notebook,
                     **{k: got.get(k) for k in _FIELDS}, "mode": mode})
    parts = load_parts(mode, cache_dir)
    for row in rows:
        row["parts"] = parts.get(row["claim_id"], [])
        row["robustness"] = next((p["headline"] for p in row["parts"] if p["part"] == "Robustness"), "")
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- rendering

_MD_ALWAYS = re.compile(r"([\\`*_{}\[\]!|~#$])")
_MD_LEADING = re.compile(r"^(\s*)([-+=>]|\d+(?=[.)]))")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _md(text) -> str:
    """``text`` as inert inline Markdown on one line: the only escaping helper of REPORT.md and
    the README table.

    Backslash-escapes ``\\ ` * _ { } [ ] ! | ~ # $`` (no emphasis, code, link, image, table cell,
    heading or math can form), writes ``&`` and ``<`` as entities (no HTML tag or entity can
    form), escapes a leading ``- + = >`` or ``1.`` (no list, quote or setext heading), and puts
    line breaks and control characters as spaces. Parentheses and a ``>`` inside the text stay
    as they are: with ``[``, ``]`` and ``<`` escaped they cannot form a link or a tag.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    text = _CONTROL.sub(" ", str(text).replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = _MD_ALWAYS.sub(r"\\\1", text)
    match = _MD_LEADING.match(text)
    if match:
        lead, mark = match.groups()
        text = lead + (f"\\{mark}" if not mark[0].isdigit() else mark + "\\") + text[match.end():]
    return text


def _text(value) -> str:
    """A table cell as plain text (None and NaN: empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _url(path: str) -> str:
    """A relative path as a link target: every character but letters, digits, ``_.-~/`` percent-encoded."""
    return quote(path, safe="/")


def _figure_dirs(figure_dirs) -> list[Path]:
    if figure_dirs is None:
        from .plotting import figures_dir

        folders = [figures_dir(), final_figures_dir()]
    elif isinstance(figure_dirs, (str, Path)):
        folders = [figure_dirs]
    else:
        folders = list(figure_dirs)
    out = []
    for f in folders:
        if not isinstance(f, (str, Path)):
            raise InvalidParameterError(f"figure_dirs must be a folder or a list of folders, got an item "
                                        f"{type(f).__name__} {f!r}")
        if Path(f) not in out:
            out.append(Path(f))
    return out


def _checked_figure(figure, claim_id: str, folders: list[Path]) -> str:
    """``figure`` as a clean relative POSIX path when it names an image file inside one of
    ``folders`` (after resolving symlinks); otherwise "" and a :class:`ReportWarning` saying why."""
    if figure is None or figure == "" or (isinstance(figure, float) and math.isnan(figure)):
        return ""
    why = _figure_problem(figure)
    if why is None:
        rel = PurePosixPath(figure)
        why = f"it is not a file in {' or '.join(str(f) for f in folders) or 'no folder'}"
        for folder in folders:
            try:
                base = folder.resolve()
                target = (folder / rel).resolve()
            except (OSError, RuntimeError) as exc:  # a symlink loop, say
                why = f"it cannot be resolved ({exc})"
                continue
            if not target.is_relative_to(base):
                why = f"it resolves to {target}, outside the figures folder {base} (a symlink?)"
                continue
            if target.is_file():
                return rel.as_posix()
    _warn(f"figure {figure!r} of claim {claim_id!r} is left out of the report: {why}")
    return ""


_COLUMNS = ("claim_id", "source", "claim", "notebook", "measured", "verdict", "reason", "rule", "figure",
            "recorded", "mode")


def _rows(claims, figure_dirs=None, *, figures: bool = True) -> list[dict]:
    """The report's rows as plain strings: verdicts outside :data:`VERDICTS` become :data:`INVALID`
    (with a warning) and figures that are not image files under the figures folders ""."""
    import pandas as pd

    if not isinstance(claims, pd.DataFrame):
        raise InvalidParameterError(f"claims must be a pandas DataFrame, got {type(claims).__name__}; "
                                    "pass topokit.report.load_claims()")
    needed = _COLUMNS if figures else ("claim_id", "source", "claim", "measured", "verdict", "mode")
    missing = [c for c in needed if c not in claims.columns]
    if missing:
        raise InvalidParameterError(f"claims needs the columns {list(needed)}; missing {missing}; "
                                    "pass topokit.report.load_claims()")
    folders = _figure_dirs(figure_dirs) if figures else []
    rows = []
    for r in claims.to_dict("records"):
        row = {k: _text(r.get(k)) for k in _COLUMNS}
        verdict = r["verdict"]
        if verdict not in VERDICTS and verdict != INVALID:
            _warn(f"claim {row['claim_id']!r}: verdict {verdict!r} is not one of {VERDICTS}; it is reported as "
                  f"{INVALID!r}")
            row["reason"] = f"the recorded verdict {verdict!r} is not one of: {', '.join(VERDICTS)}"
            verdict = INVALID
        row["verdict"], row["css"] = verdict, _VERDICT_CLASS[verdict]
        row["figure"] = _checked_figure(r.get("figure"), row["claim_id"], folders) if figures else ""
        row["figure_url"] = _url(row["figure"])
        row["notebook_url"] = _url(row["notebook"])
        row["robustness"] = _text(r.get("robustness"))
        row["parts"] = []
        for p in (r.get("parts") if isinstance(r.get("parts"), list) else []):
            part = {k: _text(p.get(k)) for k in ("part", "headline", "text")}
            part["columns"] = [_text(c) for c in p.get("columns", [])]
            part["rows"] = [[_text(c) for c in row_] for row_ in p.get("rows", [])]
            part["figure"] = (_checked_figure(p.get("figure"), row["claim_id"], folders)
                              if figures and p.get("figure") else "")
            part["figure_url"] = _url(part["figure"])
            row["parts"].append(part)
        rows.append(row)
    return rows


def _mode(rows: list[dict]) -> str:
    return rows[0]["mode"] if rows else run_mode()


def _counts(rows: list[dict]) -> str:
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (*VERDICTS, INVALID)}
    shown = [*VERDICTS] + ([INVALID] if counts[INVALID] else [])
    return ", ".join(f"{counts[v]} {v}" for v in shown)


def _markdown(rows: list[dict], title: str) -> str:
    lines = [f"# {_md(title)}", "",
             f"Kochar, Vengalil & Sinha (arXiv 2109.01572) and the Naitzat et al. (JMLR 2020) findings it "
             f"builds on, tested claim by claim by the topokit notebooks ({_md(_mode(rows))} mode, generated "
             f"{time.strftime('%Y-%m-%d %H:%M')}). Verdicts are computed from the measured numbers by rules "
             f"fixed before the numbers; nothing here is typed in by hand.", "",
             f"Verdicts: {_counts(rows)}.", "",
             "| claim | source | measured (95% CI) | verdict | figure | notebook |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        fig = f"[{_md(r['figure'])}]({r['figure_url']})" if r["figure"] else ""
        lines.append(f"| {_md(r['claim'])} | {_md(r['source'])} | {_md(r['measured'])} | **{_md(r['verdict'])}** | "
                     f"{fig} | [{_md(r['notebook'][:2])}](../notebooks/{r['notebook_url']}) |")
    for r in rows:
        lines += ["", f"## {_md(r['claim_id'])}: {_md(r['verdict'])}", "",
                  f"> {_md(r['claim'])} ({_md(r['source'])})", "",
                  f"- **Measured:** {_md(r['measured'])}", f"- **Rule (fixed in advance):** {_md(r['rule'] or 'n/a')}",
                  f"- **Why this verdict:** {_md(r['reason'])}", f"- **Notebook:** {_md(r['notebook'])}"
                  + (f" (recorded {_md(r['recorded'])})" if r["recorded"] else "")]
        if r["figure"]:
            lines += ["", f"![{_md(r['claim_id'])}]({r['figure_url']})"]
        for p in r["parts"]:
            lines += ["", f"### {_md(p['part'])}", "", f"**{_md(p['headline'])}**"]
            if p["text"]:
                lines += ["", _md(p["text"])]
            if p["columns"]:
                lines += ["", "| " + " | ".join(_md(c) for c in p["columns"]) + " |",
                          "|" + "---|" * len(p["columns"])]
                lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in p["rows"]]
            if p["figure"]:
                lines += ["", f"![{_md(r['claim_id'])} {_md(p['part'])}]({p['figure_url']})"]
    return "\n".join(lines) + "\n"


def report_markdown(claims, title: str = "Reproduction report", *, figure_dirs=None) -> str:
    """The report as Markdown: the summary table, then one section per claim.

    Every text is escaped (:func:`_md`), so nothing recorded can add Markdown or HTML. A figure
    is shown only when it is an image file inside one of ``figure_dirs`` (default: the figures
    folder, and where this run's figures end up, :func:`final_figures_dir`); any other is left
    out with a :class:`ReportWarning`, as is a verdict outside :data:`VERDICTS` (shown as
    :data:`INVALID`).
    """
    return _markdown(_rows(claims, figure_dirs), _string(title, "title"))


_CSS = ("body{font-family:DejaVu Sans,Arial,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;vertical-align:top}"
        "th{background:#f4f4f4}.v-reproduced{background:#e3f4e8}.v-not-reproduced{background:#fbe4e0}"
        ".v-mixed{background:#fdf4d9}.v-not-testable-here{background:#eeeeee}"
        ".v-invalid{background:#f6e1f0;outline:2px dashed #b0006b}img{max-width:100%}")

#: report.html (Jinja2, autoescaped: every value is HTML-escaped unless marked safe, and only the
#: CSS constant is).
_HTML_TEMPLATE = """\
<!DOCTYPE html><html><head><meta charset='utf-8'><title>{{ title }}</title><style>{{ css }}</style></head><body>
<h1>{{ title }}</h1><p>Kochar et al. (arXiv 2109.01572) and Naitzat et al. (JMLR 2020), tested claim by claim \
({{ mode }} mode, generated {{ generated }}). Verdicts are computed from the numbers by rules fixed in advance.</p>
{% if invalid %}<p class="v-invalid"><b>{{ invalid }} claim record(s) are invalid</b>: their recorded verdict is not \
one of {{ verdicts }}; rerun the notebooks named below.</p>
{% endif %}\
<table><tr><th>claim</th><th>source</th><th>measured (95% CI)</th><th>verdict</th><th>figure</th><th>notebook</th></tr>
{% for r in rows %}\
<tr class="{{ r.css }}"><td>{{ r.claim }}</td><td>{{ r.source }}</td><td>{{ r.measured }}</td>\
<td><b>{{ r.verdict }}</b><br><small>{{ r.reason }}</small></td>\
<td>{% if r.figure %}<a href="{{ r.figure_url }}">{{ r.figure }}</a>{% endif %}</td>\
<td><a href="../notebooks/{{ r.notebook_url }}">{{ r.notebook }}</a></td></tr>
{% endfor %}\
</table>
{% for r in rows %}\
<h2 class="{{ r.css }}">{{ r.claim_id }}: {{ r.verdict }}</h2><blockquote>{{ r.claim }} ({{ r.source }})</blockquote>\
<ul><li><b>Measured:</b> {{ r.measured }}</li><li><b>Rule (fixed in advance):</b> {{ r.rule or 'n/a' }}</li>\
<li><b>Why this verdict:</b> {{ r.reason }}</li></ul>\
{% if r.figure %}<p><img src="{{ r.figure_url }}" alt="{{ r.claim_id }}"></p>{% endif %}
{% for p in r.parts %}<h3>{{ p.part }}</h3><p><b>{{ p.headline }}</b></p>{% if p.text %}<p>{{ p.text }}</p>{% endif %}\
{% if p.columns %}<table><tr>{% for c in p.columns %}<th>{{ c }}</th>{% endfor %}</tr>\
{% for row in p.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}\
{% if p.figure %}<p><img src="{{ p.figure_url }}" alt="{{ r.claim_id }} {{ p.part }}"></p>{% endif %}
{% endfor %}\
{% endfor %}\
</body></html>
"""
_TEMPLATE = None


def _html(rows: list[dict], title: str) -> str:
    global _TEMPLATE
    if _TEMPLATE is None:
        import jinja2

        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        _TEMPLATE = env.from_string(_HTML_TEMPLATE)
    from markupsafe import Markup

    return _TEMPLATE.render(title=title, css=Markup(_CSS), mode=_mode(rows), generated=time.strftime("%Y-%m-%d %H:%M"),
                            rows=rows, invalid=sum(r["verdict"] == INVALID for r in rows),
                            verdicts=", ".join(VERDICTS))


def report_html(claims, title: str = "Reproduction report", *, figure_dirs=None) -> str:
    """The report as one self-contained HTML page (figures linked from the same folder).

    Rendered by Jinja2 with autoescaping, so every text is HTML-escaped; figures and verdicts
    are checked as in :func:`report_markdown`. A claim with verdict :data:`INVALID` is outlined
    and counted at the top of the page.
    """
    return _html(_rows(claims, figure_dirs), _string(title, "title"))


def write_report(claims, directory=None, *, figure_dirs=None) -> list[Path]:
    """Write ``REPORT.md`` and ``report.html`` into ``directory`` (default: the figures folder),
    both or neither.

    Figures are looked for in ``figure_dirs`` (default: ``directory``, and when ``directory``
    is the default, also :func:`final_figures_dir`, where ``topokit reproduce`` moves the staged
    report beside the figures of the notebooks that ran before); each problem is warned about
    once, for both files.
    """
    import contextlib

    if directory is None:
        from .plotting import figures_dir

        directory = figures_dir()
        default_dirs = [directory, final_figures_dir()]
    else:
        default_dirs = [directory]
    directory = Path(directory)
    rows = _rows(claims, default_dirs if figure_dirs is None else figure_dirs)
    paths = [directory / "REPORT.md", directory / "report.html"]
    texts = [_markdown(rows, "Reproduction report"), _html(rows, "Reproduction report")]
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
    """The short reproduction table the README shows (claim, measured, verdict), every text escaped."""
    rows = _rows(claims, figures=False)
    lines = ["| claim | source | measured (95% CI) | verdict | robustness |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {_md(r['claim'])} | {_md(r['source'])} | {_md(r['measured'])} | **{_md(r['verdict'])}** | "
                     f"{_md(r['robustness'] or 'not checked in this run')} |")
    lines += ["", f"*Generated by `make readme` ({_md(_mode(rows))} mode) on {time.strftime('%Y-%m-%d')}; the full "
                  f"report with rules, reasons and each claim's robustness is `figures/REPORT.md` (and "
                  f"`figures/report.html`) after `make reproduce`.*"]
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
