"""Every shipped space file (``search_spaces/*.yaml``) loads, samples valid architectures,
decodes, encodes back and builds. Adding a file adds its tests."""
from __future__ import annotations

import hashlib
import math
import random
from glob import glob
from pathlib import Path

import pytest
import torch

import nas
from nas.space import SearchSpace, shipped

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(glob(str(ROOT / "search_spaces" / "*.yaml")))


def test_the_required_spaces_are_shipped():
    assert {"digits", "cifar10", "zoph2017"} <= {Path(f).stem for f in FILES}
    assert sorted(shipped()) == sorted(Path(f).stem for f in FILES)


@pytest.fixture(scope="module", params=FILES, ids=lambda f: Path(f).stem)
def space(request) -> SearchSpace:
    return SearchSpace.load(request.param)


def test_loads_with_its_metadata(space):
    assert space.name == space.path.stem
    assert space.hash == hashlib.sha256(space.path.read_bytes()).hexdigest()
    assert len(space.input_shape) == 3 and space.num_classes >= 2
    assert space.decisions
    assert space.size == math.prod(len(d.options) for d in space.decisions)
    names = [d.name for d in space.decisions]
    assert len(set(names)) == len(names)


def test_decisions_of_one_kind_have_the_same_number_of_options(space):
    # The LSTM controller shares one softmax head per kind (Zoph & Le 2017, Sec. 3.1).
    counts: dict[str, set[int]] = {}
    for d in space.decisions:
        assert len(d.options) >= 2
        counts.setdefault(d.kind, set()).add(len(d.options))
    assert all(len(c) == 1 for c in counts.values()), counts


def test_samples_decode_encode_and_respect_the_constraints(space):
    rng = random.Random(0)
    limits = space.constraints
    for _ in range(4):
        choices = space.sample(rng)
        assert space.is_valid(choices)
        arch = space.decode(choices)
        assert str(nas.parse(arch)) == arch  # canonical
        assert space.decode(space.encode(arch)) == arch
        s = nas.summarize(arch, space.input_shape, space.num_classes)
        assert space.cost(choices) == (s.params, s.macs)
        assert limits.max_params is None or s.params <= limits.max_params
        assert limits.max_macs is None or s.macs <= limits.max_macs


def test_a_sample_builds_and_runs(space):
    arch = space.decode(space.sample(random.Random(1)))
    model = nas.build(arch, space.input_shape, space.num_classes).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, *space.input_shape))
    assert out.shape == (2, space.num_classes)


def test_digits_is_small_enough_for_a_cpu():
    space = SearchSpace.load("digits")
    assert space.input_shape == (1, 8, 8) and space.num_classes == 10 and space.dataset == "digits"
    assert space.size >= 2000
    assert space.constraints.max_params <= 200_000 and space.constraints.max_macs <= 10_000_000


def test_cifar10_contains_resnet18():
    space = SearchSpace.load("cifar10")
    resnet18 = ("conv(64,3) basic(64)*2 basic(128,stride=2) basic(128) basic(256,stride=2) basic(256) "
                "basic(512,stride=2) basic(512) gap")
    choices = space.encode(resnet18)
    assert space.decode(choices) == resnet18
    assert space.is_valid(choices)
    # spelt out without repeats it is the same architecture
    assert space.encode(resnet18.replace("basic(64)*2", "basic(64) basic(64)")) == choices


def test_zoph2017_is_the_papers_space():
    # Zoph & Le 2017, Sec. 4.1: 15 layers, filter height/width in [1,3,5,7], filters in
    # [24,36,48,64], stride 1; anchors: layer j may take layers 1 .. j-2 (see docs/search-spaces.md).
    space = SearchSpace.load("zoph2017")
    assert space.input_shape == (3, 32, 32) and space.num_classes == 10
    by_kind: dict[str, list] = {}
    for d in space.decisions:
        by_kind.setdefault(d.kind, []).append(d)
    assert {k: len(v) for k, v in by_kind.items()} == {
        "filter_height": 15, "filter_width": 15, "filters": 15, "anchor": sum(j - 2 for j in range(3, 16))}
    assert by_kind["filter_height"][0].options == (1, 3, 5, 7)
    assert by_kind["filters"][0].options == (24, 36, 48, 64)
    assert space.size == 64**15 * 2**91
    everything = tuple(len(d.options) - 1 for d in space.decisions)  # 7x7x64, every anchor on
    arch = nas.parse(space.decode(everything))
    assert len(arch.layers) == 16  # 15 convs + gap
    assert arch.layers[14].skip == tuple(range(1, 14))
    assert space.is_valid(everything)
