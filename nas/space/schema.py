"""The typed contents of a space file: ``yaml.safe_load`` output -> :class:`SpaceSpec`, every
problem one :class:`~nas.errors.SpaceError` naming the file and the key (list indices
from 0, as in YAML paths). The schema itself: docs/search-spaces.md."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import ArchError, SpaceError
from ..lang import NORMS, Settings, parse
from ..limits import LIMITS
from ..registry import suggest
from .templates import BLOCKS


@dataclass(frozen=True)
class Constraints:
    """Limits for the space's input shape; ``None`` is no limit.

    ``max_params`` and ``max_macs`` are counted without building anything, so
    ``SearchSpace.is_valid`` checks them. ``max_latency_ms`` has to be measured (tenths of a
    second to seconds per architecture, far too slow for rejection sampling's thousands of
    calls), so the search enforces it instead: each proposal's latency is measured on the
    search's latency target (cached per architecture) before it trains, and one over the
    limit is recorded as a failed proposal without training (docs/search-spaces.md).
    """

    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None


@dataclass(frozen=True)
class StageSpec:
    """One stage of a macro space; every field is a tuple of options (one option: fixed)."""

    block: tuple[str, ...]
    width: tuple[int, ...]
    repeat: tuple[int, ...] = (1,)
    norm: tuple[str, ...] = ("bn",)
    downsample: tuple[bool, ...] = (False,)


@dataclass(frozen=True)
class LayerSpec:
    """Zoph & Le 2017's layer-wise space: ``count`` conv layers with the same options each."""

    count: int
    filter_height: tuple[int, ...]
    filter_width: tuple[int, ...]
    filters: tuple[int, ...]
    stride: tuple[int, ...] = (1,)
    norm: tuple[str, ...] = ("bn",)


@dataclass(frozen=True)
class SpaceSpec:
    """A parsed space file. Exactly one of ``stages`` (macro mode) and ``layers`` is set."""

    name: str
    input: tuple[int, int, int]
    classes: int
    dataset: str | None = None
    constraints: Constraints = Constraints()
    stem: str = ""
    head: str = "gap"
    anchors: bool = False
    stages: tuple[StageSpec, ...] = ()
    layers: LayerSpec | None = None


_TOP_KEYS = ("name", "input", "classes", "dataset", "constraints", "stem", "head", "anchors")
_STAGE_KEYS = tuple(f.name for f in dataclasses.fields(StageSpec))
_LAYER_KEYS = ("layers", "filter_height", "filter_width", "filters", "stride", "norm")
_CONSTRAINT_KEYS = tuple(f.name for f in dataclasses.fields(Constraints))
WIDTH_MAX = LIMITS.max_channels  # widths, filters and input channels (nas.limits says why)
_CLASSES_MAX = 1 << 16  # past ImageNet-21k's 21,841; the classifier's weights are bounded by max_params


class _Reader:
    """Turns a ``yaml.safe_load`` result into a :class:`SpaceSpec`, failing with file and key."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, msg: str) -> SpaceError:
        return SpaceError(f"{self.source}: {where}: {msg}" if where else f"{self.source}: {msg}")

    def keys(self, where: str, data: Mapping, allowed: Sequence[str], hints: Mapping[str, str] | None = None) -> None:
        for key in data:
            if key not in allowed:
                at = f"{where}.{key}" if where else str(key)
                hint = (hints or {}).get(key) or suggest(str(key), allowed)
                raise self.fail(at, f"unknown key {key!r}{hint}")

    def mapping(self, where: str, value: Any) -> Mapping:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping of keys, got {_describe(value)}")
        return value

    def int(self, where: str, value: Any, lo: int = 1, hi: int | None = None) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected a whole number, got {_describe(value)}")
        if value < lo or (hi is not None and value > hi):
            raise self.fail(where, f"{value} is out of range: expected {lo} to {hi}" if hi else
                            f"{value} is out of range: expected at least {lo}")
        return value

    def positive(self, where: str, value: Any) -> float:
        """A positive finite number (an int or a float; not a bool, not text)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a positive number, got {_describe(value)}")
        if not math.isfinite(value) or value <= 0:
            raise self.fail(where, f"{value} is out of range: expected a positive finite number")
        return float(value)

    def bool(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_describe(value)}")
        return value

    def name(self, where: str, value: Any, allowed: Sequence[str], what: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a {what} name, got {_describe(value)}")
        if value not in allowed:
            raise self.fail(where, f"unknown {what} {value!r}{suggest(value, allowed)}")
        return value

    def norm(self, where: str, value: Any) -> str:
        return self.name(where, value, NORMS.names(), "norm")

    def text(self, where: str, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(where, f"expected architecture text in quotes, got {_describe(value)}")
        return value.strip()

    def choice(self, where: str, value: Any, one: Callable[[str, Any], Any]) -> tuple:
        """A scalar (fixed) or a non-empty list of distinct options."""
        if isinstance(value, dict):
            raise self.fail(where, "expected a value or a list of options, got a mapping")
        if not isinstance(value, list):
            return (one(where, value),)
        if not value:
            raise self.fail(where, "the list of options is empty")
        if len(value) > LIMITS.max_options:
            raise self.fail(where, f"{len(value)} options, more than the limit of {LIMITS.max_options}")
        options = tuple(one(f"{where}[{i}]", v) for i, v in enumerate(value))
        for i, v in enumerate(options):
            if v in options[:i]:
                raise self.fail(f"{where}[{i}]", f"option {v!r} is listed twice")
        return options


# The reader of each constraint key that is not a whole number (those use _Reader.int).
_CONSTRAINT_READERS: dict[str, Callable[..., Any]] = {"max_latency_ms": _Reader.positive}


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing (null)"
    return f"{value!r}"


def parse_spec(data: Any, source: str = "<space>") -> SpaceSpec:
    """Validate a ``yaml.safe_load`` result; ``source`` names the file in error messages."""
    r = _Reader(source)
    if data is None:
        raise r.fail("", "the file is empty; a search space is a YAML mapping (name, input, classes, stages, ...)")
    if not isinstance(data, dict):
        raise r.fail("", "a search space must be a YAML mapping of keys (name, input, classes, stages, ...), "
                         f"got {_describe(data)}")
    macro = "stages" in data
    if macro and "layers" in data:
        raise r.fail("", "give either 'stages' (macro space) or 'layers' (Zoph & Le layer-wise space), not both")
    if not macro and "layers" not in data:
        raise r.fail("", "missing key 'stages' (macro space) or 'layers' (Zoph & Le layer-wise space)")
    mode_keys = ("stages",) if macro else _LAYER_KEYS
    other = {k: (f"; {k!r} belongs to a layer-wise space (one with 'layers: N')" if macro else
                 f"; {k!r} belongs to a stage of a macro space (under 'stages')")
             for k in (_LAYER_KEYS if macro else _STAGE_KEYS)}
    r.keys("", data, _TOP_KEYS + mode_keys, other)
    for key in ("input", "classes"):
        if key not in data:
            raise r.fail("", f"missing key {key!r}")
    common = _read_common(r, data, source)
    if macro:
        return SpaceSpec(**common, stages=_read_stages(r, data["stages"]))
    return SpaceSpec(**common, layers=_read_layers(r, data))


def _read_common(r: _Reader, data: Mapping, source: str) -> dict[str, Any]:
    """The keys both modes share: name, input, classes, dataset, constraints, stem, head, anchors."""
    shape = data["input"]
    if not isinstance(shape, list) or len(shape) != 3:
        raise r.fail("input", f"expected [C, H, W], got {_describe(shape)}")
    highs = (WIDTH_MAX, LIMITS.max_input_size, LIMITS.max_input_size)
    shape = tuple(r.int(f"input[{i}]", v, 1, hi) for i, (v, hi) in enumerate(zip(shape, highs)))
    name = data.get("name", Path(source).stem if source else "space")
    if not isinstance(name, str) or not name.strip():
        raise r.fail("name", f"expected a name, got {_describe(name)}")
    dataset = data.get("dataset")
    if dataset is not None and not isinstance(dataset, str):
        raise r.fail("dataset", f"expected a dataset name, got {_describe(dataset)}")
    constraints = Constraints()
    if data.get("constraints") is not None:
        c = r.mapping("constraints", data["constraints"])
        r.keys("constraints", c, _CONSTRAINT_KEYS)
        constraints = Constraints(**{k: None if v is None else _CONSTRAINT_READERS.get(k, _Reader.int)(
            r, f"constraints.{k}", v) for k, v in c.items()})
    return dict(name=name.strip(), input=shape, classes=r.int("classes", data["classes"], 1, _CLASSES_MAX),
                dataset=dataset, constraints=constraints, stem=_read_stem(r, data), head=_read_head(r, data),
                anchors=r.bool("anchors", data.get("anchors", False)))


def _read_stem(r: _Reader, data: Mapping) -> str:
    stem = r.text("stem", data.get("stem"))
    if stem:
        try:
            parse(stem)
        except ArchError as e:
            raise r.fail("stem", str(e)) from None
    return stem


def _read_head(r: _Reader, data: Mapping) -> str:
    head = r.text("head", data.get("head", "gap"))
    if head:
        try:
            head_arch = parse(head)
        except ArchError as e:
            raise r.fail("head", str(e)) from None
        if any(layer.skip for layer in head_arch.layers):
            raise r.fail("head", "skip= is not allowed in the head: its layer positions shift with the stages")
        if head_arch.settings != Settings():
            raise r.fail("head", "architecture settings (norm=, act=, eps=, init=) belong at the start of the stem")
    return head


def _read_stages(r: _Reader, stages: Any) -> tuple[StageSpec, ...]:
    if not isinstance(stages, list) or not stages:
        raise r.fail("stages", f"expected a non-empty list of stages, got {_describe(stages)}")
    if len(stages) > LIMITS.max_stages:
        raise r.fail("stages", f"{len(stages)} stages, more than the limit of {LIMITS.max_stages}")
    out = []
    for i, st in enumerate(stages):
        where = f"stages[{i}]"
        st = r.mapping(where, st)
        r.keys(where, st, _STAGE_KEYS)
        for key in ("block", "width"):
            if key not in st:
                raise r.fail(where, f"missing key {key!r}")
        out.append(StageSpec(
            block=r.choice(f"{where}.block", st["block"], lambda w, v: r.name(w, v, BLOCKS.names(), "block")),
            width=r.choice(f"{where}.width", st["width"], lambda w, v: r.int(w, v, 1, WIDTH_MAX)),
            repeat=r.choice(f"{where}.repeat", st.get("repeat", 1), lambda w, v: r.int(w, v, 1, 64)),
            norm=r.choice(f"{where}.norm", st.get("norm", "bn"), r.norm),
            downsample=r.choice(f"{where}.downsample", st.get("downsample", False), r.bool),
        ))
    return tuple(out)


def _read_layers(r: _Reader, data: Mapping) -> LayerSpec:
    for key in ("filter_height", "filter_width", "filters"):
        if key not in data:
            raise r.fail("", f"missing key {key!r} (a layer-wise space needs filter_height, filter_width, filters)")
    def size(where: str, v: Any) -> int:  # a kernel side
        return r.int(where, v, 1, LIMITS.max_kernel)

    return LayerSpec(
        count=r.int("layers", data["layers"], 1, LIMITS.max_space_layers),
        filter_height=r.choice("filter_height", data["filter_height"], size),
        filter_width=r.choice("filter_width", data["filter_width"], size),
        filters=r.choice("filters", data["filters"], lambda w, v: r.int(w, v, 1, WIDTH_MAX)),
        stride=r.choice("stride", data.get("stride", 1), lambda w, v: r.int(w, v, 1, 8)),
        norm=r.choice("norm", data.get("norm", "bn"), r.norm),
    )
