"""The reproduction report: verdict rules, claim records through the cache, Markdown/HTML, README."""
import math

import pytest

from topokit import report


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPOKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_record_and_load_claims_per_mode(cache_dir):
    report.record_claim("epochs", measured="speed-up 1.10 (95% CI 0.90-1.30)", value=1.1, low=0.9, high=1.3,
                        verdict="mixed", reason="interval straddles 1.5", rule="ratio >= 1.5 and low > 1",
                        figure="03_forest.png", details={"D-I": [1.1, float("nan")]}, mode="default")
    claims = report.load_claims("default")
    assert list(claims["claim_id"]) == list(report.CLAIMS)
    row = claims.set_index("claim_id").loc["epochs"]
    assert row["verdict"] == "mixed" and row["value"] == 1.1 and row["figure"] == "03_forest.png"
    other = claims.set_index("claim_id").loc["prune-accuracy"]
    assert other["verdict"] == "not testable here" and "reproduce --only 04" in other["reason"]
    quick = report.load_claims("quick").set_index("claim_id")
    assert quick.loc["epochs", "verdict"] == "not testable here"  # quick runs never stand in for default ones


def test_bad_claims_are_refused(cache_dir):
    with pytest.raises(ValueError, match="unknown claim 'speed'"):
        report.record_claim("speed", measured="", verdict="mixed", reason="", rule="")
    with pytest.raises(ValueError, match="verdict must be one of"):
        report.record_claim("epochs", measured="", verdict="yes", reason="", rule="")


def test_write_report_markdown_and_html(cache_dir, tmp_path):
    report.record_claim("relu-vs-tanh", measured="tanh - ReLU omega 20.6 (95% CI 12.0-29.0)", value=20.6, low=12.0,
                        high=29.0, verdict="reproduced", reason="whole interval above 0", rule="low > 0",
                        figure="02_d1_relu_vs_tanh.png", mode="default")
    claims = report.load_claims("default")
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "02_d1_relu_vs_tanh.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # figures must exist
    md_path, html_path = report.write_report(claims, tmp_path / "figs")
    md = md_path.read_text()
    assert md.startswith("# Reproduction report") and f"1 reproduced, 0 not reproduced, 0 mixed, {len(report.CLAIMS) - 1} not testable here" in md
    assert "| ReLU networks reduce Betti numbers faster" in md and "**reproduced**" in md
    assert "![relu-vs-tanh](02_d1_relu_vs_tanh.png)" in md
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="v-reproduced"' in page and page.count("<tr") == len(report.CLAIMS) + 1


def test_update_readme_between_markers(cache_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\noutro\n")
    claims = report.load_claims("default")
    assert report.update_readme(claims, readme) is True
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert text.count("| ") >= len(claims) and "not testable here" in text
    (tmp_path / "bare.md").write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        report.update_readme(claims, tmp_path / "bare.md")


def test_update_gallery_makes_small_copies(tmp_path):
    import matplotlib.pyplot as plt

    from topokit import plotting

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([0, 1])
    plotting.save_figure(fig, "05_verdicts", formats=["png"], directory=tmp_path / "figs")
    (written,) = report.update_gallery(tmp_path / "figs", tmp_path / "gallery", width=300)
    from PIL import Image

    with Image.open(written) as im:
        assert im.width == 300 and written.name == "05_verdicts.png"


def test_claim_values_none_become_nan(cache_dir):
    r = report.record_claim("simple-at-logits", measured="n/a", value=None, verdict="not testable here",
                            reason="no well-trained net", rule="", mode="default")
    assert math.isnan(r.value) and math.isnan(r.low)


# ----------------------------------------------------------------------------- escaping (issue 13)

import re
import warnings
from html.parser import HTMLParser

PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "a | b | c", "[x](javascript:alert(1))")
EVIL = " ".join(PAYLOADS)


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _assert_inert_html(page, figures=()):
    tags = _Tags(page).tags
    assert {t for t, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr",
                                     "th", "td", "b", "br", "small", "a", "blockquote", "ul", "li", "img",
                                     "thead", "tbody", "strong", "em", "code"}  # last five: Markdown, README
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert set(attrs) <= {"charset", "class", "href", "src", "alt"}, (tag, attrs)
        assert attrs.get("class", "v-x").startswith("v-") and " " not in attrs.get("class", "")
        for link in (attrs.get("href"), attrs.get("src")):
            if link is not None:
                assert link in figures or link.startswith("../notebooks/"), link
    assert "<script" not in page.lower()


def _unescaped_pipes(line):
    return len(re.findall(r"(?<!\\)\|", line))


def _assert_inert_markdown(text, figures=()):
    assert "<script" not in text.lower() and "<img" not in text.lower() and "<!--" not in text
    assert not re.search(r"(?<!\\)\]\(javascript", text)  # an escaped \] cannot close a link
    for line in text.splitlines():
        if line.startswith("|"):  # a table row keeps its columns
            assert _unescaped_pipes(line) == _unescaped_pipes(text.splitlines()[[l.startswith("|") for l in
                                                                                  text.splitlines()].index(True)])
    mistune = pytest.importorskip("mistune")
    rendered = mistune.create_markdown(escape=False, plugins=["table"])(text)  # raw HTML allowed: must not appear
    _assert_inert_html("<html><body>" + rendered + "</body></html>", figures)


def test_md_escape_makes_markdown_inert():
    md = report._md
    assert md("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert md("a | b") == "a \\| b" and md("[x](javascript:y)") == "\\[x\\](javascript:y)"
    assert md("&lt;b&gt;") == "&amp;lt;b&amp;gt;"  # an entity is shown, not decoded
    assert md("*a* _b_ `c` ~d~ #e $f$ \\") == "\\*a\\* \\_b\\_ \\`c\\` \\~d\\~ \\#e \\$f\\$ \\\\"
    assert md("- item") == "\\- item" and md("> quote") == "\\> quote" and md("12. x") == "12\\. x"
    assert md("line\nbreak\r\nand\x00more") == "line break and more"
    assert md("speed-up 1.10 (95% CI 0.90-1.30), ratio >= 1.5") == "speed-up 1.10 (95% CI 0.90-1.30), ratio >= 1.5"
    assert md(None) == "" and md(float("nan")) == ""


def test_injected_text_is_escaped_in_html_markdown_and_readme(cache_dir, tmp_path):
    report.record_claim("epochs", measured=EVIL, value=1.1, low=0.9, high=1.3, verdict="mixed", reason=EVIL,
                        rule=EVIL + "\n# heading\n<!-- report:end -->", mode="default")
    claims = report.load_claims("default")
    claims.loc[0, "claim"] = EVIL
    claims.loc[1, "source"] = EVIL
    page = report.report_html(claims, title=EVIL, figure_dirs=tmp_path)
    _assert_inert_html(page)
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6 and page.count("<tr") == len(report.CLAIMS) + 1
    md = report.report_markdown(claims, title=EVIL, figure_dirs=tmp_path)
    _assert_inert_markdown(md)
    assert md.count("&lt;script>alert(1)&lt;/script>") >= 6 and "\\# heading" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold\n{report.README_END}\noutro\n")
    assert report.update_readme(claims, readme)
    assert report.update_readme(claims, readme) is False  # the markers survive a text that contains one
    text = readme.read_text()
    assert text.count(report.README_END) == 1 and text.endswith(f"{report.README_END}\noutro\n")
    block = text.split(report.README_START)[1].split(report.README_END)[0]
    _assert_inert_markdown(block)
    assert "&lt;img src=x onerror=alert(1)>" in block and "a \\| b \\| c" in block


BAD_FIGURES = ("javascript:alert(1)//.png", "/etc/passwd", "../outside.png", "link.png", "missing.png", "notes.txt",
               "data:image/png;base64,AAAA")


@pytest.fixture
def figs(tmp_path):
    folder = tmp_path / "figs"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.png").write_bytes(b"png")
    (folder / "sub" / "a b(1).png").write_bytes(b"png")
    (folder / "notes.txt").write_text("not an image")
    (tmp_path / "outside.png").write_bytes(b"png")
    (folder / "link.png").symlink_to(tmp_path / "outside.png")
    return folder


def test_bad_figures_are_dropped_with_warnings(cache_dir, figs):
    claims = report.load_claims("default")
    claims["figure"] = BAD_FIGURES[:len(claims)]
    claims.loc[0, "figure"] = BAD_FIGURES[6]
    claims.loc[5, "figure"] = "good.png"
    claims.loc[6:, "figure"] = ""  # claims beyond the six of the papers: no figure
    shown = {claims.loc[0, "figure"], *claims["figure"][1:5]}
    with pytest.warns(report.ReportWarning) as caught:
        md_path, html_path = report.write_report(claims, figs)
    messages = [str(w.message) for w in caught if issubclass(w.category, report.ReportWarning)]
    assert len(messages) == 5  # once per bad figure, for both files
    for bad in shown:
        assert any(repr(bad) in m and "left out" in m for m in messages), bad
    assert any("outside the figures folder" in m and "link.png" in m for m in messages)
    assert any("not a file" in m and "missing.png" in m for m in messages)
    assert any("URL" in m and "data:" in m for m in messages)
    with pytest.warns(report.ReportWarning, match=r"'javascript:alert\(1\)//.png'.*URL"):
        report.report_html(claims.assign(figure=BAD_FIGURES[0]), figure_dirs=figs)
    with pytest.warns(report.ReportWarning, match=r"'/etc/passwd'.*absolute"):
        report.report_markdown(claims.assign(figure="/etc/passwd"), figure_dirs=figs)
    with pytest.warns(report.ReportWarning, match=r"'notes.txt'.*not an image"):
        report.report_markdown(claims.assign(figure="notes.txt"), figure_dirs=figs)
    md, page = md_path.read_text(), html_path.read_text()
    for text in (md, page):
        for needle in ("javascript", "data:", "/etc/passwd", "outside", "link.png", "missing.png", "notes.txt"):
            assert needle not in text, needle
    _assert_inert_html(page, figures=("good.png",))
    _assert_inert_markdown(md, figures=("good.png",))
    assert 'src="good.png"' in page and "![simple-at-logits](good.png)" in md


@pytest.mark.parametrize("figure", ["javascript:alert(1)//.png", "/etc/passwd", "../outside.png", "a\\b.png",
                                    "notes.txt", "http://x/y.png", 3])
def test_record_claim_refuses_a_figure_that_is_no_relative_image(cache_dir, figure):
    with pytest.raises(report.InvalidParameterError, match="figure"):
        report.record_claim("epochs", measured="m", verdict="mixed", reason="r", rule="", figure=figure,
                            mode="default")
    assert report.load_claims("default").loc[0, "verdict"] == "not testable here"  # nothing stored


def test_valid_report_keeps_its_figures(cache_dir, figs):
    report.record_claim("epochs", measured="m", verdict="reproduced", reason="r", rule="", figure="sub/a b(1).png",
                        mode="default")
    report.record_claim("relu-vs-tanh", measured="m", verdict="mixed", reason="r", rule="", figure="good.png",
                        mode="default")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md_path, html_path = report.write_report(report.load_claims("default"), figs)
    page, md = html_path.read_text(), md_path.read_text()
    assert '<img src="sub/a%20b%281%29.png" alt="epochs">' in page and '<a href="good.png">good.png</a>' in page
    assert "![epochs](sub/a%20b%281%29.png)" in md and "[good.png](good.png)" in md
    _assert_inert_html(page, figures=("good.png", "sub/a%20b%281%29.png"))


def test_write_report_in_the_pipeline_finds_figures_of_earlier_notebooks(cache_dir, tmp_path, monkeypatch):
    # topokit reproduce runs notebook 05 with TOPOKIT_FIGURES=staging; the report moves beside the final figures
    root, staging = tmp_path / "figures", tmp_path / "figures" / ".staging-05"
    staging.mkdir(parents=True)
    (root / "02_d1_relu_vs_tanh.png").write_bytes(b"png")
    for var in ("TOPOKIT_QUICK", "TOPOKIT_FULL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TOPOKIT_FIGURES", str(staging))
    monkeypatch.setenv("TOPOKIT_FIGURES_FINAL", str(root))
    report.record_claim("relu-vs-tanh", measured="m", verdict="mixed", reason="r", rule="",
                        figure="02_d1_relu_vs_tanh.png", mode="default")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md_path, _ = report.write_report(report.load_claims("default"))
    assert md_path.parent == staging and "![relu-vs-tanh](02_d1_relu_vs_tanh.png)" in md_path.read_text()


def test_tampered_cache_verdict_is_reported_invalid_and_escaped(cache_dir, figs):
    from topokit.cache import Cache

    bad = 'x" onload="alert(1)'
    Cache(cache_dir).put("claim", report._key("epochs", "default"),
                         {"measured": EVIL, "value": "1e9; drop", "low": None, "high": "inf", "verdict": bad,
                          "reason": EVIL, "rule": "", "figure": "javascript:alert(1)//.png", "recorded": ""})
    Cache(cache_dir).put("claim", report._key("prune-accuracy", "default"), ["not", "a", "record"])
    with pytest.warns(report.ReportWarning) as caught:
        claims = report.load_claims("default")
    messages = " ".join(str(w.message) for w in caught)
    assert repr(bad) in messages and "not a number" in messages and "not a claim record" in messages
    rows = claims.set_index("claim_id")
    assert rows.loc["epochs", "verdict"] == report.INVALID and rows.loc["prune-accuracy", "verdict"] == report.INVALID
    assert math.isnan(rows.loc["epochs", "value"]) and rows.loc["epochs", "high"] == math.inf
    with pytest.warns(report.ReportWarning, match="javascript"):
        md_path, html_path = report.write_report(claims, figs)
    page, md = html_path.read_text(), md_path.read_text()
    _assert_inert_html(page)
    _assert_inert_markdown(md)
    assert page.count('class="v-invalid"') == 5  # the notice, two rows and two headings
    assert "x&#34; onload=&#34;alert(1)" in page and 'onload="' not in page and "//.png" not in page + md
    assert "**invalid**" in md and "## epochs: invalid" in md and "1 mixed" not in md and ", 2 invalid." in md


def test_an_unknown_verdict_in_a_table_is_invalid(cache_dir, tmp_path):
    claims = report.load_claims("default")
    claims.loc[2, "verdict"] = "reproduced<b>"
    with pytest.warns(report.ReportWarning, match="reproduced<b>"):
        page = report.report_html(claims, figure_dirs=tmp_path)
    _assert_inert_html(page)
    assert '<tr class="v-invalid">' in page and "reproduced&lt;b&gt;" in page
    with pytest.warns(report.ReportWarning):
        assert "**invalid**" in report.readme_table(claims)


@pytest.mark.parametrize("kwargs, match", [
    ({"verdict": "yes"}, "verdict must be one of 'reproduced', 'not reproduced', 'mixed', 'not testable here'"),
    ({"verdict": report.INVALID}, "verdict must be one of"),
    ({"measured": 5}, "measured must be a string"),
    ({"reason": None}, "reason must be a string"),
    ({"value": "1.2"}, "value must be a number"),
    ({"low": True}, "low must be a number"),
    ({"low": 2.0, "high": 1.0}, "low must not exceed high"),
    ({"details": [1, 2]}, "details must be a mapping"),
    ({"details": {"x": object()}}, "details must hold only JSON-like values"),
    ({"mode": "fast"}, "mode must be one of 'quick', 'default', 'full'"),
])
def test_record_claim_validates_its_arguments(cache_dir, kwargs, match):
    args = {"measured": "m", "verdict": "mixed", "reason": "r", "rule": "", "mode": "default", **kwargs}
    with pytest.raises(report.InvalidParameterError, match=match):
        report.record_claim("epochs", **args)
    assert report.load_claims("default").loc[0, "verdict"] == "not testable here"  # nothing stored


def test_record_claim_keeps_numpy_numbers_and_infinite_bounds(cache_dir):
    np = pytest.importorskip("numpy")
    r = report.record_claim("epochs", measured="m", value=np.float32(1.5), low=np.float64(1.0), high=np.inf,
                            verdict="mixed", reason="r", rule="", details={"n": np.int64(3), "ok": np.bool_(True)},
                            mode="default")
    assert r.value == 1.5 and r.high == math.inf
    row = report.load_claims("default").iloc[0]
    assert row["value"] == 1.5 and row["high"] == math.inf


def test_plot_verdicts_draws_invalid_and_dollar_signs(cache_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from topokit import plotting

    claims = report.load_claims("default")
    claims.loc[0, "verdict"] = report.INVALID
    claims.loc[0, "measured"] = "cost $\\frac{ unbalanced"
    fig = plotting.plot_verdicts(claims)
    fig.canvas.draw()  # mathtext would fail to parse the measured text
    assert plotting.VERDICT_COLORS[report.INVALID] != plotting.VERDICT_COLORS["not testable here"]
    plt.close(fig)


# ----------------------------------------------------------------------------- claim parts (robustness, ladder)

def _specs():
    import pandas as pd

    return pd.DataFrame([
        {"target": 0.99, "lr": "tuned", "verdict": "reproduced", "measured": "1.8x (1.5-2.2)"},
        {"target": 0.95, "lr": "tuned", "verdict": "reproduced", "measured": "1.7x (1.4-2.0)"},
        {"target": 1.0, "lr": "tuned", "verdict": "mixed", "measured": "1.3x (0.9-1.9)"},
        {"target": 0.99, "lr": "recipe", "verdict": "not reproduced", "measured": "0.9x (0.7-1.1)"},
    ])


def test_robustness_part_headline_flips_and_report(tmp_path):
    import warnings

    from topokit import report

    cache = tmp_path / "cache"
    part = report.record_robustness("epochs", _specs(), ["target", "lr"], {"target": 0.99, "lr": "tuned"},
                                    cache_dir=cache, mode="default")
    assert part.headline.startswith("reproduced in 2 of 4 specifications; it changes with")
    assert "target = 1.0 (mixed)" in part.headline and "lr = recipe (not reproduced)" in part.headline
    assert part.rows[0][:2] == ["reference", "reproduced"]  # the reference first
    claims = report.load_claims("default", cache_dir=cache)
    row = claims.set_index("claim_id").loc["epochs"]
    assert row["robustness"] == part.headline and [p["part"] for p in row["parts"]] == ["Robustness"]
    assert claims.set_index("claim_id").loc["prune-accuracy", "robustness"] == ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", report.ReportWarning)
        md = report.report_markdown(claims, figure_dirs=[tmp_path])
        html = report.report_html(claims, figure_dirs=[tmp_path])
    assert "### Robustness" in md and "target = 1.0" in md
    assert "<h3>Robustness</h3>" in html
    table = report.readme_table(claims)
    assert "| robustness |" in table and "reproduced in 2 of 4 specifications" in table
    assert "not checked in this run" in table


def test_robustness_no_flip_and_bad_input(tmp_path):
    import pandas as pd
    import pytest

    from topokit import report
    from topokit._checks import InvalidParameterError

    specs = _specs().assign(verdict="reproduced")
    part = report.record_robustness("epochs", specs, ["target", "lr"], {"target": 0.99, "lr": "tuned"},
                                    cache_dir=tmp_path, mode="quick")
    assert part.headline == "reproduced in 4 of 4 specifications; no single alternative choice changes it"
    with pytest.raises(InvalidParameterError, match="no specification matches"):
        report.record_robustness("epochs", specs, ["target", "lr"], {"target": 0.5, "lr": "tuned"}, cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="outside"):
        report.record_robustness("epochs", specs.assign(verdict="great"), ["target", "lr"],
                                 {"target": 0.99, "lr": "tuned"}, cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="part"):
        report.record_part("epochs", "Appendix", headline="x", cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="DataFrame"):
        report.record_part("epochs", "Betti ladder", headline="x", table=[1, 2], cache_dir=tmp_path)
    ladder = report.record_part("epochs", "Betti ladder", headline="holds up to Betti 25",
                                table=pd.DataFrame({"rung": ["g=3"], "betti": [9], "verdict": ["mixed"]}),
                                cache_dir=tmp_path, mode="quick")
    assert ladder.rows == [["g=3", "9", "mixed"]]
    parts = report.load_parts("quick", cache_dir=tmp_path)["epochs"]
    assert [p["part"] for p in parts] == ["Robustness", "Betti ladder"]


def test_plot_robustness_draws_every_specification():
    import matplotlib

    matplotlib.use("Agg")
    from topokit import plotting

    specs = _specs().assign(value=[1.8, 1.7, 1.3, 0.9], low=[1.5, 1.4, 0.9, 0.7], high=[2.2, 2.0, 1.9, 1.1])
    fig = plotting.plot_robustness(specs, ["target", "lr"], {"target": 0.99, "lr": "tuned"}, value="value",
                                   low="low", high="high", claimed=1.5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "reference" and "lr = recipe" in labels and len(labels) == 4
