"""Imports only run downward: every module of the package imports from its own layer or the
layers below it (read from the source with ``ast``, lazy imports inside functions included)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nas"

# Lowest first. A module may import its own layer and every layer before it.
LAYERS = [
    {"errors", "registry", "config", "_util", "_version", "limits"},
    {"lang"},
    {"nn"},
    {"baselines"},
    {"space"},
    {"strategies"},
    {"train"},
    {"latency"},
    {"oneshot"},
    {"tune"},
    {"export"},
    {"report"},
    {"cli"},
    {"testing"},  # test doubles: may use anything, and nothing in the package uses them
]
FACADES = {"nas/__init__.py", "nas/__main__.py"}  # the package's front door imports what it offers


def layer_of(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"nas.{top} is in no layer of tests/test_layering.py: add it to LAYERS")


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if str(p.relative_to(PACKAGE.parent)) not in FACADES)


def imported(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """The first component under ``nas`` of everything the module at ``root/nas/...`` imports."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])  # e.g. ["nas", "tune"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            full = base + (node.module.split(".") if node.module else [])
            names = [".".join(full)] if node.module else [".".join(full + [a.name]) for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "nas" and len(parts) > 1:
                found.add(parts[1])
    return found


def own_top(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_run_downward(path):
    mine = layer_of(own_top(path))
    upward = sorted(top for top in imported(path) if layer_of(top) > mine)
    assert not upward, f"{path.relative_to(PACKAGE.parent)} (layer {mine}) imports upward: {upward}"


def test_nothing_in_the_package_uses_the_test_doubles():
    users = [p for p in modules() if own_top(p) != "testing" and "testing" in imported(p)]
    assert not users


def test_the_reading_finds_relative_absolute_and_lazy_imports(tmp_path):
    src = tmp_path / "nas" / "lang" / "x.py"
    src.parent.mkdir(parents=True)
    src.write_text("from ..tune import run_search\nfrom . import grammar\nimport nas.cli\n"
                   "def f():\n    from ..report import report\n")
    found = imported(src, root=tmp_path)
    assert found == {"tune", "lang", "cli", "report"}
    assert [t for t in sorted(found) if layer_of(t) > layer_of("lang")] == ["cli", "report", "tune"]
