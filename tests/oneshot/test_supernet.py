"""The weight-sharing supernet (nas/oneshot/supernet.py): every path equals its extracted
stand-alone model, gradients reach only the path's slices, weights are shared where the keys
say and nowhere else, anchors gather the right segments, oversized supernets are refused
before anything is allocated, and the state_dict round-trips.

Every shipped space is tested (a new one by adding its file): those whose supernet is small
as they are; the others through a reduced copy (widths and filters / 8, at most 6 layers),
while their real plan, which allocates nothing, is checked on the real file."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from nas import Network, infer_shapes
from nas.errors import ArchError, SpaceError
from nas.lang import parse
from nas.oneshot import supernet as sn
from nas.oneshot.supernet import Supernet, check_fits, plan_supernet
from nas.space import SearchSpace, shipped

SHIPPED = sorted(shipped())

# The shipped spaces' supernets as plan_supernet sizes them (nas/limits.py quotes them).
# zoph2017 by hand: layer j's conv is 64 x (its input segments) x 7 x 7 with segments 3 (the
# image, j = 1), 64 (j = 2), 64 + 64 (j - 2) for j >= 3 (the previous layer, then one per
# anchor); a batch norm of 64 scales and shifts per layer; the classifier 64 x 10 + 10.
ZOPH = 64 * 49 * (3 + 64 + sum(64 * (j - 1) for j in range(3, 16))) + 15 * 2 * 64 + 64 * 10 + 10
SIZES = {"digits": 730_454, "cifar10": 137_368_426, "zoph2017": ZOPH}

# Supernets up to this many parameters are allocated as they are; larger ones (cifar10's
# is 137M: 2 s and 0.5 GB to allocate) are tested through a reduced copy.
SMALL = 2_000_000


def small(space: SearchSpace) -> SearchSpace:
    """``space`` itself if its supernet is small, else a copy with widths and filters / 8
    (multiples of 4, for the bottleneck's expansion), at most 6 layers, inputs at most 16x16
    and no constraints."""
    if plan_supernet(space).params <= SMALL:
        return space
    spec = space.spec
    if spec.layers is not None:
        shrunk = tuple(sorted({max(2, f // 8) for f in spec.layers.filters}))
        spec = dataclasses.replace(spec, layers=dataclasses.replace(spec.layers, count=min(spec.layers.count, 6),
                                                                    filters=shrunk))
    else:
        spec = dataclasses.replace(spec, stages=tuple(
            dataclasses.replace(st, width=tuple(sorted({max(4, w // 32 * 4) for w in st.width})))
            for st in spec.stages))
    c, h, w = spec.input
    return SearchSpace(dataclasses.replace(spec, name=spec.name + "-small", input=(c, min(h, 16), min(w, 16)),
                                           constraints=type(spec.constraints)()))


_NETS: dict[str, Supernet] = {}


def net_for(name: str) -> Supernet:
    """One supernet per shipped space for the whole module (in train mode between tests)."""
    if name not in _NETS:
        _NETS[name] = Supernet(small(SearchSpace.load(name)), seed=0)
    net = _NETS[name]
    net.train()
    return net


def buildable(space: SearchSpace, choices) -> bool:
    try:
        infer_shapes(space.decode(choices), space.input_shape)
    except ArchError:
        return False
    return True


def archs(space: SearchSpace) -> list[tuple[int, ...]]:
    """Random valid architectures; every option of every categorical decision (block types,
    norms) on the first of them; the largest and smallest numbers everywhere (anchors all on
    / all off) where they can be built."""
    base = space.sample(0)
    out = [base, space.sample(1), space.sample(2)]
    for k, d in enumerate(space.decisions):
        if all(isinstance(o, str) for o in d.options):
            out += [base[:k] + (i,) + base[k + 1:] for i in range(len(d.options))]
    for pick, anchor in ((max, 1), (min, 0)):
        out.append(tuple(anchor if d.kind == "anchor"
                         else d.options.index(pick(d.options)) if all(type(o) is int for o in d.options)
                         else c for d, c in zip(space.decisions, base)))
    return [c for c in dict.fromkeys(out) if buildable(space, c)]


def batch(space: SearchSpace, n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, *space.input_shape, generator=torch.Generator().manual_seed(seed))


def choose(space: SearchSpace, choices, **values) -> tuple[int, ...]:
    """``choices`` with decisions set by name (``layer1__filters=8`` sets ``layer1.filters``)."""
    out = list(choices)
    for name, value in values.items():
        k = [d.name for d in space.decisions].index(name.replace("__", "."))
        out[k] = space.decisions[k].options.index(value)
    return tuple(out)


# ---------------------------------------------------------------------------------------
# The plan, on the real spaces (nothing allocated)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_plan_of_each_shipped_space(name):
    space = SearchSpace.load(name)
    plan = plan_supernet(space)
    if name in SIZES:
        assert plan.params == SIZES[name]
    assert plan.bytes(1) == 12 * plan.params and plan.bytes(2) == 16 * plan.params
    assert plan.params == sum(torch.Size(s).numel() for s in plan.shapes.values())
    # Every path's parameters are slices of distinct masters: the supernet holds at least
    # each architecture's parameters (nas.summarize's count).
    for seed in range(3):
        assert space.cost(space.sample(seed))[0] <= plan.params
    check_fits(plan, "cpu")  # the shipped spaces fit their own bound


def test_plan_of_zoph2017_gives_anchor_segments():
    plan = plan_supernet(SearchSpace.load("zoph2017"))
    assert plan.shapes[("layer1", "", 0, "conv.weight")] == (64, 3, 7, 7)
    assert plan.shapes[("layer2", "", 0, "conv.weight")] == (64, 64, 7, 7)
    assert plan.shapes[("layer15", "", 0, "conv.weight")] == (64, 64 * 14, 7, 7)
    assert plan.shapes[("layer3", "", 0, "norm.weight", "bn")] == (64,)
    seg = plan.anchors["layer5"]
    assert seg.prev == 64 and seg.sources == ((1, 64, 64), (2, 128, 64), (3, 192, 64))


def test_keys_follow_units_positions_and_norms():
    plan = plan_supernet(SearchSpace.load("digits"))
    keys = set(plan.shapes)
    assert ("stem", 0, "conv.weight") in keys and ("classifier", "weight") in keys
    # elastic depth: a second block of every type; norms apart, convs together
    assert ("stage2", "basic", 1, "conv2.conv.weight") in keys
    assert {("stage1", "conv", 0, "norm.weight", n) for n in ("bn", "ln")} <= keys
    assert not any(k[:4] == ("stage1", "conv", 0, "conv.weight") and len(k) == 5 for k in keys)
    # inception after a maxpool (downsample) is still the stage's first block with weights
    assert ("stage1", "inception", 0, "branch1.conv.weight") in keys
    # depthwise: the first block's runs on the stage's input (stage1: at most 48), the second's on 96
    assert plan.shapes[("stage2", "sepconv", 0, "depthwise.conv.weight")] == (48, 1, 3, 3)
    assert plan.shapes[("stage2", "sepconv", 1, "depthwise.conv.weight")] == (96, 1, 3, 3)
    assert plan.shapes[("classifier", "weight")] == (10, 96)
    assert plan.name(("stage1", "conv", 0, "norm.weight", "bn")) == "stage1/conv/0/norm:weight/bn"
    assert plan.name(("layer3", "", 0, "conv.weight")) == "layer3/-/0/conv:weight"


def test_anchors_into_anything_but_a_plain_conv_are_refused():
    text = """
name: anchored
input: [1, 8, 8]
classes: 10
stem: conv(8,3)
anchors: true
stages:
  - {block: [conv], width: [8, 16]}
  - {block: [conv], width: [8, 16], repeat: [1, 2]}
  - {block: [conv, basic], width: [8, 16]}
"""
    with pytest.raises(SpaceError, match="stage3 may start with basic") as e:
        plan_supernet(SearchSpace.loads(text))
    assert "\n" not in str(e.value)
    space = SearchSpace.loads(text.replace("[conv, basic]", "[conv]"))
    assert plan_supernet(space).anchors["stage3"].sources == ((1, 16, 16),)
    net = Supernet(space)
    x = batch(space)
    for c in [space.sample(s) for s in range(6)]:
        assert torch.allclose(net(c, x), net.extract(c)(x), atol=1e-5)


# ---------------------------------------------------------------------------------------
# Paths equal their stand-alone models
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_paths_equal_extracted_models(name):
    net = net_for(name)
    space = net.space
    x = batch(space)
    calib = [batch(space, 8, seed) for seed in (1, 2)]
    for c in archs(space):
        net.train()
        model = net.extract(c)
        assert isinstance(model, Network) and model.arch_string == space.decode(c)
        assert torch.allclose(net(c, x), model(x), atol=1e-5), space.decode(c)
        stats = net.calibrate(c, calib)
        model = net.extract(c, stats=stats).eval()
        net.eval()
        assert torch.allclose(net(c, x, stats=stats), model(x), atol=1e-5), space.decode(c)
    net.train()


def test_extracted_models_hold_copies():
    net = net_for("digits")
    c = net.space.sample(3)
    model = net.extract(c)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    x = batch(net.space)
    assert not torch.allclose(net(c, x), model(x))
    assert all(p.grad is None for p in net.parameters())
    assert model.arch_string == net.space.decode(c)


@pytest.mark.parametrize("name", SHIPPED)
def test_gradients_reach_only_the_paths_slices(name):
    net = net_for(name)
    space = net.space
    for c in (space.sample(4), archs(space)[-2]):
        net.zero_grad(set_to_none=True)
        net(c, batch(space)).square().mean().backward()
        views = {v.master: v for v in net._path(c).views}
        for master, p in net.masters.items():
            if master not in views:
                assert p.grad is None, master
                continue
            v = views[master]
            mask = torch.zeros(p.shape, dtype=torch.bool)
            if v.gather is None:
                mask[v.slices] = True
            else:
                mask[(v.slices[0], list(v.gather), *v.slices[2:])] = True
            assert p.grad[~mask].abs().sum() == 0, master
            assert p.grad[mask].abs().sum() > 0, master
    net.zero_grad(set_to_none=True)


# ---------------------------------------------------------------------------------------
# Weight sharing
# ---------------------------------------------------------------------------------------


def outputs(net, archs_, x):
    with torch.no_grad():
        return [net(net.space.encode(a), x) for a in archs_]


def changed(net, archs_, master, where, x):
    """Which of ``archs_`` change their output when ``master[where]`` is changed."""
    before = outputs(net, archs_, x)
    p = net.masters[master]
    with torch.no_grad():
        saved = p.clone()
        p[where] += 0.5
    after = outputs(net, archs_, x)
    with torch.no_grad():
        p.copy_(saved)
    return [not torch.allclose(a, b) for a, b in zip(before, after)]


def test_widths_share_the_leading_slice():
    net = net_for("digits")
    x = batch(net.space)
    pair = ["conv(16,3) conv(16,3) conv(32,3) gap", "conv(16,3) conv(48,3) conv(32,3) gap"]
    name = net.plan.name(("stage1", "conv", 0, "conv.weight"))
    assert changed(net, pair, name, (slice(0, 16), slice(0, 16)), x) == [True, True]
    assert changed(net, pair, name, slice(16, 48), x) == [False, True]


def test_depths_share_the_first_blocks():
    net = net_for("digits")
    x = batch(net.space)
    pair = ["conv(16,3) conv(48,3) conv(32,3) gap", "conv(16,3) conv(48,3)*2 conv(32,3) gap"]
    assert changed(net, pair, net.plan.name(("stage1", "conv", 0, "conv.weight")), ..., x) == [True, True]
    assert changed(net, pair, net.plan.name(("stage1", "conv", 1, "conv.weight")), ..., x) == [False, True]


def test_block_types_share_nothing():
    net = net_for("digits")
    x = batch(net.space)
    pair = ["conv(16,3) conv(16,3) conv(32,3) gap", "conv(16,3) basic(16) conv(32,3) gap"]
    for master in [m for m in net.masters if m.startswith("stage1/basic/")]:
        assert changed(net, pair, master, ..., x)[0] is False
    assert changed(net, pair, net.plan.name(("stage1", "basic", 0, "conv1.conv.weight")), ..., x) == [False, True]


def test_norms_share_convs_but_not_their_own_weights():
    net = net_for("digits")
    x = batch(net.space)
    pair = ["conv(16,3) conv(16,3) conv(32,3) gap", "conv(16,3) conv(16,3,norm=ln) conv(32,3) gap"]
    plan = net.plan
    assert changed(net, pair, plan.name(("stage1", "conv", 0, "conv.weight")), ..., x) == [True, True]
    assert changed(net, pair, plan.name(("stage1", "conv", 0, "norm.bias", "bn")), ..., x) == [True, False]
    assert changed(net, pair, plan.name(("stage1", "conv", 0, "norm.bias", "ln")), ..., x) == [False, True]


def test_kernels_share_their_centres():
    net = net_for("zoph2017")
    space = net.space
    base = choose(space, space.sample(0), layer1__filter_height=7, layer1__filter_width=7)
    three = choose(space, base, layer1__filter_height=3, layer1__filter_width=3)
    wide = choose(space, base, layer1__filter_height=3, layer1__filter_width=5)  # rows 2:5, columns 1:6
    trio = [space.decode(c) for c in (base, three, wide)]
    name = net.plan.name(("layer1", "", 0, "conv.weight"))
    x = batch(space)
    assert changed(net, trio, name, (..., 3, 3), x) == [True, True, True]
    assert changed(net, trio, name, (..., 0, 0), x) == [True, False, False]
    assert changed(net, trio, name, (..., 2, 1), x) == [True, False, True]
    assert changed(net, trio, name, (..., 1, 3), x) == [True, False, False]


def test_anchors_gather_their_segments():
    net = net_for("zoph2017")
    space, plan = net.space, net.plan
    base = choose(space, space.sample(5), layer3__filters=8, layer4__filters=6, layer4__anchor1=False,
                  layer4__anchor2=False)
    skip1 = choose(space, base, layer4__anchor1=True)
    skip2 = choose(space, base, layer4__anchor2=True)
    trio = [space.decode(c) for c in (base, skip1, skip2)]
    assert "skip=1" in trio[1] and "skip=2" in trio[2]
    seg = plan.anchors["layer4"]
    (_, off1, _), (_, off2, w2) = seg.sources
    name = plan.name(("layer4", "", 0, "conv.weight"))
    x = batch(space)
    assert changed(net, trio, name, (slice(None), slice(0, 8)), x) == [True, True, True]
    assert changed(net, trio, name, (slice(None), slice(off1, off1 + 1)), x) == [False, True, False]
    assert changed(net, trio, name, (slice(None), slice(off2, off2 + w2)), x) == [False, False, True]
    every = tuple(1 if d.kind == "anchor" else c for d, c in zip(space.decisions, base))
    assert torch.allclose(net(every, x), net.extract(every)(x), atol=1e-5)


def test_one_architecture_spelt_by_two_choice_vectors_runs_two_paths():
    net = net_for("digits")
    space = net.space
    a = choose(space, space.sample(0), stage1__block="conv", stage1__width=32, stage1__repeat=2,
               stage1__downsample=False, stage1__norm="bn", stage2__block="conv", stage2__width=32,
               stage2__repeat=1, stage2__downsample=False, stage2__norm="bn")
    b = choose(space, a, stage1__repeat=1, stage2__repeat=2)
    assert a != b and space.decode(a) == space.decode(b)
    x = batch(space)
    assert not torch.allclose(net(a, x), net(b, x))
    assert torch.allclose(net(b, x), net.extract(b)(x), atol=1e-5)


# ---------------------------------------------------------------------------------------
# Batch-norm statistics
# ---------------------------------------------------------------------------------------


def test_calibrate_averages_over_batches_and_leaves_the_masters():
    net = net_for("digits")
    space = net.space
    c = space.encode("conv(16,3) conv(16,3) conv(32,3) gap")
    before = {k: p.detach().clone() for k, p in net.masters.items()}
    x = batch(space, 16, 7)
    once = net.calibrate(c, [x])
    twice = net.calibrate(c, [(x, torch.zeros(16)), (x, torch.zeros(16))])  # (x, y) batches too
    assert once.keys() == twice.keys() and "layers.0.norm.running_mean" in once
    for k in once:
        if k.endswith("num_batches_tracked"):
            assert (once[k].item(), twice[k].item()) == (1, 2)
        else:  # a cumulative average, not momentum 0.1
            assert torch.allclose(once[k], twice[k], atol=1e-6)
    mean = net.extract(c).layers[0].conv(x).mean((0, 2, 3))
    assert torch.allclose(once["layers.0.norm.running_mean"], mean, atol=1e-5)
    assert all(torch.equal(before[k], p) for k, p in net.masters.items())
    with pytest.raises(ValueError, match="at least one batch"):
        net.calibrate(c, [])


def test_eval_mode_needs_the_paths_own_stats():
    net = net_for("digits")
    space = net.space
    c = space.encode("conv(16,3) conv(16,3) conv(32,3) gap")
    other = space.encode("conv(16,3) conv(48,3) conv(32,3) gap")
    x = batch(space)
    stats = net.calibrate(other, [x])
    net.eval()
    try:
        with pytest.raises(SpaceError, match="needs stats="):
            net(c, x)
        with pytest.raises(SpaceError, match="not its own: layers.1.norm"):
            net(c, x, stats=stats)
        net(other, x, stats=stats)
    finally:
        net.train()


# ---------------------------------------------------------------------------------------
# Size checks, initialization, state_dict
# ---------------------------------------------------------------------------------------

HUGE = """
name: huge
input: [1, 8, 8]
classes: 10
stem: conv(16,3)
stages:
  - {block: [conv, basic], width: [2048], repeat: [1, 2]}
"""


def test_an_oversized_supernet_is_refused_before_allocation(monkeypatch):
    def no_allocation(*args):
        raise AssertionError("allocated")

    monkeypatch.setattr(sn, "_init_masters", no_allocation)
    space = SearchSpace.loads(HUGE)
    plan = plan_supernet(space)
    assert plan.params > 150_000_000  # 1.7 GiB with gradients and momentum
    monkeypatch.setattr(sn, "device_memory", lambda device: 1 << 30)
    with pytest.raises(SpaceError) as e:
        Supernet(space)
    msg = str(e.value)
    assert "\n" not in msg and "'huge'" in msg and f"{plan.params:,} parameters" in msg and "GiB" in msg
    monkeypatch.setattr(sn, "device_memory", lambda device: None)
    monkeypatch.setattr(sn, "LIMITS", dataclasses.replace(sn.LIMITS, max_supernet_params=1000))
    with pytest.raises(SpaceError, match=r"730,454 parameters.*above the limit of 1,000 parameters") as e:
        Supernet(SearchSpace.load("digits"))
    assert "\n" not in str(e.value)


def test_memory_of_the_device():
    assert sn.device_memory("cpu") > 1 << 28
    assert sn.device_memory("meta") is None


def test_masters_follow_the_init_scheme():
    net = net_for("digits")
    plan = net.plan
    for key, shape in plan.shapes.items():
        p = net.masters[plan.name(key)]
        if plan.kinds[key] in ("BatchNorm2d", "GroupNorm"):
            scale = any(str(part).endswith("weight") for part in key)
            assert torch.equal(p, torch.ones(shape) if scale else torch.zeros(shape))
    w = net.masters[plan.name(("stage2", "basic", 0, "conv1.conv.weight"))]
    fan_out = w.shape[0] * w.shape[2] * w.shape[3]  # Kaiming normal, fan-out (init "resnet")
    assert abs(w.std().item() / (2 / fan_out) ** 0.5 - 1) < 0.05


def test_state_dict_round_trips_and_seeds_decide():
    space = SearchSpace.load("digits")
    net = Supernet(space, seed=0)
    c = space.sample(6)
    x = batch(space)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(c, x).logsumexp(1).mean().backward()
    opt.step()
    state = net.state_dict()
    assert set(state) == {f"masters.{plan_supernet(space).name(k)}" for k in plan_supernet(space).shapes}
    fresh = Supernet(space, seed=1)
    assert not torch.allclose(fresh(c, x), net(c, x))
    fresh.load_state_dict(state)
    assert torch.equal(fresh(c, x), net(c, x))
    a, b = Supernet(space, seed=1).state_dict(), Supernet(space, seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_layout_places_every_unit():
    space = SearchSpace.load("zoph2017")
    for seed in range(3):
        c = space.sample(seed)
        arch = parse(space.decode(c))
        units = space.layout(c)
        assert [u.label for u in units] == [f"layer{j}" for j in range(1, 16)]
        assert [(u.start, u.end) for u in units] == [(j, j + 1) for j in range(15)]
        for u in units:
            assert arch.layers[u.start].skip == tuple(units[s - 1].end for s in u.sources)
            assert arch.layers[u.start]["out"] == u.values["filters"]
    digits = SearchSpace.load("digits")
    units = digits.layout(digits.encode("conv(16,3) maxpool(3,stride=2,pad=1) inception(8,12,16,2,4,4)*2 basic(64) gap"))
    assert [(u.label, u.values["block"], u.values["repeat"], u.start, u.end) for u in units] == [
        ("stage1", "inception", 2, 1, 4), ("stage2", "basic", 1, 4, 5)]
