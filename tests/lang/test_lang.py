"""The architecture language: round trips, canonical form, and errors that say where."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nas
from nas.lang import BOOL, FLOAT, INT, NAME, OPS, SETTINGS_PARAMS, SIZE, format_arch, parse
from nas.errors import ArchError, NasError

LECTURE = ["inception(128,0,192,0,96,0)", "inception(128,64,192,64,96,64)"]


@pytest.mark.parametrize("text", LECTURE)
def test_lecture_inception_strings_are_accepted_exactly(text):
    assert str(parse(text)) == text


def test_canonical_form_folds_repeats_and_spaces():
    a = parse("conv( 32 , 3 )   conv(32,3) basic(64, stride=2)*2 gap")
    assert str(a) == "conv(32,3)*2 basic(64,stride=2)*2 gap"
    assert len(a.layers) == 5
    assert parse("basic(64)*2") == parse("basic(64) basic(64)")


def test_defaults_are_omitted_and_explicit_inherited_norm_is_the_same_layer():
    assert str(parse("conv(16,3,stride=1,groups=1) maxpool(2,stride=2) maxpool(3,stride=2)")) == "conv(16,3) maxpool(2) maxpool(3,stride=2)"
    assert parse("norm=ln conv(16,3,norm=ln)") == parse("norm=ln conv(16,3)")
    assert str(parse("norm=ln conv(16,3,norm=bn)")) == "norm=ln conv(16,3,norm=bn)"


def test_init_setting_is_canonical_and_omitted_when_default():
    a = parse("init=densenet eps=0.001 conv(8,3)")
    assert a.settings.init == "densenet" and str(a) == "eps=0.001 init=densenet conv(8,3)"
    assert str(parse("init=resnet conv(8,3)")) == "conv(8,3)"  # the default scheme
    assert parse("init=vgg conv(8,3)") != parse("conv(8,3)")  # the same layers, another network


def test_settings_kernel_sizes_and_skips_round_trip():
    text = "norm=ln act=gelu eps=0.001 conv(24,3x5) conv(36,7,skip=0+1) gap"
    a = parse(text)
    assert str(a) == text
    assert a.settings.norm == "ln" and a.layers[0]["k"] == (3, 5) and a.layers[1].skip == (0, 1)


def _value(p, draw):
    lo = int(p.min) if p.min is not None else 0
    if p.kind is INT:
        return str(draw(st.integers(max(lo, 1) if p.required else lo, lo + 5)))
    if p.kind is FLOAT:
        return repr(draw(st.floats(min_value=p.min or 0.0, max_value=p.max or 1.0, allow_nan=False)))
    if p.kind is BOOL:
        return draw(st.sampled_from(["true", "false"]))
    if p.kind is SIZE:
        h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
        return draw(st.sampled_from([str(h), f"{h}x{w}"]))
    if p.kind is NAME:
        return draw(st.sampled_from(list(p.choices)))
    raise AssertionError(p.kind)


@st.composite
def arch_strings(draw):
    tokens = []
    for p in SETTINGS_PARAMS:
        if draw(st.booleans()):
            tokens.append(f"{p.name}={_value(p, draw)}")
    n = draw(st.integers(1, 6))
    for i in range(n):
        spec = OPS.get(draw(st.sampled_from(OPS.names())))
        args = [_value(p, draw) for p in spec.params if p.required]
        for p in spec.params:
            if not p.required and draw(st.booleans()):
                args.append(f"{p.name}={_value(p, draw)}")
        if spec.takes_skip and i and draw(st.booleans()):
            args.append("skip=" + "+".join(map(str, draw(st.lists(st.integers(0, i), min_size=1, max_size=3)))))
        tok = f"{spec.name}({', '.join(args)})" if args or draw(st.booleans()) else spec.name
        if draw(st.integers(0, 4)) == 0:
            tok += f"*{draw(st.integers(1, 3))}"
        tokens.append(tok)
    return " ".join(tokens)


@settings(max_examples=300, deadline=None)
@given(arch_strings())
def test_parse_format_round_trip(text):
    a = parse(text)
    s = format_arch(a)
    assert parse(s) == a
    assert format_arch(parse(s)) == s  # formatting is idempotent


@pytest.mark.parametrize(
    "text, col, words",
    [
        ("cnv(32,3)", 1, ["unknown layer", "did you mean 'conv'"]),
        ("conv(32,3) bsic(64)", 12, ["did you mean 'basic'"]),
        ("conv(32,3", 10, ["missing ')'"]),
        ("conv(32,3,strid=2)", 11, ["no parameter 'strid'", "did you mean 'stride'"]),
        ("conv(0)", 6, ["at least 1"]),
        ("conv(32,3)*0", 12, ["repeat count"]),
        ("conv(32,x)", 9, ["bad value 'x'"]),
        ("conv(32,3,stride=2,stride=1)", 20, ["given twice"]),
        ("conv(stride=2,32)", 15, ["positional value"]),
        ("conv(32) norm=ln", 10, ["must come before"]),
        ("nrm=ln conv(3)", 1, ["unknown setting", "did you mean 'norm'"]),
        ("norm=xn conv(3)", 6, ["not allowed"]),
        ("init=vg conv(3)", 6, ["not allowed", "did you mean 'vgg'"]),
        ("conv(3) conv(3,skip=5)", 9, ["earlier layer"]),
        ("conv(3) $", 9, ["unexpected character"]),
        ("", 1, ["at least one layer"]),
        ("dropout(1.5)", 9, ["at most 1"]),
        ("conv(16,3,norm=layer)", 16, ["not allowed", "expected one of"]),
        ("conv(16,3,norm=lnn)", 16, ["did you mean 'ln'"]),
    ],
)
def test_errors_say_what_and_where(text, col, words):
    with pytest.raises(ArchError) as e:
        parse(text)
    assert e.value.col == col, str(e.value)
    for w in words:
        assert w in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "text, shape, words",
    [
        ("maxpool(2)*4 gap", (1, 8, 8), ["below 1"]),
        ("conv(16,3) gap conv(16,3)", (1, 8, 8), ["flat vector"]),
        ("conv(16,3,groups=3)", (1, 8, 8), ["groups=3"]),
        ("bottleneck(30)", (3, 8, 8), ["multiple of expansion"]),
        ("conv(8,3,stride=2) conv(8,3,skip=0)", (1, 8, 8), ["different sizes"]),
        ("inception(8,4,0,0,8,0)", (1, 8, 8), ["needs a 3x3 branch"]),
        ("maxpool(2,pad=2)", (1, 8, 8), ["half the window"]),
    ],
)
def test_impossible_architectures_are_rejected_before_building(text, shape, words):
    with pytest.raises(ArchError) as e:
        nas.infer_shapes(text, shape)
    for w in words:
        assert w in str(e.value)
    assert e.value.col >= 1


def test_one_error_type():
    assert issubclass(ArchError, NasError) and issubclass(ArchError, ValueError)
    with pytest.raises(ArchError):
        parse(123)
    with pytest.raises(ArchError):
        nas.build("conv(8)", (1, 8, 8), 0)
    with pytest.raises(ArchError):
        nas.build("conv(8)", (1, 0, 8), 10)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="conv(),=*x+ 0123456789.abgpqdeflmrsituk-_", max_size=40))
def test_parser_raises_only_arch_error_on_garbage(text):
    try:
        a = parse(text)
    except ArchError:
        return
    assert parse(str(a)) == a


def test_equivalent_spellings_share_one_canonical_form():
    assert parse("maxpool(2,stride=2)") == parse("maxpool(2)")
    assert parse("conv(8,3,bias=false)") == parse("conv(8,3)")
    assert parse("conv(8,3,norm=none,bias=true)") == parse("conv(8,3,norm=none)")
    assert str(parse("conv(8,3,bias=true)")) == "conv(8,3,bias=true)"  # VGG-BN keeps its conv biases


# --- building layers in code -----------------------------------------------------------

@pytest.mark.parametrize("op", OPS.names())
def test_layer_make_equals_parsing_the_example(op):
    """Code builds the same typed Layer that parsing the op's example string gives."""
    from nas.lang import Layer, make_arch

    parsed = parse(OPS.get(op).example)
    (layer,) = parsed.layers
    made = Layer.make(op, **dict(layer.args))
    assert make_arch([made]) == parsed and str(make_arch([made])) == OPS.get(op).example


def test_layer_make_checks_like_the_parser():
    from nas.lang import Layer

    assert str(Layer.make("conv", 16, (3, 5), stride=2, norm="ln")) == "conv(16,3x5,stride=2,norm=ln)"
    with pytest.raises(ArchError, match="needs a value for 'out'"):
        Layer.make("conv")
    with pytest.raises(ArchError, match="did you mean 'stride'"):
        Layer.make("conv", 16, strde=2)
    with pytest.raises(ArchError, match="at least 1"):
        Layer.make("conv", 0)
    with pytest.raises(ArchError, match="given twice"):
        Layer.make("conv", 16, out=8)
    with pytest.raises(ArchError, match="did you mean 'conv'"):
        Layer.make("conw", 16)


def test_parse_can_inherit_settings():
    from nas.lang import Settings

    ln = Settings(norm="ln")
    assert str(parse("conv(8,norm=bn) gap", settings=ln)) == "norm=ln conv(8,3,norm=bn) gap"
    assert parse("conv(8) gap", settings=ln).layers[0]["norm"] is None  # inherits ln
    assert parse("act=gelu conv(8)", settings=ln).settings == Settings(act="gelu")  # its own settings win
