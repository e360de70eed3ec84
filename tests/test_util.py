"""The shared helpers of nas/_util.py."""
from nas._util import first_line, human


def test_first_line_quotes_one_line_of_a_message():
    assert first_line(RuntimeError("\n  shapes differ  \nat layer 3\n")) == "shapes differ"
    assert first_line(ValueError()) == ""
    assert first_line(OSError("x" * 400)) == "x" * 297 + "..."
    assert len(first_line(OSError("y" * 50), limit=20)) == 20


def test_human_counts():
    assert [human(n) for n in (999, 1500, 2.5e6, 3e9)] == ["999", "1.50K", "2.50M", "3.00G"]
