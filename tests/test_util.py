"""The shared helpers of nas/_util.py."""
from nas._util import first_line, human


def test_first_line_quotes_one_line_of_a_message():
    assert first_line(RuntimeError("\n  shapes differ  \nat layer 3\n")) == "shapes differ"
    assert first_line(ValueError()) == ""
    assert first_line(OSError("x" * 400)) == "x" * 297 + "..."
    assert len(first_line(OSError("y" * 50), limit=20)) == 20


def test_human_counts():
    assert [human(n) for n in (999, 1500, 2.5e6, 3e9)] == ["999", "1.50K", "2.50M", "3.00G"]


# ---------------------------------------------------------------------------
# read_bounded and load_yaml: the one way space and config files are read
# ---------------------------------------------------------------------------

import os

import pytest
import yaml

from nas._util import load_yaml, read_bounded
from nas.errors import ConfigError, NasError


def test_read_bounded_reads_a_small_regular_file(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    assert read_bounded(tmp_path / "a", 3, "file") == b"abc"


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b"abcd"), "4 bytes, more than the limit of 3"),
    (lambda p: p.mkdir(), "it is a folder"),
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: None, "no such thing"),
])
def test_read_bounded_refuses_in_one_line(tmp_path, make, words):
    path = tmp_path / "x"
    make(path)
    with pytest.raises(ConfigError) as e:  # a FIFO without a writer is refused, never opened to block
        read_bounded(path, 3, "thing", ConfigError)
    assert str(e.value).startswith(f"{path}: ") and words in str(e.value)


def test_read_bounded_refuses_endless_devices():
    with pytest.raises(NasError, match="not a regular file"):
        read_bounded("/dev/zero", 100, "file")


def test_load_yaml_is_safe_load_within_bounds():
    assert load_yaml("a: [1, {b: 2_000}]\nc: &x 3\nd: *x\n", 4, 18) == {"a": [1, {"b": 2000}], "c": 3, "d": 3}


@pytest.mark.parametrize("text, words", [
    ("a: " + "[" * 20000 + "]" * 20000, "nesting deeper than 4"),
    ("a: [[[[1]]]]", "nesting deeper than 4"),
    ("a: " + "9" * 5000, "5000 digits"),
    ("a: &a [*a]", "through aliases"),
    ("a: &a {x: 1}\nb: {<<: *a}", "merge keys"),
    ("!!python/object:os.system {}", "could not determine a constructor"),
])
def test_load_yaml_refuses_past_its_bounds(text, words):
    with pytest.raises(yaml.YAMLError) as e:
        load_yaml(text, 4, 18)
    assert words in str(e.value)


@pytest.mark.parametrize("text, words", [
    ("trials: " + "[" * 20000 + "]" * 20000, "nesting deeper than"),
    ("trials: " + "9" * 5000, "digits"),
])
def test_config_files_are_read_within_the_limits(tmp_path, text, words):
    from nas.tune import load_yaml_config

    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_yaml_config(path)
    assert words in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_yaml_config("/dev/zero")


def test_staged_folder_puts_the_earlier_folder_back_when_the_swap_fails(tmp_path, monkeypatch):
    import os

    import pytest

    from nas import _util

    target = tmp_path / "rank1"
    target.mkdir()
    (target / "model.safetensors").write_text("earlier")
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the new folder's rename into place
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(_util.os, "replace", replace)
    with pytest.raises(OSError), _util.staged_folder(target) as tmp:
        (tmp / "model.safetensors").write_text("new")
    monkeypatch.undo()
    assert (target / "model.safetensors").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank1"]


def test_read_bounded_can_refuse_symbolic_links(tmp_path):
    import pytest

    from nas._util import read_bounded
    from nas.errors import NasError

    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_bounded(tmp_path / "link", 10, "file") == b"x"
    with pytest.raises(NasError, match="it is a symbolic link"):
        read_bounded(tmp_path / "link", 10, "file", follow_symlinks=False)
