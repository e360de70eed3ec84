"""Fuzzing architecture strings: ``nas.parse`` and ``nas show`` end in success or in one
ArchError line, quickly and without a memory spike, whatever the string (nas.testing.fuzz).

The strings are valid layers (every operation's example, baseline strings) with one thing
made wrong: a number replaced by a huge, negative, fractional or odd one, a repeat count
of any size, punctuation, unicode or deep parentheses inserted; and token soup."""
import contextlib
import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas import baselines
from nas.cli import main
from nas.errors import NasError
from nas.lang import OPS, parse
from nas.testing.fuzz import examples, settle

pytestmark = pytest.mark.fuzz

NUMBERS = ["0", "1", "2", "3", "8", "16", "512", "513", "8192", "8193", "65536", "65537", "1000000000",
           "99999999999", "9" * 18, "9" * 19, "9" * 5000, "-1", "1.5", "1e400", "1e-400", "nan", "inf", "3x5",
           "0x3", "3x" + "9" * 5000, "1+2", "0+9999", "true", "ln", "relu", "none", "18446744073709551617"]
JUNK = ["(", ")", ",", "=", "*", "+", " ", "\t", "\n", "é", "\u00a0", "٣", "\x00", "\U0001F600", "(" * 50,
        "(" * 20000, ")" * 50, "*" + "9" * 5000, "*1000000000", "*100000", "skip=", "norm=", "x" * 60000]
EXAMPLES = [OPS.get(n).example for n in OPS.names()] + ["conv(16,3)", "basic(32,stride=2)", "bottleneck(64)", "gap",
                                                       "fc(10)", "conv(16,3,skip=0+1)"]
SEEDS = [baselines.get(n, (3, 64, 64)) for n in ("resnet18", "googlenet", "densenet121")]
NAMES = OPS.names() + ["cnv", "Conv", "x", "_", "norm", "act", "eps", "init"]


@st.composite
def one_wrong_layer(draw) -> str:
    """An operation's example with one number replaced, a repeat appended, or junk inserted."""
    layer = draw(st.sampled_from(EXAMPLES))
    how = draw(st.sampled_from(["number", "repeat", "insert"]))
    numbers = list(re.finditer(r"\d+", layer))
    if how == "number" and numbers:
        m = draw(st.sampled_from(numbers))
        return layer[:m.start()] + draw(st.sampled_from(NUMBERS)) + layer[m.end():]
    if how == "repeat":
        return f"{layer}*{draw(st.sampled_from(NUMBERS))}"
    at = draw(st.integers(0, len(layer)))
    return layer[:at] + draw(st.one_of(st.sampled_from(JUNK), st.text(max_size=4))) + layer[at:]


@st.composite
def nearly_valid(draw) -> str:
    layers = draw(st.lists(st.sampled_from(EXAMPLES), max_size=5))
    layers.insert(draw(st.integers(0, len(layers))), draw(one_wrong_layer()))
    settings_ = draw(st.sampled_from(["", "norm=ln ", "act=gelu ", "eps=1e-3 ", "init=vgg ", "eps=" + "9" * 5000 + " "]))
    return settings_ + " ".join(layers)


@st.composite
def mutated_seed(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(JUNK + NUMBERS)) + text[at + draw(st.integers(0, 3)):]
    return text


token_soup = st.lists(st.sampled_from(NAMES + NUMBERS + JUNK), min_size=1, max_size=10).map("".join)
ARCH_STRINGS = st.one_of(nearly_valid(), nearly_valid(), mutated_seed(), token_soup, st.text(max_size=30))


@pytest.fixture(scope="module", autouse=True)
def warm():
    """Torch's first meta-device summary costs a second or two; not the fuzzed input's time."""
    _show("conv(8,3) gap")


@settings(max_examples=examples(500), derandomize=True, deadline=None)
@given(ARCH_STRINGS)
def test_parse_ends_in_an_arch_or_one_arch_error(text):
    settle("arch-string", parse, text, seconds=2.0)


def _show(text: str) -> None:
    """``nas show TEXT``: exit status 0, or 2 with exactly one line on stderr."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(["show", text, "--input", "3x32x32", "--classes", "10"])
    assert status in (0, 2), f"exit status {status}"
    assert status == 0 or err.getvalue().count("\n") == 1, err.getvalue()
    if status == 2:  # counted as refused: the command's one line, as the error it printed
        raise NasError(err.getvalue().strip())


@settings(max_examples=examples(300), derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ARCH_STRINGS)
def test_nas_show_ends_in_a_table_or_one_line(text):
    settle("nas-show", _show, text, seconds=5.0)


@pytest.mark.parametrize("text", ["conv(8,3)*1000000000", "conv(8,3)*100000", "conv(65536,3)",
                                  "conv(8,3)*" + "9" * 5000, "(" * 20000])
def test_the_reported_inputs_are_refused_by_nas_show(text):
    assert settle("nas-show", _show, text, seconds=2.0) == "refused"  # exit status 2, one line
