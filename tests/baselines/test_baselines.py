"""Baselines: faithful to torchvision (modules, parameters, MACs, outputs with copied
weights), and adapted to small inputs by the documented convention. Driven by the
registry, so a new baseline is picked up by every test."""
import doctest
import json

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.models import DenseNet, ResNet
from torchvision.models.resnet import Bottleneck

import nas
import nas.baselines as B
import nas.baselines.torchvision as BT
from nas.train import PRESETS

TWINS = [n for n in B.names() if B.BASELINES.get(n).torchvision]
# Constructor arguments for the twins: torchvision's GoogLeNet without its auxiliary
# classifiers (we have none) and without its slow truncated-normal init.
TV_KWARGS = {"googlenet": dict(aux_logits=False, init_weights=False)}


def _twin(name, device="cpu", **kwargs):
    tv = B.BASELINES.get(name).torchvision
    with torch.device(device):
        return getattr(torchvision.models, tv)(**{**TV_KWARGS.get(tv, {}), **kwargs})


def test_registry_has_the_spec_baselines():
    expected = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
                "googlenet", "googlenet_torchvision", "densenet121"}
    expected |= {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    assert set(B.names()) == expected
    assert B.BASELINES.get("googlenet").torchvision is None  # the paper's network has no twin
    with pytest.raises(KeyError):
        B.BASELINES.register("resnet18", B.BASELINES.get("resnet18"))
    with pytest.raises(nas.ArchError, match="did you mean 'resnet50'"):
        B.get("resnet5")


@pytest.mark.parametrize("module", [B, B.families, BT], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


# --- faithful to torchvision ----------------------------------------------------------

@pytest.mark.parametrize("name", TWINS)
def test_same_modules_and_parameter_count_as_torchvision(name):
    tv = _twin(name, "meta")  # the meta device: shapes only, nothing allocated
    tv_params = sum(p.numel() for p in tv.parameters())
    if name.startswith("googlenet"):
        assert not any(n.startswith("aux") for n, _ in tv.named_parameters())
    assert B.describe(name)["params"] == tv_params
    assert nas.summarize(B.get(name), (3, 224, 224), 1000).params == tv_params
    # from_torchvision checks module by module (type, sizes, kernel, stride, padding,
    # groups, bias, eps, ceil mode) and weight by weight; it must land on our string.
    assert B.from_torchvision(tv).arch_string == B.get(name)


@pytest.mark.parametrize("name", TWINS)
def test_macs_match_torchvision_published_gflops(name):
    # torchvision's "_ops" (its "GFLOPS") are MACs of convs and linears at 224x224.
    tv = B.BASELINES.get(name).torchvision
    published = torchvision.models.get_model_weights(tv).DEFAULT.meta["_ops"]
    assert round(B.describe(name)["macs"] / 1e9, 3) == pytest.approx(published, abs=1e-9)


@pytest.mark.parametrize("name, gflops", [("resnet18", 1.81), ("resnet50", 4.09), ("vgg16", 15.47)])
def test_macs_match_the_figures_quoted_in_the_issue(name, gflops):
    assert round(nas.summarize(B.get(name)).macs / 1e9, 2) == gflops


def _randomize_norms(model, g):
    # Random BN statistics and affine parameters, so that copying them is tested.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)


def _assert_same_outputs(tv, size):
    g = torch.Generator().manual_seed(0)
    tv.eval()
    _randomize_norms(tv, g)
    net = B.from_torchvision(tv)
    assert not net.training
    x = torch.randn(2, _in_channels(tv), size, size, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(net(x), tv(x))
    return net


def _in_channels(model):
    return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).in_channels


# One per block structure; deeper variants only repeat blocks, and the meta-device test
# above already checks every twin module by module and weight by weight.
EQUIVALENCE = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "vgg11", "vgg11_bn",
               "googlenet_torchvision", "densenet121"]


@pytest.mark.parametrize("name", EQUIVALENCE)
def test_from_torchvision_gives_identical_outputs(name):
    torch.manual_seed(0)
    tv = _twin(name, num_classes=7)
    # 32x32 inputs (torchvision's smallest for VGG) keep the test fast; the modules are
    # those of the 224 network.
    net = _assert_same_outputs(tv, 32)
    assert net.arch_string == B.get(name) and net.head.out_features == 7


def test_from_torchvision_googlenet_with_aux_and_transform_input():
    # torchvision's pretrained GoogLeNet has transform_input=True and aux classifiers.
    tv = torchvision.models.googlenet(init_weights=False, transform_input=True)
    net = _assert_same_outputs(tv, 32)
    assert net.arch_string.startswith("eps=0.001 init=googlenet conv(3,1,groups=3,norm=none,act=none) "
                                      "conv(64,7,stride=2)")
    assert sum(p.numel() for p in net.parameters()) == B.describe("googlenet_torchvision")["params"] + 6


@pytest.mark.parametrize("make, arch", [
    (lambda: ResNet(Bottleneck, [1, 2, 1, 1], num_classes=5, groups=2, width_per_group=32),
     "conv(64,7,stride=2) maxpool(3,stride=2,pad=1) bottleneck(256,groups=2,width=32) "
     "bottleneck(512,stride=2,groups=2,width=32) bottleneck(512,groups=2,width=32) "
     "bottleneck(1024,stride=2,groups=2,width=32) bottleneck(2048,stride=2,groups=2,width=32) gap"),
    (lambda: DenseNet(growth_rate=8, block_config=(2, 3), num_init_features=16, bn_size=2, num_classes=5),
     "init=densenet conv(16,7,stride=2) maxpool(3,stride=2,pad=1) dense(2,8,bottleneck=2) transition(16) "
     "dense(3,8,bottleneck=2) normact gap"),
], ids=["resnet-groups-width", "densenet-small"])
def test_from_torchvision_reads_the_configuration(make, arch):
    torch.manual_seed(0)
    assert _assert_same_outputs(make(), 32).arch_string == arch


def test_from_torchvision_takes_a_one_channel_input_and_other_classes():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18()
    tv.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    tv.fc = torch.nn.Linear(512, 10)
    net = _assert_same_outputs(tv, 32)
    assert net.head.out_features == 10 and net.layers[0].conv.in_channels == 1


def _meta(make):
    with torch.device("meta"):
        return make()


def _stride1_conv1():
    m = torchvision.models.resnet18()
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    return m


def _no_maxpool():
    m = torchvision.models.resnet18()
    m.maxpool = torch.nn.Identity()
    return m


@pytest.mark.parametrize("make, message", [
    (torchvision.models.mobilenet_v2, "cannot import torchvision's MobileNetV2"),
    (lambda: torchvision.models.resnet50(replace_stride_with_dilation=[False, True, True]), "dilated"),
    (lambda: torchvision.models.densenet121(drop_rate=0.1), "drop_rate"),
    (lambda: torchvision.models.resnet18(norm_layer=lambda c: torch.nn.GroupNorm(1, c)), "bn1 is GroupNorm"),
    (_stride1_conv1, r"torchvision's conv1 is Conv2d\(3, 64, k=3x3, stride=1x1"),
    (_no_maxpool, "torchvision's layer1.0.conv1 is Conv2d.* but ours .* is MaxPool2d"),
])
def test_from_torchvision_refuses_what_it_cannot_copy_exactly(make, message):
    with pytest.raises(nas.ArchError, match=message):
        B.from_torchvision(_meta(make))


def test_state_copy_names_the_mismatching_weight():
    tv = torchvision.models.resnet18()
    net = nas.build(B.get("resnet34"))
    with pytest.raises(nas.ArchError, match=r"layer2.0.conv1.weight has shape \(128, 64, 3, 3\) but ours "
                                            r"\(layers.4.conv1.conv.weight\) has \(64, 64, 3, 3\)"):
        BT._copy_state(tv, net, (), ())
    with pytest.raises(nas.ArchError, match="torchvision's state has 120 entries, ours 122; the first unmatched "
                                            "is ours head.weight"):
        BT._copy_state(tv, nas.build(B.get("resnet18")), ("fc.",), ())


# --- GoogLeNet: the paper and torchvision's variant -----------------------------------

def test_googlenet_follows_the_paper_and_the_torchvision_variant_is_explicit():
    paper, tv = B.get("googlenet"), B.get("googlenet_torchvision")
    assert "k5=" not in paper and paper.count("inception(") == 9  # 5x5 convs (the default)
    assert tv.count(",k5=3)") == 9  # pytorch/vision#906
    assert paper.count("maxpool(3,stride=2,ceil=true)") == 4 and paper.endswith("gap dropout(0.4)")
    assert "maxpool(2,ceil=true) inception(256" in tv and tv.endswith("gap dropout(0.2)")
    assert paper.startswith("eps=0.001 init=googlenet conv(64,7,stride=2) maxpool(3,stride=2,ceil=true) conv(64,1) "
                            "conv(192,3)")
    # Table 1 lists "#5x5" of each module; 5x5 instead of 3x3 adds 16 * sum(c5 * r5) weights.
    extra = 16 * sum(r5 * c5 for r5, c5 in [(16, 32), (32, 96), (16, 48), (24, 64), (24, 64), (32, 64),
                                            (32, 128), (32, 128), (48, 128)])
    assert B.describe("googlenet")["params"] == B.describe("googlenet_torchvision")["params"] + extra


# --- other inputs ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)], ids=["digits", "cifar"])
@pytest.mark.parametrize("name", B.names())
def test_every_baseline_builds_and_runs_on_small_inputs(name, shape):
    torch.manual_seed(0)
    arch = B.get(name, shape)
    model = nas.build(arch, shape, num_classes=10).eval()
    batch = 2 if shape[1] < 32 else 1  # CIFAR-sized ResNet-152 is a few GMACs an image
    with torch.no_grad():
        y = model(torch.randn(batch, *shape))
    assert y.shape == (batch, 10) and torch.isfinite(y).all()
    assert ",7,stride=2)" not in arch and "apool" not in arch  # small-input stem, no 7x7 pooling


def test_small_input_stems():
    assert B.get("resnet18", (3, 32, 32)).startswith("conv(64,3) basic(64)*2 basic(128,stride=2)")
    assert B.get("resnext50_32x4d", (3, 32, 32)).startswith("conv(64,3) bottleneck(256,groups=32,width=4)*3")
    assert B.get("densenet121", (3, 32, 32)).startswith("init=densenet conv(64,3) dense(6,32) transition(128)")
    assert B.get("googlenet", (3, 32, 32)).startswith(
        "eps=0.001 init=googlenet conv(192,3) inception(64,96,128,16,32,32)")
    assert "maxpool" not in B.get("resnet50", (3, 63, 500)) and "maxpool" in B.get("resnet50", (3, 64, 500))
    vgg = B.get("vgg16_bn", (3, 32, 32))
    assert vgg.count("maxpool(2)") == 5 and "gap fc(4096)" in vgg  # 32 -> 1 after five pools
    assert nas.infer_shapes(vgg, (3, 32, 32))[-5].out_shape == (512,)  # the classifier starts from 512


def test_downsampling_stops_at_one_pixel():
    assert B.get("vgg11", (1, 8, 8)).count("maxpool") == 3  # 8 -> 4 -> 2 -> 1, then none
    assert B.get("resnet18", (1, 2, 2)) == ("conv(64,3) basic(64)*2 basic(128,stride=2) basic(128) basic(256)*2 "
                                            "basic(512)*2 gap")
    assert B.get("densenet121", (1, 1, 1)).count("transition(") == B.get("densenet121", (1, 1, 1)).count(",stride=1)")
    assert "maxpool" not in B.get("googlenet", (3, 1, 1))


def _downsamplings(arch, shape):
    return [(i.in_shape, i.out_shape) for i in nas.infer_shapes(arch, shape)
            if len(i.out_shape) == 3 and i.out_shape[1:] != i.in_shape[1:]]


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 4), h=st.integers(1, 300), w=st.integers(1, 300))
def test_convention_holds_for_any_input_shape(c, h, w):
    for name in B.names():
        arch = B.get(name, (c, h, w))
        steps = _downsamplings(arch, (c, h, w))  # also checks that every layer fits
        assert all(min(a[1:]) > 1 for a, _ in steps), f"{name} downsamples a 1-pixel map"
        if min(h, w) >= B.SMALL_INPUT:
            assert arch == B.get(name)  # the ImageNet network, unchanged
        else:
            assert ",7,stride=2)" not in arch and "apool" not in arch


def test_bad_input_shape():
    with pytest.raises(nas.ArchError, match="input shape"):
        B.get("resnet18", (3, 0, 32))
    with pytest.raises(nas.ArchError, match="input shape"):
        B.get("resnet18", (32, 32))


# --- metadata ------------------------------------------------------------------------

@pytest.mark.parametrize("name", B.names())
def test_describe(name):
    d = B.describe(name)
    assert {"name", "family", "paper", "torchvision", "arch", "params", "macs"} <= set(d)
    assert d["name"] == name and d["arch"] == B.get(name) and d["family"] in {"resnet", "vgg", "googlenet", "densenet"}
    s = nas.summarize(d["arch"], (3, 224, 224), 1000)
    assert (d["params"], d["macs"]) == (s.params, s.macs)
    assert json.loads(json.dumps(d)) == d
    d["params"] = -1  # a copy: the cache is not touched
    assert B.describe(name)["params"] == s.params


# --- initialization and training presets -----------------------------------------------

# One torchvision twin per scheme, cheap to build at 224: same seed and same modules in the
# same order, so the same random draws -- every weight and buffer must come out identical.
# (VGG's 25088x4096 Linear makes its twin slow; tests/test_blocks.py checks init=vgg's statistics.)
INIT_TWINS = {"resnet": "resnet18", "googlenet": "googlenet_torchvision", "densenet": "densenet121"}


@pytest.mark.parametrize("scheme, name", INIT_TWINS.items())
def test_same_seed_same_weights_as_torchvision(scheme, name):
    assert nas.parse(B.get(name)).settings.init == scheme
    torch.manual_seed(0)
    tv = _twin(name, num_classes=10, **({"init_weights": True} if scheme == "googlenet" else {}))
    torch.manual_seed(0)
    ours = nas.build(B.get(name), (3, 224, 224), 10)
    theirs = [(k, v) for k, v in tv.state_dict().items() if not k.startswith(("aux1.", "aux2."))]
    assert len(theirs) == len(ours.state_dict())
    for (k, a), b in zip(theirs, ours.state_dict().values()):
        assert torch.equal(a, b), k


def test_each_family_names_its_init():
    settings = {name: nas.parse(B.get(name)).settings.init for name in B.names()}
    assert {settings[n] for n in ("resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2")} == {"resnet"}
    assert {settings[n] for n in ("vgg11", "vgg16_bn")} == {"vgg"}
    assert (settings["googlenet"], settings["densenet121"]) == ("googlenet", "densenet")
    # On small inputs VGG's classifier sees 512 features instead of 25088: He's init (_vgg_init).
    assert {nas.parse(B.get(n, (1, 8, 8))).settings.init for n in ("vgg11", "vgg16_bn")} == {"he_fan_in"}
    assert "init=" not in B.get("resnet18", (1, 8, 8))


def test_a_conv_on_a_one_pixel_map_is_written_with_a_one_pixel_kernel():
    vgg = nas.parse(B.get("vgg16", (1, 8, 8)))
    infos = nas.infer_shapes(vgg, (1, 8, 8))
    convs = [(i.in_shape[1:], i.layer["k"]) for i in infos if i.layer.op == "conv"]
    assert convs == [((8, 8), 3)] * 2 + [((4, 4), 3)] * 2 + [((2, 2), 3)] * 3 + [((1, 1), 1)] * 6
    assert B.get("resnet18", (1, 1, 1)).startswith("conv(64,1) ")
    # ... which is the same function: a 3x3 "same" conv on a 1x1 map only uses its centre tap.
    torch.manual_seed(0)
    k3, k1 = nas.build("norm=none conv(8,3)", (5, 1, 1), 4), nas.build("norm=none conv(8,1)", (5, 1, 1), 4)
    with torch.no_grad():
        k1.layers[0].conv.weight.copy_(k3.layers[0].conv.weight[:, :, 1:2, 1:2])
        k1.layers[0].conv.bias.copy_(k3.layers[0].conv.bias)
        k1.head.load_state_dict(k3.head.state_dict())
    x = torch.randn(3, 5, 1, 1)
    torch.testing.assert_close(k1(x), k3(x))


@pytest.mark.parametrize("name", B.names())
def test_every_baseline_has_a_registered_preset(name):
    assert B.preset_for(name) in PRESETS
    assert B.preset_for(name) == B.BASELINES.get(name).preset


def test_preset_for_follows_the_family():
    assert [B.preset_for(n) for n in ("resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2")] == [
        "resnet", "resnet-deep", "resnet-deep", "wide-resnet"]
    assert {B.preset_for(n) for n in B.names() if n.startswith("vgg")} == {"vgg"}
    assert (B.preset_for("googlenet"), B.preset_for("densenet121")) == ("default", "densenet")
    with pytest.raises(nas.ArchError, match="unknown baseline"):
        B.preset_for("resnet5")
