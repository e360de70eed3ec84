"""The parser refuses, before doing the work, strings whose cost has no bound: too long, too
many layers, numbers past Python's int conversion, deep parentheses (nas.limits)."""
import time

import pytest

from nas import baselines
from nas.errors import ArchError
from nas.lang import parse
from nas.limits import LIMITS


def refused(text: str, *words: str) -> str:
    """The one-line ArchError ``parse(text)`` raises, within a second, naming ``words``."""
    start = time.monotonic()
    with pytest.raises(ArchError) as e:
        parse(text)
    assert time.monotonic() - start < 1.0
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 300, msg
    for w in words:
        assert w in msg, msg
    return msg


def test_a_billion_repeats_are_refused_before_the_layer_list_grows():
    refused("conv(8,3)*1000000000", "repeat count", str(LIMITS.max_repeat))
    refused("conv(8,3)*100000", "repeat count")


def test_the_layer_count_after_expanding_repeats_is_bounded():
    n = LIMITS.max_layers
    assert len(parse(f"conv(8,3)*{n}").layers) == n
    refused(f"conv(8,3)*{n} gap", f"more than {n} layers")
    refused(" ".join(["conv(8,3)*500"] * 3), "more than")


@pytest.mark.parametrize("text", [
    "conv(8,3)*" + "9" * 5000,
    "conv(" + "9" * 5000 + ",3)",
    "conv(8,3x" + "9" * 5000 + ")",
    "conv(8,3) conv(8,3,skip=1+" + "9" * 5000 + ")",
    "conv(8,3)*" + "9" * 19,
])
def test_numbers_with_too_many_digits_are_refused_not_converted(text):
    refused(text, "digits", f"at most {LIMITS.max_int_digits}")


def test_the_string_length_is_bounded():
    refused("conv(8,3) " * (LIMITS.max_arch_chars // 10 + 1), "characters long", f"{LIMITS.max_arch_chars:,}")


@pytest.mark.parametrize("text", ["conv" + "(" * 20000, "(" * 20000 + ")" * 20000, "conv(8,3" + ")" * 20000])
def test_deep_parentheses_are_one_error_not_a_recursion(text):
    refused(text)


def test_a_long_word_is_quoted_shortened_in_the_message():
    msg = refused("conv(8,3) " + "x" * 60000, "unknown layer")
    assert "..." in msg


@pytest.mark.parametrize("name", baselines.names())
def test_every_baseline_string_is_within_the_limits(name):
    text = baselines.get(name, (3, 224, 224))
    assert len(text) <= LIMITS.max_arch_chars
    assert len(parse(text).layers) <= LIMITS.max_layers
