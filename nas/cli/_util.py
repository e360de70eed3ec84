"""Helpers shared by the subcommands: parsing CLI values into clear errors, printing tables."""
from __future__ import annotations

import json
import re
import sys

from .._util import human  # noqa: F401  (the one number format, for the commands)
from ..errors import NasError


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` -> ``(3, 32, 32)``."""
    # At most 18 digits each (nas.limits' max_int_digits): int() of 5000 digits raises.
    m = re.fullmatch(r"\s*(\d{1,18})\s*[xX,]\s*(\d{1,18})\s*[xX,]\s*(\d{1,18})\s*", text)
    if not m or min(int(g) for g in m.groups()) < 1:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise NasError(f"--input must look like CxHxW with positive sizes (e.g. 3x32x32), got {shown!r}")
    return tuple(int(g) for g in m.groups())


def whole_number(flag: str, value, minimum: int = 1) -> int:
    """A CLI value that must be an int >= ``minimum``, else one clear error."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise NasError(f"{flag} must be a whole number, got {value!r}") from None
    if v < minimum:
        raise NasError(f"{flag} must be at least {minimum}, got {v}" if minimum else f"{flag} must be 0 or more, got {v}")
    return v


def positive_int(flag: str, value) -> int:
    return whole_number(flag, value, 1)


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=None)
    sys.stdout.write("\n")


def table(rows: list[list[str]], header: list[str], right: set[int] = frozenset()) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(r):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(r) for r in rows])




def arch_or_baseline(text: str, input_shape) -> tuple[str, str | None]:
    """``(canonical architecture string, baseline name or None)`` for a command-line argument
    that is either; ``input_shape`` (C, H, W) adapts a baseline and is unused for a string.

    A single bare word that is neither a baseline nor a layer is most likely a misspelt
    baseline (``resnet81``): the error suggests the closest name of either kind.
    """
    from .. import baselines
    from ..lang import OPS, parse
    from ..errors import ArchError
    from ..registry import suggest

    if text in baselines.names():
        return str(parse(baselines.get(text, input_shape))), text
    word = text.strip()
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word) and word not in OPS:
        raise ArchError(f"{word!r} is neither a baseline (`nas baselines`) nor a layer"
                        f"{suggest(word, baselines.names() + OPS.names())}")
    return str(parse(text)), None
