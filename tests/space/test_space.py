"""Search spaces: schema errors, exact sizes, kinds, block mapping, decode/encode, validity,
sampling, and the ``nas space`` command."""
from __future__ import annotations

import itertools
import json
import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nas
from nas.cli import main
from nas.errors import ArchError, NasError, SpaceError
from nas.space import BLOCKS, Decision, SearchSpace, inception_widths, shipped


MACRO = """
input: [3, 8, 8]
classes: 4
anchors: true
stages:
  - block: [conv, basic]
    width: [8, 16]
    repeat: [1, 2]
  - block: sepconv
    width: [16, 32, 64]
    norm: [bn, ln]
    downsample: [false, true]
  - block: [dense, inception]
    width: 16
"""

LAYERWISE = """
name: tiny-nas
input: [3, 8, 8]
classes: 10
layers: 4
filter_height: [1, 3]
filter_width: 3
filters: [8, 16, 32]
anchors: true
"""


def loads(text: str, source: str = "mini.yaml") -> SearchSpace:
    return SearchSpace.loads(text, source)


# ---------------------------------------------------------------------------
# Decisions, kinds, sizes
# ---------------------------------------------------------------------------


def test_macro_space_decisions_and_exact_size():
    space = loads(MACRO)
    assert space.name == "mini"  # from the file name
    assert [(d.name, d.kind, d.options) for d in space.decisions] == [
        ("stage1.block", "block", ("conv", "basic")),
        ("stage1.width", "width@stage1", (8, 16)),  # the stages offer 2 and 3 widths:
        ("stage1.repeat", "repeat", (1, 2)),
        ("stage2.width", "width@stage2", (16, 32, 64)),  # one kind each
        ("stage2.norm", "norm", ("bn", "ln")),
        ("stage2.downsample", "downsample", (False, True)),
        ("stage3.block", "block", ("dense", "inception")),
        ("stage3.anchor1", "anchor", (False, True)),
    ]
    assert space.size == 2 * 2 * 2 * 3 * 2 * 2 * 2 * 2 == 384
    assert all(isinstance(d, Decision) for d in space.decisions)


def test_layerwise_space_decisions_and_exact_size():
    space = loads(LAYERWISE)
    assert space.name == "tiny-nas"
    names = [d.name for d in space.decisions]
    assert names == ["layer1.filter_height", "layer1.filters", "layer2.filter_height", "layer2.filters",
                     "layer3.filter_height", "layer3.filters", "layer3.anchor1",
                     "layer4.filter_height", "layer4.filters", "layer4.anchor1", "layer4.anchor2"]
    assert {d.kind for d in space.decisions} == {"filter_height", "filters", "anchor"}
    assert space.size == (2 * 3) ** 4 * 2 ** 3 == 10368


def test_size_is_an_exact_int_when_huge():
    space = loads(LAYERWISE.replace("layers: 4", "layers: 40"))
    assert space.size == 6**40 * 2 ** sum(j - 2 for j in range(3, 41))
    assert isinstance(space.size, int)


def test_a_space_without_choices_has_size_one():
    space = loads("input: [1, 8, 8]\nclasses: 2\nstages: [{block: conv, width: 8}]")
    assert space.decisions == () and space.size == 1
    assert space.decode(()) == "conv(8,3) gap"
    assert space.sample(random.Random(0)) == ()


# ---------------------------------------------------------------------------
# Block types: how (width, stride, norm) becomes layers
# ---------------------------------------------------------------------------

EXPECTED = {
    "conv": "conv(16,3,norm=ln) conv(16,3,stride=2,norm=ln)",
    "sepconv": "sepconv(16,3,norm=ln) sepconv(16,3,stride=2,norm=ln)",
    "basic": "basic(16,norm=ln) basic(16,stride=2,norm=ln)",
    "bottleneck": "bottleneck(16,norm=ln) bottleneck(16,stride=2,norm=ln)",
    "inception": "inception(4,6,8,1,2,2,norm=ln) maxpool(3,stride=2,pad=1) inception(4,6,8,1,2,2,norm=ln)",
    "dense": "transition(8,stride=1,norm=ln) dense(4,2,norm=ln) transition(8,norm=ln) dense(4,2,norm=ln)",
}


def test_every_block_type_is_documented_and_tested():
    assert sorted(BLOCKS.names()) == sorted(EXPECTED)


@pytest.mark.parametrize("block", BLOCKS.names())
def test_block_mapping(block):
    # a plain stage, then a downsampling one: stride 2 on the first block, or a pool first
    space = loads(f"""
input: [3, 8, 8]
classes: 10
stem: "conv(8,3)"
stages:
  - {{block: {block}, width: 16, norm: ln}}
  - {{block: {block}, width: 16, norm: ln, downsample: true}}
""")
    arch = space.decode(())
    assert arch == f"conv(8,3) {EXPECTED[block]} gap"
    infos = nas.infer_shapes(arch, space.input_shape)
    assert infos[-2].out_shape == (16, 4, 4)  # the stage width, half the resolution


@pytest.mark.parametrize("block", BLOCKS.names())
@pytest.mark.parametrize("width", [8, 16, 24, 64])
def test_blocks_output_the_stage_width(block, width):
    space = loads(f"input: [3, 9, 9]\nclasses: 2\nstages: [{{block: {block}, width: {width}, downsample: true}}]")
    infos = nas.infer_shapes(space.decode(()), space.input_shape)
    assert infos[-2].out_shape[0] == width
    assert infos[-2].out_shape[1:] == ((4, 4) if block == "dense" else (5, 5))  # avg pool floors


def test_inception_widths_follow_googlenet_3a():
    assert inception_widths(256) == (64, 96, 128, 16, 32, 32)  # Szegedy et al. 2014, Table 1
    for w in range(4, 300):
        c1, r3, c3, r5, c5, pp = inception_widths(w)
        assert c1 + c3 + c5 + pp == w and min(c1, r3, c3, r5, c5, pp) >= 1


# ---------------------------------------------------------------------------
# Decode, anchors, encode
# ---------------------------------------------------------------------------


def test_decode_with_an_anchor():
    space = loads(MACRO)
    # basic(16)*2 | sepconv(32, ln, downsample) | dense + anchor from stage 1 (layer 2)
    choices = (1, 1, 1, 1, 1, 1, 0, 1)
    arch = space.decode(choices)
    assert arch == ("basic(16)*2 sepconv(32,3,stride=2,norm=ln) transition(8,stride=1,skip=2) dense(4,2) gap")
    assert not space.is_valid(choices)  # the skip joins an 8x8 map with a 4x4 one
    same_size = (1, 1, 1, 1, 1, 0, 0, 1)
    assert "sepconv(32,3,norm=ln) transition(8,stride=1,skip=2)" in space.decode(same_size)
    assert space.is_valid(same_size)
    assert space.encode(space.decode(same_size)) == same_size


def test_layerwise_decode():
    space = loads(LAYERWISE)
    choices = (1, 2, 0, 0, 1, 1, 1, 0, 2, 1, 1)
    assert space.decode(choices) == "conv(32,3) conv(8,1x3) conv(16,3,skip=1) conv(32,1x3,skip=1+2) gap"
    assert space.encode(space.decode(choices)) == choices


@pytest.mark.parametrize("choices, message", [
    ((0,) * 7, "has 8 decisions, got 7 choices"),
    ((0,) * 9, "has 8 decisions, got 9 choices"),
    ((2, 0, 0, 0, 0, 0, 0, 0), "choice 2 for 'stage1.block' is out of range"),
    ((0, 0, 0, -1, 0, 0, 0, 0), "choice -1 for 'stage2.width' is out of range"),
    ((0.0,) * 8, "whole numbers"),
    ("abcdefgh", "whole numbers"),
    (5, "whole numbers"),
])
def test_bad_choices(choices, message):
    space = loads(MACRO)
    for method in (space.decode, space.is_valid):
        with pytest.raises(SpaceError, match=message):
            method(choices)


@pytest.mark.parametrize("arch, message", [
    ("conv(8,3) gap", "it ends before stage2"),
    ("conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2) gap(skip=1)", "does not end with the head"),
    ("conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2) fc(10)", "does not end with the head"),
    ("conv(12,3) sepconv(16,3) inception(4,6,8,1,2,2) gap", "no option of stage1 matches from layer 1"),
    ("conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2) conv(8,3) gap", "left over"),
    ("conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2,skip=2) gap", "skip= connections are not anchors"),
    ("act=gelu conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2) gap", "no option of stage1"),
    ("eps=0.001 conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2) gap", "eps"),
])
def test_encode_rejects_architectures_outside_the_space(arch, message):
    space = loads(MACRO)
    assert space.encode("conv(8,3) sepconv(16,3) inception(4,6,8,1,2,2) gap") == (0, 0, 0, 0, 0, 0, 1, 0)
    with pytest.raises(SpaceError, match=message) as e:
        space.encode(arch)
    assert "\n" not in str(e.value) and "mini" in str(e.value)


def test_encode_of_a_malformed_string_is_an_arch_error():
    with pytest.raises(ArchError):
        loads(MACRO).encode("conv(8,3")


def test_encode_checks_the_stem_and_accepts_other_spellings():
    space = loads("""
input: [1, 8, 8]
classes: 10
stem: "conv(8,3)"
stages:
  - {block: conv, width: [8, 16], norm: [bn, ln]}
""")
    with pytest.raises(SpaceError, match="does not start with the stem"):
        space.encode("conv(4,3) conv(16,3) gap")
    # the same network with the norm as a setting: encodes, and decodes to the space's spelling
    choices = space.encode("norm=ln conv(8,3,norm=bn) conv(16,3) gap")
    assert choices == (1, 1)
    assert space.decode(choices) == "conv(8,3) conv(16,3,norm=ln) gap"


def test_settings_in_the_stem_apply_to_the_whole_architecture():
    space = loads('input: [1, 8, 8]\nclasses: 2\nstem: "act=gelu conv(8,3)"\nstages: [{block: conv, width: 8}]')
    assert space.decode(()) == "act=gelu conv(8,3)*2 gap"
    assert space.encode("act=gelu conv(8,3) conv(8,3) gap") == ()


def test_encode_picks_the_first_of_equal_spellings():
    # conv(8) conv(8) conv(8) is stage1 x1 + stage2 x2 or stage1 x2 + stage2 x1
    space = loads("input: [1, 8, 8]\nclasses: 2\nstages: [{block: conv, width: 8, repeat: [1, 2]}, "
                  "{block: conv, width: 8, repeat: [1, 2]}]")
    assert space.decode((0, 1)) == space.decode((1, 0)) == "conv(8,3)*3 gap"
    assert space.encode("conv(8,3)*3 gap") == (0, 1)


DIGITS = SearchSpace.load("digits")
ZOPH = SearchSpace.load("zoph2017")
MINI = loads(MACRO)


def _choices(space: SearchSpace):
    return st.tuples(*(st.integers(0, len(d.options) - 1) for d in space.decisions))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_round_trip_digits(data):
    choices = data.draw(_choices(DIGITS))
    arch = DIGITS.decode(choices)
    back = DIGITS.encode(arch)
    assert DIGITS.decode(back) == arch == str(nas.parse(arch))
    assert back <= choices  # the first of equal spellings, in lexicographic order


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_round_trip_with_anchors(data):
    for space in (ZOPH, MINI):
        choices = data.draw(_choices(space))
        arch = space.decode(choices)
        assert space.encode(arch) == choices  # no two choice vectors spell the same here
        assert space.decode(space.encode(arch)) == arch


# ---------------------------------------------------------------------------
# Validity, constraints, sampling
# ---------------------------------------------------------------------------

CONSTRAINED = """
input: [1, 8, 8]
classes: 10
constraints: {max_params: 12_000, max_macs: 400_000}
stem: "conv(8,3)"
stages:
  - {block: [conv, basic, bottleneck, inception, dense, sepconv], width: [8, 40], downsample: [false, true]}
  - {block: [conv, bottleneck], width: [6, 32], downsample: true}
"""


@pytest.mark.parametrize("value, expected", [("5.0", 5.0), ("2", 2.0), ("0.25", 0.25), ("null", None)])
def test_max_latency_ms_is_a_positive_number_in_milliseconds(value, expected):
    space = loads(f"input: [1, 8, 8]\nclasses: 10\nconstraints: {{max_latency_ms: {value}}}\n"
                  "stages: [{block: conv, width: 8}]\n")
    assert space.constraints.max_latency_ms == expected
    assert expected is None or type(space.constraints.max_latency_ms) is float
    assert loads(GOOD + "stages: [{block: conv, width: 8}]\n").constraints.max_latency_ms is None


def test_is_valid_does_not_measure_latency():
    # The search enforces max_latency_ms per proposal; is_valid (rejection sampling) ignores it,
    # so even an unreachable bound leaves every buildable architecture valid.
    text = CONSTRAINED.replace("constraints: {", "constraints: {max_latency_ms: 0.000001, ")
    bounded, free = loads(text), loads(CONSTRAINED)
    assert bounded.constraints.max_latency_ms == 1e-6
    for choices in itertools.product(*(range(len(d.options)) for d in free.decisions)):
        assert bounded.is_valid(choices) == free.is_valid(choices)


def test_is_valid_agrees_with_the_builder_and_summarize_everywhere():
    space = loads(CONSTRAINED)
    limits = space.constraints
    seen = {True: 0, False: 0}
    for choices in itertools.product(*(range(len(d.options)) for d in space.decisions)):
        arch = space.decode(choices)
        try:
            nas.infer_shapes(arch, space.input_shape)
            s = nas.summarize(arch, space.input_shape, space.num_classes)
            expected = s.params <= limits.max_params and s.macs <= limits.max_macs
        except ArchError:  # e.g. bottleneck(6): not a multiple of 4
            expected = False
        assert space.is_valid(choices) == expected, arch
        seen[expected] += 1
    assert seen[True] and seen[False]


def test_is_valid_is_cached_and_fast():
    space = loads(CONSTRAINED)
    choices = [space.sample(random.Random(seed)) for seed in range(5)]
    start = time.perf_counter()
    for _ in range(200):
        for c in choices:
            assert space.is_valid(c)
    assert time.perf_counter() - start < 1.0


def test_samples_are_valid_and_seeded():
    space = loads(CONSTRAINED)
    a = [space.sample(random.Random(7)) for _ in range(3)]
    assert len(set(a)) == 1  # the same seed gives the same draw
    assert space.sample(7) == a[0]  # an int seeds a random.Random
    rng = random.Random(0)
    draws = [space.sample(rng) for _ in range(30)]
    assert all(space.is_valid(c) for c in draws) and len(set(draws)) > 5


def test_sample_rejects_other_generators():
    with pytest.raises(SpaceError, match="random.Random"):
        loads(CONSTRAINED).sample(object())


def test_sample_gives_up_on_a_space_without_valid_architectures():
    space = loads(CONSTRAINED.replace("max_params: 12_000", "max_params: 1"))
    with pytest.raises(SpaceError, match="20 random architectures in a row were invalid"):
        space.sample(random.Random(0), max_tries=20)


# ---------------------------------------------------------------------------
# Loading and errors
# ---------------------------------------------------------------------------


def test_load_by_name_and_by_path(repo):
    by_name = SearchSpace.load("digits")
    by_path = SearchSpace.load(repo / "search_spaces" / "digits.yaml")
    assert by_name.path.resolve() == by_path.path.resolve() == (repo / "search_spaces" / "digits.yaml").resolve()
    assert by_name.hash == by_path.hash and len(by_name.hash) == 64
    assert SearchSpace.load("digits.yaml").path == by_name.path
    assert set(shipped()) >= {"digits", "cifar10", "zoph2017"}


GOOD = "input: [1, 8, 8]\nclasses: 10\n"


@pytest.mark.parametrize("text, where, message", [
    (GOOD + "stagse: []\nstages: [{block: conv, width: 8}]", "stagse", "did you mean 'stages'"),
    (GOOD + "stages: [{blok: conv, width: 8}]", "stages[0].blok", "did you mean 'block'"),
    (GOOD + "stages: [{block: resnet, width: 8}]", "stages[0].block", "unknown block 'resnet'"),
    (GOOD + "stages: [{block: [conv, basik], width: 8}]", "stages[0].block[1]", "did you mean 'basic'"),
    (GOOD + "stages: [{block: conv, width: '16'}]", "stages[0].width", "expected a whole number, got '16'"),
    (GOOD + "stages: [{block: conv, width: 0}]", "stages[0].width", "0 is out of range"),
    (GOOD + "stages: [{block: conv, width: true}]", "stages[0].width", "whole number"),
    (GOOD + "stages: [{block: conv, width: {a: 1}}]", "stages[0].width", "got a mapping"),
    (GOOD + "stages: [{block: conv, width: 8, repeat: []}]", "stages[0].repeat", "empty"),
    (GOOD + "stages: [{block: conv, width: [16, 16]}]", "stages[0].width[1]", "listed twice"),
    (GOOD + "stages: [{block: conv, width: 8, norm: batch}]", "stages[0].norm", "unknown norm 'batch'"),
    (GOOD + "stages: [{block: conv, width: 8, downsample: maybe}]", "stages[0].downsample", "true or false"),
    (GOOD + "stages: [{block: conv}]", "stages[0]", "missing key 'width'"),
    (GOOD + "stages: [conv]", "stages[0]", "expected a mapping"),
    (GOOD + "stages: {}", "stages", "non-empty list"),
    (GOOD + "stages: [{block: conv, width: 8}]\nfilters: [8]", "filters", "belongs to a layer-wise space"),
    (GOOD + "layers: 3\nfilter_height: 3\nfilter_width: 3\nfilters: 8\nblock: conv", "block",
     "belongs to a stage"),
    (GOOD + "layers: 3\nfilter_height: 3\nfilter_width: 3", "", "missing key 'filters'"),
    (GOOD + "layers: 0\nfilter_height: 3\nfilter_width: 3\nfilters: 8", "layers", "out of range"),
    (GOOD + "layers: 2\nfilter_height: [3, 17]\nfilter_width: 3\nfilters: 8", "filter_height[1]", "out of range"),
    (GOOD + "layers: 2\nstages: []\nfilter_height: 3", "", "not both"),
    (GOOD, "", "missing key 'stages'"),
    ("input: [1, 8]\nclasses: 10\nstages: [{block: conv, width: 8}]", "input", "expected [C, H, W]"),
    ("input: [1, 8, 8]\nstages: [{block: conv, width: 8}]", "", "missing key 'classes'"),
    (GOOD + "constraints: {max_param: 5}\nstages: [{block: conv, width: 8}]", "constraints.max_param",
     "did you mean 'max_params'"),
    (GOOD + "constraints: {max_macs: 5e6}\nstages: [{block: conv, width: 8}]", "constraints.max_macs",
     "whole number, got '5e6'"),
    (GOOD + "constraints: {max_latency_ms: -1}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "-1 is out of range: expected a positive finite number"),
    (GOOD + "constraints: {max_latency_ms: 0}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "out of range"),
    (GOOD + "constraints: {max_latency_ms: .inf}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "positive finite number"),
    (GOOD + "constraints: {max_latency_ms: .nan}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "positive finite number"),
    (GOOD + "constraints: {max_latency_ms: 5ms}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "expected a positive number, got '5ms'"),
    (GOOD + "constraints: {max_latency_ms: true}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "expected a positive number, got True"),
    (GOOD + "constraints: {max_latency_ms: [5]}\nstages: [{block: conv, width: 8}]", "constraints.max_latency_ms",
     "got a list"),
    (GOOD + "constraints: {max_latency: 5}\nstages: [{block: conv, width: 8}]", "constraints.max_latency",
     "did you mean 'max_latency_ms'"),
    (GOOD + "anchors: 1\nstages: [{block: conv, width: 8}]", "anchors", "true or false"),
    (GOOD + "stem: 'conv(16,3'\nstages: [{block: conv, width: 8}]", "stem", "missing ')'"),
    (GOOD + "stem: 12\nstages: [{block: conv, width: 8}]", "stem", "architecture text"),
    (GOOD + "head: 'normact normact(skip=1)'\nstages: [{block: conv, width: 8}]", "head", "skip= is not allowed"),
    (GOOD + "head: 'gapp'\nstages: [{block: conv, width: 8}]", "head", "unknown layer 'gapp'"),
    (GOOD + "dataset: [a]\nstages: [{block: conv, width: 8}]", "dataset", "dataset name"),
])
def test_schema_errors_name_the_file_and_the_key(tmp_path, text, where, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as e:
        SearchSpace.load(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: {where + ': ' if where else ''}"), msg
    assert message in msg and "\n" not in msg


@pytest.mark.parametrize("content, message", [
    (b"stages: [\n", "invalid YAML"),
    (b"a: b: c\n", "invalid YAML"),
    (b"", "the file is empty"),
    (b"# only a comment\n", "the file is empty"),
    (b"- block: conv\n", "must be a YAML mapping"),
    (b"hello\n", "must be a YAML mapping"),
    (b"name: \xff\xfe\n", "not UTF-8"),
])
def test_unreadable_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(SpaceError) as e:
        SearchSpace.load(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(SpaceError, match="no such search space file .*digits"):
        SearchSpace.load(tmp_path / "nope.yaml")
    with pytest.raises(SpaceError, match="no such search space file"):
        SearchSpace.load("nope")
    with pytest.raises(SpaceError, match="cannot read"):
        SearchSpace.load(tmp_path)


def test_errors_are_nas_errors():
    assert issubclass(SpaceError, NasError)


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def test_cli_json(capsys):
    assert main(["space", "digits", "--sample", "2", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"name", "size", "decisions", "samples", "hash", "input", "classes"} <= set(out)
    assert out["name"] == "digits" and out["size"] == DIGITS.size
    assert out["decisions"][0] == {"name": "stage1.block", "kind": "block",
                                   "options": ["conv", "basic", "bottleneck", "inception", "dense", "sepconv"]}
    assert len(out["samples"]) == 2
    for s in out["samples"]:
        assert DIGITS.decode(s["choices"]) == s["arch"] and DIGITS.is_valid(s["choices"])
        assert s["params"] == nas.summarize(s["arch"], (1, 8, 8), 10).params


def test_cli_json_with_a_huge_size(capsys):
    assert main(["space", "zoph2017", "--sample", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["size"] == 2**181 and out["samples"] == []


def test_cli_text(capsys, repo):
    assert main(["space", str(repo / "search_spaces" / "digits.yaml"), "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert "space digits" in out and "stage2.downsample" in out and "false true" in out
    assert f"size: {DIGITS.size:,} architectures" in out
    assert "gap" in out.split("samples")[-1]


@pytest.mark.parametrize("argv, message", [
    (["space", "{bad}", "--sample", "1"], "unknown key 'stagse'"),
    (["space", "nope"], "no such search space file"),
    (["space", "digits", "--sample", "-1"], "--sample must be 0 or more"),
    (["space", "digits", "--seed", "x"], "invalid int value"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD + "stagse: []\nstages: [{block: conv, width: 8}]")
    argv = [str(bad) if a == "{bad}" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nas: error: ") and message in err and err.count("\n") == 1


def test_decisions_name_their_unit_and_an_anchors_source():
    space = SearchSpace.load("zoph2017")
    for d in space.decisions:
        j = int(d.name.split(".")[0].removeprefix("layer"))
        assert d.unit == j
        if d.kind == "anchor":
            assert d.source == int(d.name.rsplit("anchor", 1)[1]) and 1 <= d.source <= j - 2
        else:
            assert d.source is None
    assert {d.unit for d in SearchSpace.load("digits").decisions} == {1, 2}
