"""Fuzzing space files: ``SearchSpace.loads`` ends in a space or in one SpaceError line,
quickly and without a memory spike, whatever the file says (nas.testing.fuzz).

Files are drawn as YAML mappings of the schema's keys with values from small to absurd
(widths, repeats and stage counts past the limits, huge integers, deep nesting, wrong
types), and as the shipped spaces with text inserted (YAML punctuation, anchors, aliases,
merge keys, long digit strings)."""
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.space import SearchSpace, shipped
from nas.testing.fuzz import examples, settle

pytestmark = pytest.mark.fuzz

SHIPPED = [p.read_text() for p in shipped().values()]
BLOCKS = ["conv", "basic", "bottleneck", "inception", "dense", "sepconv", "cnv"]

whole = st.one_of(st.integers(0, 80), st.sampled_from([8192, 8193, 65536, 10**9, 10**18, 10**19, 10**30, -1]))
anything = st.one_of(whole, st.booleans(), st.none(), st.text(max_size=5), st.floats(allow_nan=True),
                     st.just([]), st.just({}))


def options(values):
    """A field's value: one option, a list of options (possibly with duplicates), or junk."""
    return st.one_of(values, st.lists(values, min_size=1, max_size=6), anything)


def nested(depth: int):
    """A list nested ``depth`` deep, as the value of some key."""
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


stage = st.fixed_dictionaries(
    {"block": options(st.sampled_from(BLOCKS)), "width": options(whole)},
    optional={"repeat": options(whole), "norm": options(st.sampled_from(["bn", "ln", "gn", "xx"])),
              "downsample": options(st.booleans()), "colour": anything},
)
macro = st.fixed_dictionaries(
    {"input": st.one_of(st.lists(whole, min_size=3, max_size=3), anything),
     "classes": st.one_of(whole, anything),
     "stages": st.one_of(st.lists(stage, min_size=1, max_size=5), st.lists(stage, min_size=65, max_size=70),
                         st.integers(0, 40).map(nested), anything)},
    optional={"name": anything, "dataset": anything, "stem": st.sampled_from(["conv(16,3)", "conv(8,3)*100000",
                                                                             "conv(" + "9" * 30 + ")", "bad("]),
              "head": st.sampled_from(["gap", "fc(10)", "gap fc(9000)", ""]), "anchors": st.booleans(),
              "constraints": st.fixed_dictionaries({}, optional={
                  "max_params": whole, "max_macs": whole,
                  "max_latency_ms": st.one_of(st.floats(allow_nan=True, allow_infinity=True), whole, anything)})},
)
layerwise = st.fixed_dictionaries(
    {"input": st.just([3, 32, 32]), "classes": st.just(10), "layers": whole,
     "filter_height": options(whole), "filter_width": options(whole), "filters": options(whole)},
    optional={"stride": options(whole), "anchors": st.booleans()},
)


@st.composite
def mutated_shipped(draw) -> str:
    text = draw(st.sampled_from(SHIPPED))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        piece = draw(st.one_of(st.sampled_from(["[", "]", "{", "}", ":", "-", "&a ", "*a", "<<: ", "\n  ", "9" * 5000,
                                                "[" * 5000, "65536", ", 8192", "\t", "!!python/object:os.system "]),
                               st.text(max_size=4)))
        text = text[:at] + piece + text[at:]
    return text


SPACE_TEXTS = st.one_of(macro.map(yaml.safe_dump), layerwise.map(yaml.safe_dump), mutated_shipped())


@settings(max_examples=examples(300), derandomize=True, deadline=None)
@given(SPACE_TEXTS)
def test_space_files_end_in_a_space_or_one_space_error(text):
    settle("space-file", SearchSpace.loads, text, "fuzz.yaml", seconds=8.0)
