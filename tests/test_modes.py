"""The one way to choose a mode: topokit.fileio.run_mode, under every environment and override."""
import itertools

import pytest

from topokit import fileio, report
from topokit._checks import InvalidParameterError
from topokit.plotting import figures_dir

ON = ["1", "true", "TRUE", "yes", "On", " 1 "]
OFF = [None, "", "0", "false", "No", "off"]
OVERRIDES = [None, "quick", "default", "full"]


@pytest.fixture(autouse=True)
def _clean_mode(monkeypatch):
    """No mode from the outside, and no reader's override left behind for the other tests."""
    monkeypatch.delenv("TOPOKIT_QUICK", raising=False)
    monkeypatch.delenv("TOPOKIT_FULL", raising=False)
    yield
    fileio._override = None


def _set(monkeypatch, var, value):
    if value is None:
        monkeypatch.delenv(var, raising=False)
    else:
        monkeypatch.setenv(var, value)


@pytest.mark.parametrize("quick, full, override", list(itertools.product(["1", "off", None], ["yes", "0", None],
                                                                         OVERRIDES)))
def test_every_combination_of_environment_and_override(monkeypatch, quick, full, override):
    _set(monkeypatch, "TOPOKIT_QUICK", quick)
    _set(monkeypatch, "TOPOKIT_FULL", full)
    q_on, f_on = quick == "1", full == "yes"
    if override is not None:  # the reader's choice wins, whatever the environment says
        expected = override
    elif q_on and f_on:
        with pytest.raises(InvalidParameterError, match="TOPOKIT_QUICK='1' and TOPOKIT_FULL='yes' are both on"):
            fileio.run_mode()
        return
    else:
        expected = "quick" if q_on else "full" if f_on else "default"
    assert fileio.run_mode(override) == expected
    assert fileio.quick_mode() is (expected == "quick") and fileio.full_mode() is (expected == "full")
    assert report.run_mode() == expected


@pytest.mark.parametrize("value", ON)
def test_accepted_spellings_of_on(monkeypatch, value):
    monkeypatch.setenv("TOPOKIT_QUICK", value)
    assert fileio.run_mode() == "quick"
    monkeypatch.delenv("TOPOKIT_QUICK")
    monkeypatch.setenv("TOPOKIT_FULL", value)
    assert fileio.run_mode() == "full"


@pytest.mark.parametrize("value", OFF)
def test_accepted_spellings_of_off(monkeypatch, value):
    _set(monkeypatch, "TOPOKIT_QUICK", value)
    _set(monkeypatch, "TOPOKIT_FULL", value)
    assert fileio.run_mode() == "default"


@pytest.mark.parametrize("var", ["TOPOKIT_QUICK", "TOPOKIT_FULL"])
@pytest.mark.parametrize("value", ["maybe", "2", "y", "quick"])
def test_an_unknown_value_lists_the_accepted_ones(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(InvalidParameterError) as info:
        fileio.run_mode()
    msg = str(info.value)
    assert f"{var}={value!r} is not understood" in msg and "1/0, true/false, yes/no or on/off" in msg
    with pytest.raises(InvalidParameterError):
        fileio.quick_mode()  # the old helpers answer from the same source, so they refuse it too
    assert fileio.quick_mode(True) is True  # an explicit answer needs no environment


@pytest.mark.parametrize("bad", ["quik", "QUICK", "", 1, True])
def test_a_bad_override_is_refused(bad):
    with pytest.raises(InvalidParameterError, match="run_mode\\(override\\) must be one of 'quick', 'default', 'full'"):
        fileio.run_mode(bad)
    assert fileio._override is None


def test_the_override_holds_for_the_session_until_run_mode_is_called_again(monkeypatch, tmp_path):
    monkeypatch.setenv("TOPOKIT_FIGURES", str(tmp_path))
    assert fileio.run_mode("quick") == "quick"
    # every reader of the mode follows the reader's choice: the figures folder, the report
    assert fileio.quick_mode() and not fileio.full_mode() and report.run_mode() == "quick"
    assert figures_dir() == tmp_path / "quick"
    assert "TOPOKIT_QUICK" not in __import__("os").environ  # the environment is not changed
    monkeypatch.setenv("TOPOKIT_FULL", "1")
    assert fileio.quick_mode()  # still the override
    assert fileio.run_mode() == "full"  # no argument: back to the environment
    assert fileio.full_mode() and figures_dir() == tmp_path


def test_explicit_arguments_of_the_old_helpers_still_win(monkeypatch):
    monkeypatch.setenv("TOPOKIT_QUICK", "1")
    assert fileio.quick_mode(False) is False and fileio.full_mode(True) is True
    assert fileio.quick_mode() is True


@pytest.mark.parametrize("text, mode", [
    ("topokit mode: quick\nmore", "quick"), ("\ntopokit mode: full\n", "full"), ("topokit mode: default", "default"),
    ("mode: quick", None), ("hello\ntopokit mode: quick", None), ("", None),
])
def test_mode_line_is_read_back(text, mode):
    assert fileio.parse_mode_line(text) == mode
    assert fileio.parse_mode_line(fileio.MODE_LINE.format("full")) == "full"


def test_env_flag_checks_its_argument():
    with pytest.raises(InvalidParameterError, match="var must be a non-empty string"):
        fileio.env_flag("")
