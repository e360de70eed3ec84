"""Every layer of the table and every norm: builds, keeps its inferred shape, passes
gradients, gives no NaN. MACs checked against torch's own flop counter."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas.arch import NORMS, OPS
from nas.norms import ACT_LAYERS, NORM_LAYERS

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
    assert ex, f"layer {name!r} has no example in nas/ops.py"
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


@pytest.mark.parametrize("norm", NORM_LAYERS.names())
def test_every_norm_keeps_shape(norm):
    m = NORM_LAYERS.get(norm)(6, 1e-5)
    assert m(torch.randn(2, 6, 3, 3)).shape == (2, 6, 3, 3)


@pytest.mark.parametrize("act", ACT_LAYERS.names())
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
    m = NORM_LAYERS.get("ln")(6, 1e-5)
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
