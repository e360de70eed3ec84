"""Space files within nas.limits: each input that once exhausted the machine or escaped as a
raw traceback is now one SpaceError line, from SearchSpace.load and from ``nas space``."""
import contextlib
import io
import os
import threading
import time

import pytest

from nas.cli import main
from nas.errors import SpaceError
from nas.limits import LIMITS
from nas.space import SearchSpace, shipped

HEAD = "name: x\ninput: [3, 32, 32]\nclasses: 10\n"
STAGE = "  - {block: conv, width: [8, 16]}\n"
ZOPH = "layers: {n}\nfilter_height: [1, 3, 5, 7]\nfilter_width: [1, 3, 5, 7]\nfilters: [24, 36, 48, 64]\nanchors: true\n"

CASES = {
    "5000-digit integer": (HEAD + "stages:\n  - {block: conv, width: " + "9" * 5000 + "}\n", "5000 digits"),
    "20000-deep list": (HEAD + "stages: " + "[" * 20000 + "]" * 20000 + "\n", "nesting deeper than"),
    "layers: 256 with anchors": (HEAD + ZOPH.format(n=256), "its size is about 2^"),
    "3000 stages": (HEAD + "stages:\n" + STAGE * 3000, "3000 stages, more than the limit"),
    "width 65536": (HEAD + "stages:\n  - {block: conv, width: [65536]}\n", "out of range"),
    "stem repeated 100000 times": (HEAD + "stem: 'conv(8,3)*100000'\nstages:\n" + STAGE, "repeat count"),
    "aliases nested deeper than the text": (
        "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 60)) + HEAD + "stages:\n" + STAGE,
        "nesting deeper than"),
    "an alias inside itself": (HEAD + "stages: &s [{block: conv, width: *s}]\n", "nesting deeper than"),
    "merge keys": (HEAD + "base: &b {block: conv}\nstages:\n  - {<<: *b, width: 8}\n", "merge keys"),
    "100 options": (HEAD + "stages:\n  - {block: conv, width: [" + ",".join(map(str, range(1, 101))) + "]}\n",
                    "100 options, more than the limit"),
    "too many combinations of one stage": (
        HEAD + "stages:\n  - {block: [conv, basic, sepconv], width: [" + ",".join(map(str, range(8, 72))) + "],"
        " repeat: [1, 2, 3, 4, 5, 6], norm: [bn, ln], downsample: [false, true]}\n", "combinations of options"),
    "too many layers in the longest candidate": (
        HEAD + "stages:\n" + "  - {block: [conv, dense], width: 8, repeat: 64}\n" * 5, "longest candidate has"),
    "too many parameters in the largest candidate": (
        HEAD + "stages:\n  - {block: [conv, basic], width: [8192], repeat: [1, 40]}\n", "parameters, above"),
    "too many MACs in the largest candidate": (
        ("name: x\ninput: [3, 224, 224]\nclasses: 1000\nstages:\n"
         "  - {block: [conv, bottleneck], width: [512, 2048], repeat: [1, 10], downsample: [true, false]}\n"),
        "MACs, above"),
}


def _expect_one_line(text: str, words: str, source: str) -> None:
    assert "\n" not in text and text.startswith(source) and words in text, text


@pytest.mark.parametrize("name", CASES)
def test_each_unbounded_input_is_one_space_error(tmp_path, name):
    text, words = CASES[name]
    path = tmp_path / "s.yaml"
    path.write_text(text)
    start = time.monotonic()
    with pytest.raises(SpaceError) as e:
        SearchSpace.load(path)
    assert time.monotonic() - start < 10
    _expect_one_line(str(e.value), words, f"{path}: ")


@pytest.mark.parametrize("name", ["5000-digit integer", "20000-deep list", "layers: 256 with anchors", "3000 stages"])
def test_nas_space_exits_2_with_one_line(tmp_path, name):
    text, words = CASES[name]
    path = tmp_path / "s.yaml"
    path.write_text(text)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(["space", str(path), "--sample", "1"]) == 2
    assert err.getvalue().count("\n") == 1 and words in err.getvalue()


def test_a_space_without_a_dataset_loads_and_shows(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "stages:\n" + STAGE)
    assert SearchSpace.load(path).dataset is None
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["space", str(path), "--sample", "1"]) == 0
    assert "dataset -" in out.getvalue()


def test_endless_and_blocking_files_are_refused_unread(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    outcome = []
    # A FIFO without a writer blocks open() and read(): run it where a hang fails the test.
    t = threading.Thread(target=lambda: outcome.append(_error_of(fifo)), daemon=True)
    t.start()
    t.join(5)
    assert outcome and "not a regular file" in outcome[0]
    assert "not a regular file" in _error_of("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (LIMITS.max_file_bytes + 1))
    assert "more than the limit" in _error_of(big)
    with pytest.raises(SpaceError, match="bytes, more than the limit"):
        SearchSpace.loads("#" * (LIMITS.max_file_bytes + 1))


def _error_of(path) -> str:
    with pytest.raises(SpaceError) as e:
        SearchSpace.load(path)
    return str(e.value)


def test_limits_admit_the_shipped_spaces():
    for path in shipped().values():
        SearchSpace.load(path)


def test_constraints_may_use_large_numbers():
    space = SearchSpace.loads(HEAD + "constraints: {max_macs: 100_000_000_000}\nstages:\n" + STAGE)
    assert space.constraints.max_macs == 10**11
