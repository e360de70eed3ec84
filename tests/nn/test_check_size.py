"""check_size: a candidate too large to build is refused from its shapes and a meta-device
summary, before build() allocates anything (nas.limits)."""
import contextlib
import io
import resource
import time

import pytest

from nas import baselines
from nas.cli import main
from nas.errors import ArchError
from nas.lang import Layer, make_arch
from nas.limits import LIMITS
from nas.nn import build, check_size, summarize

IMAGENET = (3, 224, 224)


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def refused(fn, *args, words=()) -> str:
    """The one-line ArchError of ``fn(*args)``, within 2 s and without 512 MiB more memory."""
    rss, start = _rss(), time.monotonic()
    with pytest.raises(ArchError) as e:
        fn(*args)
    assert time.monotonic() - start < 2.0
    assert _rss() - rss < 512 << 20
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_check_size_returns_the_summary():
    s = check_size("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10)
    assert s == summarize("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10)


@pytest.mark.parametrize("name", ["resnet152", "wide_resnet50_2", "vgg19_bn", "googlenet", "densenet121"])
def test_the_largest_baselines_pass(name):
    s = check_size(baselines.get(name, IMAGENET), IMAGENET, 1000)
    assert s.params <= LIMITS.max_params and s.macs <= LIMITS.max_macs


@pytest.mark.parametrize("arch, shape, classes, words", [
    ("conv(65536,3)", IMAGENET, 1000, ["output channels", "65,536", f"{LIMITS.max_channels:,}"]),
    ("conv(8,3) fc(65536)", (3, 32, 32), 10, ["output features"]),
    ("conv(8192,3)", IMAGENET, 1000, ["activations", f"{LIMITS.max_activations:,}"]),
    ("conv(8,3) fc(8192) fc(8192)", IMAGENET, 1000, ["parameter count", f"{LIMITS.max_params:,}"]),
    ("conv(8,3)", (3, 64, 64), 10**6, ["classifier's parameter count"]),  # 32768 features x 10**6 classes
    ("conv(512,15,stride=4) conv(512,15)*2 gap", IMAGENET, 1000, ["MACs", f"{LIMITS.max_macs:,}"]),
    ("conv(8,3) gap", (3, 4096, 4096), 10, ["height or width", f"{LIMITS.max_input_size:,}"]),
    ("conv(8,3) gap", (9000, 8, 8), 10, ["input's channel count"]),
])
def test_oversized_candidates_are_refused_with_the_limit(arch, shape, classes, words):
    refused(check_size, arch, shape, classes, words=words)


def test_build_refuses_before_allocating():
    """conv(65536,3) at 224x224 was a 154 GB allocation."""
    refused(build, "conv(65536,3)", IMAGENET, 1000, words=["output channels"])
    refused(build, "conv(4096,3) conv(4096,3) gap", IMAGENET, 1000, words=["activations"])


def test_an_arch_made_in_code_is_bounded_too():
    arch = make_arch([Layer.make("conv", 8, 3)] * (LIMITS.max_layers + 1) + [Layer.make("gap")])
    refused(check_size, arch, (1, 8, 8), 10, words=["number of layers"])


@pytest.mark.parametrize("classes", [0, -1, 2.5, True, "10"])
def test_bad_class_counts_are_arch_errors(classes):
    refused(check_size, "conv(8,3) gap", (1, 8, 8), classes, words=["num_classes"])


@pytest.mark.parametrize("shape", [(1, 8), ("a", 8, 8), (1.5, 8, 8), None])
def test_bad_input_shapes_are_arch_errors(shape):
    refused(check_size, "conv(8,3) gap", shape, 10, words=["input shape"])


def test_nas_show_refuses_an_oversized_candidate_in_one_line():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["show", "conv(65536,3)"]) == 2
    assert err.getvalue().count("\n") == 1 and "output channels" in err.getvalue()


def test_build_counted_gives_the_model_and_the_counts_of_summarize():
    from nas.nn import build_counted, summarize

    model, s = build_counted("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10)
    assert s == summarize("conv(16,3) basic(32,stride=2) gap", (1, 8, 8), 10)
    assert s.params == sum(p.numel() for p in model.parameters())
