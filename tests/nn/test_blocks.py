"""Every layer of the table and every norm: builds, keeps its inferred shape, passes
gradients, gives no NaN. MACs checked against torch's own flop counter."""
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas.lang import ACTS, INITS, NORMS, OPS, Settings
from nas.nn import Network

INPUT = (4, 9, 9)  # odd size on purpose: exercises ceil/floor rules


def _cases():
    for name in OPS.names():
        spec = OPS.get(name)
        if spec.param("norm") is None:
            yield name, None
        else:
            for norm in NORMS:
                yield name, norm


def _arch(name, norm):
    ex = OPS.get(name).example
    assert ex, f"layer {name!r} has no example in nas/nn/ops.py"
    if norm is not None:
        ex = ex[:-1] + f",norm={norm})" if "(" in ex else f"{ex}(norm={norm})"
    return f"conv(8,3) {ex}"


@pytest.mark.parametrize("name, norm", list(_cases()))
def test_layer_builds_keeps_shape_and_passes_gradients(name, norm):
    torch.manual_seed(0)
    arch = _arch(name, norm)
    infos = nas.infer_shapes(arch, INPUT)
    model = nas.build(arch, INPUT, num_classes=5).train()
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:]))) for m in model.layers]
    x = torch.randn(3, *INPUT)
    y = model(x)
    for h in hooks:
        h.remove()
    assert seen == [i.out_shape for i in infos]
    assert y.shape == (3, 5) and torch.isfinite(y).all()
    y.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("norm", NORMS.names())
def test_every_norm_keeps_shape(norm):
    m = NORMS.get(norm)(6, 1e-5)
    assert m(torch.randn(2, 6, 3, 3)).shape == (2, 6, 3, 3)


@pytest.mark.parametrize("act", ACTS.names())
def test_every_activation_builds(act):
    y = nas.build(f"act={act} conv(4,3) gap", (1, 4, 4), 3)(torch.randn(2, 1, 4, 4))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("norm, independent", [("ln", True), ("gn", True), ("in", True), ("bn", False)])
def test_layer_norm_does_not_look_at_the_batch(norm, independent):
    """LN's defining property (Ba et al. 2016): in training mode a sample's output does not
    depend on the rest of its batch. Batch norm's does."""
    torch.manual_seed(0)
    model = nas.build(f"norm={norm} conv(8,3) basic(8) gap", (3, 6, 6), 4).train()
    x = torch.randn(4, 3, 6, 6)
    other = torch.cat([x[:1], torch.randn(3, 3, 6, 6) * 5 + 3])
    a, b = model(x)[0], model(other)[0]
    assert torch.allclose(a, b, atol=1e-5) == independent


def test_layer_norm_statistics_are_over_chw_per_sample():
    m = NORMS.get("ln")(6, 1e-5)
    x = torch.randn(2, 6, 4, 4) * 3 + 1
    ref = torch.nn.functional.layer_norm(x, x.shape[1:], eps=1e-5)  # affine is identity at init
    torch.testing.assert_close(m(x), ref)
    assert m.weight.shape == (6,) and m.bias.shape == (6,)  # per-channel scale and shift


MAC_CASES = [f"conv(8,3) {OPS.get(n).example}" for n in OPS.names()] + [
    "conv(24,3x5) conv(36,7,skip=0+1) sepconv(16) gap fc(32)",
    "conv(64,7,stride=2) maxpool(3,stride=2,pad=1) basic(64)*2 bottleneck(256,stride=2,groups=32,width=4) gap",
]


@pytest.mark.parametrize("arch", MAC_CASES)
def test_mac_counter_matches_torch_flop_counter(arch):
    shape = (3, 16, 16)
    s = nas.summarize(arch, shape, 10)
    model = nas.build(arch, shape, 10).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.zeros(1, *shape))
    assert 2 * s.macs == fc.get_total_flops()  # torch counts a multiply-accumulate as 2 FLOPs
    assert s.params == sum(p.numel() for p in model.parameters())


def test_lecture_inception_op_counts():
    """The lecture's naive-module example: 28x28x256 input, "Total: 854M ops" -- our count is
    exactly its three conv terms. For the bottleneck module the slide says "358M ops", but
    its own six listed terms sum to 271M, which is what we count (the 358M is the slide's
    arithmetic slip)."""
    naive = nas.summarize("inception(128,0,192,0,96,0)", (256, 28, 28), 10).layers[0]
    assert naive.macs == 28 * 28 * 256 * (128 + 192 * 9 + 96 * 25) == 854_196_224
    assert naive.out_shape == (128 + 192 + 96 + 256, 28, 28)  # pooled input passes through: depth grows
    reduced = nas.summarize("inception(128,64,192,64,96,64)", (256, 28, 28), 10).layers[0]
    terms = [28 * 28 * 64 * 256, 28 * 28 * 64 * 256, 28 * 28 * 128 * 256, 28 * 28 * 192 * 9 * 64,
             28 * 28 * 96 * 25 * 64, 28 * 28 * 64 * 256]
    assert reduced.macs == sum(terms) == 271_351_808
    assert reduced.out_shape == (480, 28, 28)


def test_skip_connections_concatenate_earlier_outputs():
    model = nas.build("conv(4,3) conv(5,3) conv(6,1,skip=0+1)", (2, 5, 5), 3)
    assert model.layers[2].conv.in_channels == 5 + 2 + 4
    assert model(torch.randn(2, 2, 5, 5)).shape == (2, 3)


def test_summary_json_shape():
    d = nas.summarize("conv(8,3) gap", (1, 8, 8), 10).to_dict()
    assert d["output"] == [10] and d["params"] == 8 * 9 + 8 * 2 + 8 * 10 + 10
    assert d["macs"] == 8 * 8 * 8 * 9 + 8 * 10


# --- weight initialization schemes (init=) --------------------------------------------

def _default_std(fan_in):  # PyTorch's Conv2d/Linear default: kaiming_uniform_(a=sqrt(5)), bound 1/sqrt(fan_in)
    return 1 / math.sqrt(3 * fan_in)


# What each scheme does, from the torchvision source it cites (nas/nn/init.py), as
# (conv weight std, conv bias zeroed, Linear weight std, Linear bias zeroed) for a conv
# with fan_in 16*9 and fan_out 64*9 and a Linear with fan_in 64. "default": PyTorch's.
FAN_IN, FAN_OUT, LIN_IN = 16 * 9, 64 * 9, 64
INIT_EXPECTED = {
    "resnet": (math.sqrt(2 / FAN_OUT), True, _default_std(LIN_IN), False),  # resnet.py 208-213
    "vgg": (math.sqrt(2 / FAN_OUT), True, 0.01, True),  # vgg.py 52-63
    "googlenet": (0.01, False, 0.01, False),  # googlenet.py 94-100, truncated at +-2 (absolute)
    "densenet": (math.sqrt(2 / FAN_IN), False, _default_std(LIN_IN), True),  # densenet.py 202-210
    "he_fan_in": (math.sqrt(2 / FAN_IN), True, math.sqrt(2 / LIN_IN), True),  # He et al. 2015 Sec. 2.2
}


def test_every_init_scheme_is_specified_here_and_in_the_language():
    assert set(INIT_EXPECTED) == set(INITS.names()) == set(INITS)
    assert Settings().init == "resnet"


@pytest.mark.parametrize("scheme", INITS.names())
def test_init_scheme_statistics(scheme):
    conv_std, conv_bias_zero, lin_std, lin_bias_zero = INIT_EXPECTED[scheme]
    torch.manual_seed(0)
    # norm=none: the convs have biases; a second conv with BN checks the norm init
    model = nas.build(f"init={scheme} norm=none conv(64,3) conv(64,3,norm=bn) gap fc(512)", (16, 4, 4), 10)
    conv, bn_conv, fc = model.layers[0].conv, model.layers[1], model.layers[3].linear
    assert conv.weight.std().item() == pytest.approx(conv_std, rel=0.03)
    assert conv.weight.mean().abs().item() < conv_std * 0.05
    assert torch.count_nonzero(conv.bias).item() == (0 if conv_bias_zero else 64)
    assert fc.weight.std().item() == pytest.approx(lin_std, rel=0.03)
    assert torch.count_nonzero(fc.bias).item() == (0 if lin_bias_zero else 512)
    assert torch.equal(bn_conv.norm.weight, torch.ones(64)) and torch.equal(bn_conv.norm.bias, torch.zeros(64))
    if scheme == "googlenet":  # truncated normal at +-2: nothing anywhere near the bounds
        assert conv.weight.abs().max().item() < 0.1


def test_default_init_is_the_one_every_string_had_before():
    """Kaiming normal (fan_out, relu) on convs, zero conv bias, PyTorch's defaults elsewhere:
    the builder's hard-coded init before init= existed, weight for weight."""
    arch, shape = "norm=none conv(8,3) basic(16,stride=2,norm=bn) fc(12)", (3, 8, 8)
    assert "init=" not in str(nas.parse(arch)) and nas.parse(arch) == nas.parse("init=resnet " + arch)
    torch.manual_seed(3)
    ours = nas.build(arch, shape, 5)
    torch.manual_seed(3)
    before = Network(nas.parse(arch), nas.infer_shapes(arch, shape), 5)  # PyTorch's defaults, then:
    for m in before.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    for (name, a), b in zip(ours.state_dict().items(), before.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("scheme", INITS.names())
def test_init_is_harmless_on_the_meta_device(scheme):
    arch = f"init={scheme} conv(8,3) inception(4,4,8,2,4,4) dense(2,4) gap fc(16)"
    with torch.device("meta"):
        model = nas.build(arch, (3, 8, 8), 10)
    assert all(p.is_meta for p in model.parameters())
    assert nas.summarize(arch, (3, 8, 8), 10).params == sum(p.numel() for p in model.parameters())
