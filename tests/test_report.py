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
    md_path, html_path = report.write_report(claims, tmp_path / "figs")
    md = md_path.read_text()
    assert md.startswith("# Reproduction report") and "1 reproduced, 0 not reproduced, 0 mixed, 5 not testable here" in md
    assert "| ReLU networks reduce Betti numbers faster" in md and "**reproduced**" in md
    assert "![relu-vs-tanh](02_d1_relu_vs_tanh.png)" in md
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="v-reproduced"' in page and page.count("<tr") == 7


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
