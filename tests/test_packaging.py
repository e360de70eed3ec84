"""A wheel carries every package: pyproject.toml lists each folder of nas/ with an __init__.py."""
import tomllib


def test_every_subpackage_is_listed_in_pyproject(repo):
    listed = set(tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(repo).parts) for p in (repo / "nas").rglob("__init__.py")}
    assert found <= listed, f"missing from pyproject.toml: {sorted(found - listed)}"
    assert listed - found == {"nas.search_spaces"}  # the shipped spaces, mapped from search_spaces/
