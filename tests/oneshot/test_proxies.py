"""Zero-cost proxies: every registered proxy leaves the model as found, is deterministic and
finite on every block type; the math of each is checked by hand on tiny networks."""
import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nas
from nas.errors import ConfigError
from nas.oneshot import proxies as P
from nas.oneshot.proxies import PROXIES, code_kernel, log_abs_det, parse_proxy_spec

SHAPE = (1, 8, 8)
ARCH = "conv(8,3) basic(8,stride=2) gap fc(16) dropout(0.5)"  # BN running stats and dropout's RNG


def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=g), torch.randint(0, 10, (n,), generator=g)


def _model(arch=ARCH):
    torch.manual_seed(0)
    return nas.build(arch, SHAPE, 10)


def _state(model):
    """Everything a proxy must leave alone, cloned."""
    return {
        "tensors": {k: v.clone() for k, v in model.state_dict(keep_vars=True).items()},
        "grads": {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "modes": [m.training for m in model.modules()],
        "hooks": [len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules()],
    }


def _same(a, b):
    assert a["tensors"].keys() == b["tensors"].keys()
    for k in a["tensors"]:
        x, y = a["tensors"][k], b["tensors"][k]
        assert x.dtype == y.dtype and torch.equal(x, y), k
    for k in a["grads"]:
        x, y = a["grads"][k], b["grads"][k]
        assert (x is None) == (y is None) and (x is None or torch.equal(x, y)), k
    assert a["requires_grad"] == b["requires_grad"] and a["modes"] == b["modes"] and a["hooks"] == b["hooks"]


def test_the_four_proxies_are_registered():
    assert {"naswot", "synflow", "grad_norm", "snip"} <= set(PROXIES.names())


# ------------------------------------------------------------------ every registered proxy

@pytest.mark.parametrize("training", [True, False], ids=["train-mode", "eval-mode"])
@pytest.mark.parametrize("name", PROXIES.names())
def test_the_model_is_left_exactly_as_found(name, training):
    model = _model()
    model.train(training)
    x, y = _batch()
    model.layers[0].conv.weight.grad = torch.full_like(model.layers[0].conv.weight, 0.25)  # some grads set, some None
    model.head.bias.requires_grad_(False)  # a frozen parameter stays frozen
    with torch.no_grad():
        model.layers[1].conv1.norm.running_mean.fill_(0.5)  # BN statistics that a forward in train mode would move
    before, rng = _state(model), torch.get_rng_state()
    score = PROXIES.get(name)(model, x, y)
    assert isinstance(score, float)
    _same(before, _state(model))
    assert torch.equal(rng, torch.get_rng_state())  # the caller's random stream goes on as if nothing ran


@pytest.mark.parametrize("name", PROXIES.names())
def test_deterministic_for_a_model_and_a_batch(name):
    model, (x, y) = _model(), _batch()
    first = PROXIES.get(name)(model, x, y)
    torch.rand(3)  # another global RNG state: dropout must not see it
    assert PROXIES.get(name)(model, x, y) == first
    assert PROXIES.get(name)(_model(), x.clone(), y.clone()) == first  # the same weights and batch rebuilt


@pytest.mark.parametrize("name", PROXIES.names())
def test_runs_inside_a_callers_no_grad(name):
    model, (x, y) = _model(), _batch()
    with torch.no_grad():
        assert PROXIES.get(name)(model, x, y) == PROXIES.get(name)(model, x, y)


BLOCK_ARCHS = [
    "conv(8,3) basic(8) gap",
    "conv(8,3) bottleneck(16,stride=2) gap",
    "conv(8,3) inception(4,4,8,2,4,4) maxpool(2) gap",
    "conv(8,3) dense(2,4) transition(8) normact gap",
    "sepconv(8,3) avgpool(2) gap",
    "conv(8,3) conv(8,3,skip=1) apool(2) fc(16) dropout(0.2)",
    "act=relu6 conv(8,3) basic(8) gap",
    "act=gelu conv(8,3) sepconv(8,3) gap",
    "act=silu conv(8,3) dense(2,4) gap",
]


@pytest.mark.parametrize("norm", ["bn", "ln"])
@pytest.mark.parametrize("arch", BLOCK_ARCHS)
@pytest.mark.parametrize("name", PROXIES.names())
def test_finite_on_every_block_type(name, arch, norm):
    x, y = _batch()
    score = PROXIES.get(name)(_model(f"norm={norm} {arch}"), x, y)
    assert math.isfinite(score), (name, arch, norm, score)


def test_the_block_archs_cover_every_layer_of_the_language():
    from nas.lang import OPS

    assert {layer.op for arch in BLOCK_ARCHS for layer in nas.parse(arch).layers} == set(OPS.names())


@pytest.mark.parametrize("name", PROXIES.names())
def test_a_broken_network_scores_minus_infinity(name):
    model, (x, y) = _model(), _batch()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(math.nan)
    assert PROXIES.get(name)(model, x, y) == -math.inf


def test_a_score_that_is_not_finite_becomes_minus_infinity():
    x, y = torch.ones(2, 3), torch.zeros(2, dtype=torch.long)
    for bad in (math.nan, math.inf, -math.inf):
        assert P.isolated(lambda m, x, y, bad=bad: bad)(nn.Linear(3, 2), x, y) == -math.inf
    assert P.isolated(lambda m, x, y: 2.5)(nn.Linear(3, 2), x, y) == 2.5


# ------------------------------------------------------------------------ the math by hand

def _hand_kernel(codes_per_layer):
    """sum over layers of N_A - hamming(c_i, c_j), with numpy."""
    n = codes_per_layer[0].shape[0]
    k = np.zeros((n, n))
    for c in codes_per_layer:
        for i in range(n):
            for j in range(n):
                k[i, j] += c.shape[1] - np.sum(c[i] != c[j])
    return k


def test_code_kernel_is_units_minus_hamming_distance():
    c = (torch.rand(6, 11, generator=torch.Generator().manual_seed(1)) > 0.5)
    assert np.array_equal(code_kernel(c).numpy(), _hand_kernel([c.numpy()]))
    assert code_kernel(c).dtype == torch.float64


def test_log_abs_det_of_a_singular_kernel_is_minus_infinity():
    assert log_abs_det(torch.ones(3, 3)) == -math.inf
    assert log_abs_det(torch.tensor([[2.0, 1.0], [1.0, 2.0]])) == pytest.approx(math.log(3))


@pytest.mark.parametrize("hidden", [1, 2], ids=["one-relu-layer", "two-relu-layers"])
def test_naswot_equals_the_kernel_by_hand(hidden):
    torch.manual_seed(3)
    layers = [nn.Linear(3, 5), nn.ReLU()] + ([nn.Linear(5, 4), nn.ReLU()] if hidden == 2 else []) + [nn.Linear(5 if hidden == 1 else 4, 2)]
    model = nn.Sequential(*layers)
    x = torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [2.0, 2.0, 2.0], [-1.0, 0.5, 3.0], [0.3, -0.7, 0.1]])
    w = [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy()) for m in layers if isinstance(m, nn.Linear)]
    h, codes = x.double().numpy(), []
    for weight, bias in w[:-1]:
        pre = h @ weight.T + bias
        codes.append(pre > 0)  # the code of a ReLU unit: its pre-activation is positive
        h = np.maximum(pre, 0)
    expected = np.linalg.slogdet(_hand_kernel(codes))[1]
    assert PROXIES.get("naswot")(model, x, torch.zeros(5, dtype=torch.long)) == pytest.approx(expected, rel=1e-12)


def test_naswot_ignores_activations_that_are_not_rectifiers():
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    assert PROXIES.get("naswot")(model, torch.randn(4, 3), torch.zeros(4, dtype=torch.long)) == -math.inf


def test_synflow_on_a_bias_free_chain_is_the_closed_form():
    # With |W| everywhere and ReLUs all open, R = 1^T |W3||W2||W1| 1 and, R being homogeneous
    # of degree 1 in each of the L layers, sum |theta * dR/dtheta| = L * R (Euler).
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU(), nn.Linear(6, 5, bias=False), nn.ReLU(),
                          nn.Linear(5, 3, bias=False))
    ws = [m.weight.detach().double().abs().numpy() for m in model if isinstance(m, nn.Linear)]
    r = np.ones(3) @ ws[2] @ ws[1] @ ws[0] @ np.ones(4)
    x = torch.randn(7, 4)  # only its shape counts
    assert PROXIES.get("synflow")(model, x, torch.zeros(7, dtype=torch.long)) == pytest.approx(math.log(3 * r), rel=1e-12)
    assert PROXIES.get("synflow")(model, -x * 100, torch.ones(7, dtype=torch.long)) == PROXIES.get("synflow")(model, x, x[:, 0].long())


def _tiny():
    torch.manual_seed(5)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))


def _by_hand(x, y):
    """(conv weight, linear weight) and their cross-entropy gradients by plain autograd."""
    model = _tiny()  # the same weights, in train mode
    F.cross_entropy(model(x), y).backward()
    return [(m.weight.detach(), m.weight.grad) for m in (model[0], model[4])]


def test_grad_norm_and_snip_equal_a_hand_computation():
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(6))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    pairs = _by_hand(x, y)
    model = _tiny().eval()  # the proxies use train mode whatever the model's mode
    assert PROXIES.get("grad_norm")(model, x, y) == pytest.approx(sum(float(g.norm()) for _, g in pairs), rel=1e-6)
    assert PROXIES.get("snip")(model, x, y) == pytest.approx(sum(float((w * g).abs().sum()) for w, g in pairs), rel=1e-6)


def test_only_conv_and_linear_weights_are_scored():
    model = _tiny()
    assert [tuple(w.shape) for w in P.prunable_weights(model)] == [(3, 1, 3, 3), (4, 48)]


# -------------------------------------------------------------------- scoring an architecture

def test_score_arch_is_a_function_of_the_canonical_string_and_the_seed(search_digits):
    a = P.score_arch("naswot", "conv(8,3) basic(8) gap", search_digits, batch_size=16)
    assert a == P.score_arch("naswot", "conv(8, 3)   basic(8,stride=1) gap", search_digits, batch_size=16)
    assert a != P.score_arch("naswot", "conv(8,3) basic(8) gap", search_digits, batch_size=16, seed=1)
    assert a != P.score_arch("naswot", "conv(8,3) basic(8) gap", search_digits, batch_size=32)
    assert a == P.score_arch("naswot", "conv(8,3) basic(8) gap", search_digits, batch_size=16, device="cpu")


def test_score_arch_builds_the_weights_of_its_arch_seed(search_digits, monkeypatch):
    seen = []
    monkeypatch.setitem(PROXIES._items, "probe", lambda m, x, y: seen.append((m, x, y)) or 0.0)
    P.score_arch("probe", "conv(8,3) gap", search_digits, batch_size=8, seed=3)
    torch.manual_seed(P.arch_seed("conv(8,3) gap", 3))
    expected = nas.build("conv(8,3) gap", search_digits.input_shape, search_digits.num_classes)
    model, x, y = seen[0]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), expected.state_dict().values()))
    idx = np.random.default_rng(3).permutation(len(search_digits.train_y))[:8]
    assert torch.equal(x, search_digits.train_x[idx]) and torch.equal(y, search_digits.train_y[idx])


def test_arch_seed_is_stable_and_63_bits():
    # sha256("0:conv(8,3) gap"), first 8 bytes, top bit cleared: pinned, so scores stay comparable across versions
    assert P.arch_seed("conv(8,3) gap") == int.from_bytes(
        __import__("hashlib").sha256(b"0:conv(8,3) gap").digest()[:8], "big") & (2**63 - 1)
    assert 0 <= P.arch_seed("x", 12345) < 2**63


@pytest.mark.parametrize("kw, words", [
    ({"batch_size": 1}, "batch_size must be a whole number of at least 2"),
    ({"batch_size": True}, "batch_size must be"),
    ({"seed": -1}, "seed must be a whole number of 0 or more"),
])
def test_score_arch_refuses_bad_settings(search_digits, kw, words):
    with pytest.raises(ConfigError, match=words):
        P.score_arch("naswot", "conv(8,3) gap", search_digits, **kw)


def test_score_arch_names_an_unknown_proxy_with_a_suggestion(search_digits):
    with pytest.raises(ConfigError, match="unknown proxy 'naswto'; did you mean 'naswot'?"):
        P.score_arch("naswto", "conv(8,3) gap", search_digits)


# ------------------------------------------------------------------------------- the spec

@pytest.mark.parametrize("text, expected", [
    ("naswot", ("naswot", P.DEFAULT_CANDIDATES)),
    ("naswot:20", ("naswot", 20)),
    (" synflow : 3 ", ("synflow", 3)),
    ("snip:1", ("snip", 1)),
])
def test_parse_proxy_spec(text, expected):
    assert parse_proxy_spec(text) == expected
    assert parse_proxy_spec("grad_norm", default_k=7) == ("grad_norm", 7)


@pytest.mark.parametrize("text, words", [
    ("naswto:20", "unknown proxy 'naswto'; did you mean 'naswot'?"),
    ("zzz", "unknown proxy 'zzz'; expected one of"),
    ("naswot:0", "K in proxy spec 'naswot:0' must be a whole number of at least 1"),
    ("naswot:-3", "must be a whole number of at least 1"),
    ("naswot:2.5", "must be a whole number of at least 1"),
    ("naswot:", "must be a whole number of at least 1"),
    ("naswot:" + "9" * 5000, "must be a whole number of at least 1"),
    ("", "a proxy spec is NAME or NAME:K"),
    ("nas wot", "a proxy spec is NAME or NAME:K"),
    (":5", "a proxy spec is NAME or NAME:K"),
    (None, "a proxy spec is NAME or NAME:K"),
])
def test_parse_proxy_spec_refuses_with_one_line(text, words):
    with pytest.raises(ConfigError) as e:
        parse_proxy_spec(text)
    assert words in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 200


def test_doctests():
    assert doctest.testmod(P).failed == 0
