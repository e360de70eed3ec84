"""Search spaces: a template architecture with choice points, read from a YAML file.

A space file is loaded with ``yaml.safe_load`` into frozen dataclasses (:class:`SpaceSpec`);
unknown keys and bad values are a one-line :class:`SpaceError` that names the file and the
key (``search_spaces/x.yaml: stages[1].block: unknown block 'resnet'; did you mean ...``).
List indices in those key paths count from 0, as in YAML/JSON paths.

>>> space = SearchSpace.load("digits")            # a shipped space, or a path to a file
>>> choices = space.sample(random.Random(0))      # uniform over the valid architectures
>>> arch = space.decode(choices)                  # its canonical architecture string
>>> space.decode(space.encode(arch)) == arch
True

Schema
------
Every key but ``input``, ``classes`` and one of ``stages`` / ``layers`` is optional. A list
is a choice (one decision per list), a scalar or a one-element list is fixed (no decision)::

    name: digits                 # default: the file name
    input: [1, 8, 8]             # C, H, W
    classes: 10
    dataset: digits              # default dataset for ``nas search`` (default: none)
    constraints: {max_params: 200_000, max_macs: 5_000_000}   # for ``input``; both optional
    stem: "conv(16,3)"           # fixed architecture text before the searched part
    head: "gap"                  # fixed text after it (default "gap"; "" for none)
    anchors: false               # skip connections through anchor points (see below)

    # macro mode: one unit per stage
    stages:
      - block: [conv, basic, bottleneck, inception, dense, sepconv]   # required
        width: [16, 32, 64]      # required; the stage's output channels
        repeat: [1, 2]           # default 1: blocks in the stage
        norm: [bn, ln]           # default bn (any of bn ln gn in none)
        downsample: [false, true]  # default false: halve the resolution at the stage start

    # or layer mode, Zoph & Le 2017 (Sec. 4.1): one unit per conv layer, the same choices
    # for each of the ``layers`` layers
    layers: 15
    filter_height: [1, 3, 5, 7]
    filter_width: [1, 3, 5, 7]
    filters: [24, 36, 48, 64]
    stride: 1                    # default 1 (the paper's second experiment: [1, 2, 3])
    norm: bn                     # default bn

The stem may start with architecture settings (``norm=ln act=gelu conv(16,3)``); they
apply to the whole architecture. The head may not use ``skip=``: its layer positions
would shift with the stages' repeat counts.

Block types (``BLOCKS``): how a stage becomes layers
----------------------------------------------------
A stage is ``repeat`` blocks of ``width`` output channels. ``downsample: true`` puts the
stride 2 on the stage's first block, or for block types that keep the resolution, puts a
pooling layer first, so a downsampling stage runs at half resolution whatever its block
type (all but ``dense`` give ceil(H/2) x ceil(W/2)). With ``w`` the width, ``s`` the
stride (2 on the first block of a downsampling stage, else 1) and ``n`` the norm:

=============  =====================================================================
block          layers per block
=============  =====================================================================
conv           ``conv(w,3,stride=s,norm=n)``: plain conv-norm-ReLU (VGG)
sepconv        ``sepconv(w,3,stride=s,norm=n)``: depthwise 3x3 + pointwise 1x1 (MobileNet)
basic          ``basic(w,stride=s,norm=n)``: ResNet basic block (He et al. 2015, Fig. 5 left)
bottleneck     ``bottleneck(w,stride=s,norm=n)``: ResNet bottleneck; ``w`` = planes x 4,
               so ``w`` must be a multiple of 4 (otherwise the architecture is invalid)
inception      ``inception(c1,r3,c3,r5,c5,pp,norm=n)`` in GoogLeNet's inception (3a)
               proportions 64:96:128:16:32:32 of 256 (Szegedy et al. 2014, Table 1):
               c1 = w/4, r3 = 3w/8, r5 = w/16, c5 = pp = w/8 (rounded down, at least 1)
               and c3 = w - c1 - c5 - pp, so the output has exactly ``w`` channels
               (w >= 4). Downsampling: ``maxpool(3,stride=2,pad=1)`` first, the 3x3/2 max
               pool GoogLeNet puts between inception groups (padded to give ceil(H/2)).
dense          ``transition(w-4g,stride=s,norm=n) dense(4,g,norm=n)`` with growth
               g = max(1, w/8): a DenseNet-BC transition (1x1 conv compressing to about
               w/2, then 2x2 average pooling when s = 2; Huang et al. 2017, Sec. 3) and a
               dense block of 4 bottleneck layers adding g channels each: ``w`` out.
=============  =====================================================================

Decisions and kinds
-------------------
Per unit, one :class:`Decision` per field given as a list, named ``stage2.width`` /
``layer7.filters``, in this order: block, width, repeat, norm, downsample (macro) or
filter_height, filter_width, filters, stride, norm (layer mode), then the unit's anchors. A
decision's ``kind`` is the field name. The LSTM controller shares one softmax head per
kind, so all decisions of a kind must have the same number of options: where stages
offer different numbers of options for a field, every decision of that field gets a
kind of its own, ``width@stage1``, ``width@stage2``, ... (layer mode uses the same lists
for every layer, so its kinds are always shared). Anchor decisions have kind ``anchor``
and options ``(False, True)``.

Anchors (Zoph & Le 2017, Sec. 3.3)
----------------------------------
With ``anchors: true``, unit j has one binary decision ``unit_j.anchor_i`` per earlier
unit i with 1 <= i <= j - 2: whether unit i's output is concatenated (along channels)
into unit j's input, written as ``skip=`` on unit j's first layer. In layer mode a unit
is a conv layer, as in the paper; in macro mode a unit is a stage (its last layer's
output is the anchor), because a stage's layer count depends on its ``repeat`` choice.
Two deliberate differences from the paper, which gives layer N "N - 1 sigmoids" over
all previous layers: our language always feeds the previous layer's output into the
next layer (``skip=`` *adds* inputs), so that link is not a decision (a decision for
i = j - 1 would only concatenate the same tensor twice), and the network input
(position 0) is not an anchor, as in the paper where the image is used only when a
layer has no input. Hence layers 1 and 2 have no anchors, and the paper's "concatenate
all unconnected outputs at the final layer" reduces to the last layer, the only output
nothing reads. The paper pads smaller maps with zeros to concatenate them; we do not,
so a skip between different resolutions makes the architecture invalid
(:meth:`SearchSpace.is_valid` is False).

Sizes and validity
------------------
``space.size`` is the number of choice vectors, the exact product of the option counts
(an ``int`` however large). Two choice vectors can spell the same architecture when
stages overlap (``conv(32)`` + ``conv(32)*2`` split 1+2 or 2+1); ``encode`` returns the
first in lexicographic order. ``is_valid(choices)`` is False when the builder rejects the
decoded architecture or it breaks the constraints; parameters and MACs are those of
``nas.builder.summarize``, computed layer by layer and cached per (layer, input shape),
so a call costs well under a millisecond once the cache is warm, and results are cached
per choice vector.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import math
import operator
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import yaml

from .arch import NORMS, SETTINGS_PARAMS, Arch, Layer, Settings, parse
from .builder import infer_shapes, summarize
from .errors import ArchError, SpaceError
from .registry import Registry, suggest


@dataclass(frozen=True)
class Decision:
    """One choice point: the controller makes one decision per step (Zoph & Le 2017, Sec. 3.1).

    ``kind`` groups decisions that share a softmax head and an embedding table in the
    LSTM controller ("one softmax head per decision type"), e.g. ``"filters"``,
    ``"kernel"``, ``"block"``, ``"skip"``. All decisions of one kind have the same
    number of options.
    """

    name: str
    kind: str
    options: tuple


class Space(Protocol):
    decisions: tuple[Decision, ...]

    @property
    def size(self) -> int: ...

    def decode(self, choices: Sequence[int]) -> str: ...

    def is_valid(self, choices: Sequence[int]) -> bool: ...


# Rejection sampling gives up after this many invalid draws in a row (as the strategies do).
MAX_TRIES = 1000

# Where the shipped spaces live: inside the package when installed from a wheel (pyproject
# maps search_spaces/ to nas/search_spaces), next to the package in a checkout or an
# editable install.
_HERE = Path(__file__).resolve().parent
SPACE_DIRS = (_HERE / "search_spaces", _HERE.parent / "search_spaces")


# ---------------------------------------------------------------------------
# Block types: (width, stride, norm) -> layer strings of ONE block
# ---------------------------------------------------------------------------

BLOCKS: Registry[Callable[[int, int, str], list[str]]] = Registry("block", SpaceError)


@BLOCKS.register("conv")
def _conv_block(w: int, s: int, n: str) -> list[str]:
    return [f"conv({w},3,stride={s},norm={n})"]


@BLOCKS.register("basic")
def _basic_block(w: int, s: int, n: str) -> list[str]:
    return [f"basic({w},stride={s},norm={n})"]


@BLOCKS.register("bottleneck")
def _bottleneck_block(w: int, s: int, n: str) -> list[str]:
    return [f"bottleneck({w},stride={s},norm={n})"]


def inception_widths(w: int) -> tuple[int, int, int, int, int, int]:
    """GoogLeNet inception (3a) proportions (64, 96, 128, 16, 32, 32) / 256 scaled to ``w`` out."""
    c1, r3, r5, c5, pp = (max(1, w * k // 256) for k in (64, 96, 16, 32, 32))
    return c1, r3, max(1, w - c1 - c5 - pp), r5, c5, pp


@BLOCKS.register("inception")
def _inception_block(w: int, s: int, n: str) -> list[str]:
    pool = [f"maxpool(3,stride={s},pad=1)"] if s > 1 else []
    return pool + [f"inception({','.join(map(str, inception_widths(w)))},norm={n})"]


@BLOCKS.register("dense")
def _dense_block(w: int, s: int, n: str) -> list[str]:
    g = max(1, w // 8)
    return [f"transition({max(1, w - 4 * g)},stride={s},norm={n})", f"dense(4,{g},norm={n})"]


@BLOCKS.register("sepconv")
def _sepconv_block(w: int, s: int, n: str) -> list[str]:
    return [f"sepconv({w},3,stride={s},norm={n})"]


def stage_layers(block: str, width: int, repeat: int, norm: str, downsample: bool) -> list[str]:
    """The layer strings of one stage (see the table in the module docstring)."""
    make = BLOCKS.get(block)
    out: list[str] = []
    for k in range(repeat):
        out += make(width, 2 if downsample and k == 0 else 1, norm)
    return out


# ---------------------------------------------------------------------------
# The typed contents of a space file
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Constraints:
    """Limits for the space's input shape; ``None`` is no limit."""

    max_params: int | None = None
    max_macs: int | None = None


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
WIDTH_MAX = 1 << 16


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
        options = tuple(one(f"{where}[{i}]", v) for i, v in enumerate(value))
        for i, v in enumerate(options):
            if v in options[:i]:
                raise self.fail(f"{where}[{i}]", f"option {v!r} is listed twice")
        return options


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

    shape = data["input"]
    if not isinstance(shape, list) or len(shape) != 3:
        raise r.fail("input", f"expected [C, H, W], got {_describe(shape)}")
    shape = tuple(r.int(f"input[{i}]", v, 1, WIDTH_MAX) for i, v in enumerate(shape))

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
        constraints = Constraints(**{k: None if v is None else r.int(f"constraints.{k}", v) for k, v in c.items()})

    stem = r.text("stem", data.get("stem"))
    if stem:
        try:
            parse(stem)
        except ArchError as e:
            raise r.fail("stem", str(e)) from None
    head = r.text("head", data.get("head", "gap"))
    if head:
        try:
            head_arch = parse(head)
        except ArchError as e:
            raise r.fail("head", str(e)) from None
        if any(layer.skip for layer in head_arch.layers):
            raise r.fail("head", "skip= is not allowed in the head: its layer positions shift with the stages")
        if head_arch.settings != Settings():
            raise r.fail("head", "architecture settings (norm=, act=, eps=) belong at the start of the stem")

    spec = dict(name=name.strip(), input=shape, classes=r.int("classes", data["classes"], 1, WIDTH_MAX),
                dataset=dataset, constraints=constraints, stem=stem, head=head,
                anchors=r.bool("anchors", data.get("anchors", False)))
    size = lambda where, v: r.int(where, v, 1, 15)  # noqa: E731  (conv kernels go up to 15)
    norm = lambda where, v: r.name(where, v, NORMS, "norm")  # noqa: E731
    if macro:
        stages = data["stages"]
        if not isinstance(stages, list) or not stages:
            raise r.fail("stages", f"expected a non-empty list of stages, got {_describe(stages)}")
        out = []
        for i, st in enumerate(stages):
            where = f"stages[{i}]"
            st = r.mapping(where, st)
            r.keys(where, st, _STAGE_KEYS)
            for key in ("block", "width"):
                if key not in st:
                    raise r.fail(where, f"missing key {key!r}")
            fields = dict(
                block=r.choice(f"{where}.block", st["block"], lambda w, v: r.name(w, v, BLOCKS.names(), "block")),
                width=r.choice(f"{where}.width", st["width"], lambda w, v: r.int(w, v, 1, WIDTH_MAX)),
                repeat=r.choice(f"{where}.repeat", st.get("repeat", 1), lambda w, v: r.int(w, v, 1, 64)),
                norm=r.choice(f"{where}.norm", st.get("norm", "bn"), norm),
                downsample=r.choice(f"{where}.downsample", st.get("downsample", False), r.bool),
            )
            out.append(StageSpec(**fields))
        return SpaceSpec(**spec, stages=tuple(out))
    for key in ("filter_height", "filter_width", "filters"):
        if key not in data:
            raise r.fail("", f"missing key {key!r} (a layer-wise space needs filter_height, filter_width, filters)")
    layers = LayerSpec(
        count=r.int("layers", data["layers"], 1, 256),
        filter_height=r.choice("filter_height", data["filter_height"], size),
        filter_width=r.choice("filter_width", data["filter_width"], size),
        filters=r.choice("filters", data["filters"], lambda w, v: r.int(w, v, 1, WIDTH_MAX)),
        stride=r.choice("stride", data.get("stride", 1), lambda w, v: r.int(w, v, 1, 8)),
        norm=r.choice("norm", data.get("norm", "bn"), norm),
    )
    return SpaceSpec(**spec, layers=layers)


# ---------------------------------------------------------------------------
# Units: what both modes compile to
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """A stage or a layer: its fields (each with its options and the index of its decision,
    None when fixed), its anchors ``(i, decision index)``, and how values become layers."""

    label: str
    fields: tuple[tuple[str, tuple, int | None], ...]
    anchors: tuple[tuple[int, int], ...]
    render: Callable[[Mapping[str, Any]], list[str]]


def _render_stage(v: Mapping[str, Any]) -> list[str]:
    return stage_layers(v["block"], v["width"], v["repeat"], v["norm"], v["downsample"])


def _render_layer(v: Mapping[str, Any]) -> list[str]:
    return [f"conv({v['filters']},{v['filter_height']}x{v['filter_width']},stride={v['stride']},norm={v['norm']})"]


def _compile(spec: SpaceSpec) -> tuple[tuple[Decision, ...], tuple[_Unit, ...]]:
    if spec.layers is not None:
        names = ("filter_height", "filter_width", "filters", "stride", "norm")
        rows = [(f"layer{j}", {k: getattr(spec.layers, k) for k in names}) for j in range(1, spec.layers.count + 1)]
        render = _render_layer
    else:
        rows = [(f"stage{j}", dataclasses.asdict(st)) for j, st in enumerate(spec.stages, start=1)]
        render = _render_stage
    # One kind per field, unless its decisions differ in option count (one softmax head per kind).
    counts: dict[str, set[int]] = {}
    for _, fields in rows:
        for k, opts in fields.items():
            if len(opts) > 1:
                counts.setdefault(k, set()).add(len(opts))
    decisions: list[Decision] = []
    units: list[_Unit] = []
    for j, (label, fields) in enumerate(rows, start=1):
        slots = []
        for k, opts in fields.items():
            index = None
            if len(opts) > 1:
                index = len(decisions)
                kind = k if len(counts[k]) == 1 else f"{k}@{label}"
                decisions.append(Decision(f"{label}.{k}", kind, tuple(opts)))
            slots.append((k, tuple(opts), index))
        anchors = []
        if spec.anchors:
            for i in range(1, j - 1):
                anchors.append((i, len(decisions)))
                decisions.append(Decision(f"{label}.anchor{i}", "anchor", (False, True)))
        units.append(_Unit(label, tuple(slots), tuple(anchors), render))
    return tuple(decisions), tuple(units)


def _with_skip(layer_text: str, sources: Sequence[int]) -> str:
    return f"{layer_text[:-1]},skip={'+'.join(map(str, sources))})"


def _resolved(arch: Arch) -> tuple[float, tuple[Layer, ...]]:
    """The network an Arch describes, independent of how it is spelt: inherited norm and
    activation written into every layer (``norm=ln conv(8)`` == ``conv(8,norm=ln)``)."""
    s = arch.settings
    layers = tuple(
        Layer(layer.op, tuple((k, (s.norm if k == "norm" else s.act) if k in ("norm", "act") and v is None else v)
                              for k, v in layer.args), layer.skip)
        for layer in arch.layers
    )
    return s.eps, layers


def _settings_text(settings: Settings) -> str:
    return " ".join(f"{p.name}={p.kind.format(getattr(settings, p.name))}" for p in SETTINGS_PARAMS
                    if getattr(settings, p.name) != p.default)


# ---------------------------------------------------------------------------
# The search space
# ---------------------------------------------------------------------------


class SearchSpace:
    """A space of architectures: decisions, decode/encode, validity, sampling.

    Build one with :meth:`load` (a file, or the name of a shipped space) or :meth:`loads`
    (YAML text). See the module docstring for the schema.

    >>> space = SearchSpace.load("digits")
    >>> space.size
    20736
    >>> choices = space.encode("conv(16,3) basic(32) conv(64,3,stride=2) gap")
    >>> choices, space.is_valid(choices)
    ((1, 1, 0, 0, 0, 0, 1, 0, 0, 1), True)
    """

    def __init__(self, spec: SpaceSpec, *, path: Path | None = None, hash: str = ""):
        self.spec = spec
        self.path = path
        self.hash = hash  # sha256 of the file's bytes, recorded by exports
        self.decisions, self._units = _compile(spec)
        self._stem_len = len(parse(spec.stem).layers) if spec.stem else 0
        self._settings = parse(spec.stem).settings if spec.stem else Settings()
        self._candidates_cache: dict[int, list] = {}
        # Per-instance caches (strategies call is_valid repeatedly with the same choices).
        self._arch = functools.lru_cache(maxsize=65536)(self._arch_uncached)
        self._valid = functools.lru_cache(maxsize=1 << 18)(self._valid_uncached)
        self._segment_cost = functools.lru_cache(maxsize=1 << 16)(self._segment_cost_uncached)

    # -- construction -------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> "SearchSpace":
        """Load a space file, or a shipped space by bare name (``"digits"``)."""
        p = locate(path)
        try:
            data = p.read_bytes()
        except OSError as e:
            raise SpaceError(f"{path}: cannot read the search space: {e.strerror or e}") from None
        return cls.loads(data, source=str(path) if Path(path) == p else _display(p), path=p)

    @classmethod
    def loads(cls, text: str | bytes, source: str = "<string>", *, path: Path | None = None) -> "SearchSpace":
        """A space from YAML text; ``source`` names it in error messages."""
        raw = text.encode() if isinstance(text, str) else bytes(text)
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise SpaceError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except yaml.YAMLError as e:
            raise SpaceError(f"{source}: invalid YAML: {_yaml_message(e)}") from None
        return cls(parse_spec(data, source), path=path, hash=hashlib.sha256(raw).hexdigest())

    # -- what the file says -------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.spec.input

    @property
    def num_classes(self) -> int:
        return self.spec.classes

    @property
    def dataset(self) -> str | None:
        return self.spec.dataset

    @property
    def constraints(self) -> Constraints:
        return self.spec.constraints

    @property
    def size(self) -> int:
        """Number of choice vectors: the exact product of the option counts."""
        return math.prod(len(d.options) for d in self.decisions)

    def __repr__(self) -> str:
        return f"SearchSpace({self.name!r}, decisions={len(self.decisions)}, size={self.size})"

    # -- choices <-> architectures ------------------------------------------------

    def decode(self, choices: Sequence[int]) -> str:
        """The canonical architecture string of a choice vector (one option index per decision)."""
        return str(self._arch(self._check(choices)))

    def encode(self, arch: str | Arch) -> tuple[int, ...]:
        """The choice vector of an architecture in the space; ``SpaceError`` if it is not in it.

        ``decode(encode(s)) == str(parse(s))`` for every ``s`` the space can decode. A string
        that spells the same network differently (``norm=ln conv(8,3)`` for
        ``conv(8,3,norm=ln)``) encodes too, and decodes to the space's spelling.
        """
        target = parse(arch)
        want = _resolved(target)
        layers = want[1]
        stem = _resolved(parse(self.spec.stem))[1] if self.spec.stem else ()
        head = self._head_layers()
        shown = str(target)
        if want[0] != self._settings.eps:
            raise SpaceError(f"{shown!r} is not in space {self.name!r}: its norm eps is {want[0]}, "
                             f"the space's {self._settings.eps}")
        if layers[:len(stem)] != stem:
            raise SpaceError(f"{shown!r} is not in space {self.name!r}: it does not start with the stem "
                             f"{self.spec.stem!r}")
        if len(layers) < len(stem) + len(head) or (head and layers[len(layers) - len(head):] != head):
            raise SpaceError(f"{shown!r} is not in space {self.name!r}: it does not end with the head "
                             f"{self.spec.head!r}")
        middle = layers[len(stem):len(layers) - len(head)]
        trace = {"pos": 0, "unit": 0, "skips": False}  # the deepest failure, for the message
        for choices in self._matches(middle, trace):
            if _resolved(self._arch(choices)) == want:
                return choices
        pos, u = trace["pos"], trace["unit"]
        if trace["skips"]:
            where = ("its skip= connections are not anchors of the space (a unit's first layer may take "
                     "the outputs of units at least two before it)" if self.spec.anchors
                     else "it has skip= connections and the space has no anchors")
        elif u >= len(self._units):
            where = f"layers from position {self._stem_len + pos + 1} on are left over after the last unit"
        elif pos >= len(middle):
            where = f"it ends before {self._units[u].label}"
        else:
            where = (f"no option of {self._units[u].label} matches from layer {self._stem_len + pos + 1} "
                     f"({middle[pos]})")
        raise SpaceError(f"{shown!r} is not in space {self.name!r}: {where}")

    # -- validity and sampling ----------------------------------------------------

    def is_valid(self, choices: Sequence[int]) -> bool:
        """False when the decoded architecture cannot be built for the space's input or breaks
        the constraints (params / MACs as ``nas.summarize`` counts them). Cached."""
        return self._valid(self._check(choices))

    def cost(self, choices: Sequence[int]) -> tuple[int, int]:
        """``(params, macs)`` of the decoded architecture, equal to ``nas.summarize``'s totals;
        ``ArchError`` when it cannot be built."""
        arch = self._arch(self._check(choices))
        return self._cost(arch, infer_shapes(arch, self.input_shape))

    def sample(self, rng: random.Random | int, max_tries: int = MAX_TRIES) -> tuple[int, ...]:
        """A choice vector drawn uniformly from the valid ones: each decision uniformly, redrawn
        until ``is_valid`` (rejection sampling). ``rng`` is a ``random.Random`` (an int seeds one)."""
        if isinstance(rng, int) and not isinstance(rng, bool):
            rng = random.Random(rng)
        if not isinstance(rng, random.Random):
            raise SpaceError(f"sample() takes a random.Random or an int seed, got {type(rng).__name__}")
        counts = [len(d.options) for d in self.decisions]
        for _ in range(max_tries):
            choices = tuple(rng.randrange(n) for n in counts)
            if self.is_valid(choices):
                return choices
        raise SpaceError(f"space {self.name!r}: {max_tries} random architectures in a row were invalid; "
                         "its constraints (max_params / max_macs) admit too little of it")

    # -- internals ----------------------------------------------------------------

    def _check(self, choices: Sequence[int]) -> tuple[int, ...]:
        try:
            c = tuple(operator.index(x) for x in choices)
        except TypeError:
            raise SpaceError(f"choices must be a sequence of whole numbers, got {choices!r}") from None
        if len(c) != len(self.decisions):
            raise SpaceError(f"space {self.name!r} has {len(self.decisions)} decisions, got {len(c)} choices")
        for d, x in zip(self.decisions, c):
            if not 0 <= x < len(d.options):
                raise SpaceError(f"choice {x} for {d.name!r} is out of range: it has {len(d.options)} options "
                                 f"(0 to {len(d.options) - 1})")
        return c

    def _arch_uncached(self, choices: tuple[int, ...]) -> Arch:
        parts = [self.spec.stem] if self.spec.stem else []
        pos = self._stem_len
        ends: list[int] = []  # position of each unit's last layer (what its anchor refers to)
        for unit in self._units:
            values = {k: opts[0] if i is None else opts[choices[i]] for k, opts, i in unit.fields}
            layers = unit.render(values)
            sources = [ends[a - 1] for a, i in unit.anchors if choices[i]]
            if sources:
                layers[0] = _with_skip(layers[0], sources)
            parts += layers
            pos += len(layers)
            ends.append(pos)
        if self.spec.head:
            parts.append(self.spec.head)
        return parse(" ".join(parts))

    def _valid_uncached(self, choices: tuple[int, ...]) -> bool:
        arch = self._arch(choices)
        limits = self.spec.constraints
        try:
            infos = infer_shapes(arch, self.input_shape)
            if limits.max_params is None and limits.max_macs is None:
                return True
            params, macs = self._cost(arch, infos)
        except ArchError:
            return False
        return ((limits.max_params is None or params <= limits.max_params)
                and (limits.max_macs is None or macs <= limits.max_macs))

    def _cost(self, arch: Arch, infos) -> tuple[int, int]:
        # A layer's parameters and MACs depend only on the layer and its input shape, so the
        # totals are sums over layers, each measured once by summarize and cached. Layers on
        # flat vectors (dropout, fc) join the segment before them: summarize needs a (C,H,W) input.
        starts = [k for k, info in enumerate(infos) if k == 0 or len(info.in_shape) == 3]
        params = macs = 0
        head = (0, 0)
        for a, b in zip(starts, starts[1:] + [len(infos)]):
            layers = (dataclasses.replace(infos[a].layer, skip=()),) + tuple(info.layer for info in infos[a + 1:b])
            p, m, *head = self._segment_cost(layers, arch.settings, infos[a].in_shape)
            params, macs = params + p, macs + m
        return params + head[0], macs + head[1]

    def _segment_cost_uncached(self, layers: tuple[Layer, ...], settings: Settings, in_shape) -> tuple[int, ...]:
        rows = summarize(Arch(layers, settings), in_shape, self.num_classes).layers
        return (sum(r.params for r in rows[:-1]), sum(r.macs for r in rows[:-1]), rows[-1].params, rows[-1].macs)

    def _head_layers(self) -> tuple[Layer, ...]:
        if not self.spec.head:
            return ()
        return _resolved(parse(f"{_settings_text(self._settings)} {self.spec.head}"))[1]

    def _candidates(self, u: int) -> list[tuple[tuple[int, ...], tuple[Layer, ...]]]:
        """Every option combination of unit ``u`` with its layers (resolved, without anchors)."""
        if u not in self._candidates_cache:
            unit = self._units[u]
            chosen = [(k, opts) for k, opts, i in unit.fields if i is not None]
            fixed = {k: opts[0] for k, opts, i in unit.fields if i is None}
            prefix = _settings_text(self._settings)
            out = []
            for combo in itertools.product(*(range(len(opts)) for _, opts in chosen)):
                values = dict(fixed, **{k: opts[c] for (k, opts), c in zip(chosen, combo)})
                out.append((combo, _resolved(parse(f"{prefix} {' '.join(unit.render(values))}"))[1]))
            self._candidates_cache[u] = out
        return self._candidates_cache[u]

    def _matches(self, middle: tuple[Layer, ...], trace: dict) -> Iterator[tuple[int, ...]]:
        """Choice vectors whose units spell ``middle`` (depth-first, options in order)."""
        picks: list[tuple[tuple[int, ...], int, tuple[int, ...]]] = []  # (combo, end, skip) per unit

        def fail(pos: int, u: int) -> None:
            if pos >= trace["pos"]:
                trace.update(pos=pos, unit=u)

        def walk(u: int, pos: int) -> Iterator[tuple[int, ...]]:
            if u == len(self._units):
                if pos < len(middle):
                    fail(pos, u)
                elif (c := self._assemble(picks)) is not None:
                    yield c
                else:
                    trace["skips"] = True
                return
            matched = False
            for combo, layers in self._candidates(u):
                n = len(layers)
                seg = middle[pos:pos + n]
                if len(seg) == n and dataclasses.replace(seg[0], skip=()) == layers[0] and seg[1:] == layers[1:]:
                    matched = True
                    picks.append((combo, self._stem_len + pos + n, seg[0].skip))
                    yield from walk(u + 1, pos + n)
                    picks.pop()
            if not matched:
                fail(pos, u)

        yield from walk(0, 0)

    def _assemble(self, picks) -> tuple[int, ...] | None:
        """The choice vector of one unit-by-unit match, or None if its skips are not anchors."""
        choices = [0] * len(self.decisions)
        ends = [end for _, end, _ in picks]
        for unit, (combo, _, skip) in zip(self._units, picks):
            for (_, _, i), c in zip([f for f in unit.fields if f[2] is not None], combo):
                choices[i] = c
            allowed = {ends[a - 1]: i for a, i in unit.anchors}
            if any(s not in allowed for s in skip):
                return None
            for s in skip:
                choices[allowed[s]] = 1
        return tuple(choices)


def _yaml_message(e: yaml.YAMLError) -> str:
    problem = getattr(e, "problem", None)
    mark = getattr(e, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(e).split())


def _display(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def shipped() -> dict[str, Path]:
    """Names of the shipped spaces (``search_spaces/*.yaml``) and their files."""
    out: dict[str, Path] = {}
    for d in SPACE_DIRS:
        if d.is_dir():
            for f in sorted(d.glob("*.yaml")):
                out.setdefault(f.stem, f)
    return dict(sorted(out.items()))


def locate(path: str | Path) -> Path:
    """A path to a space file: ``path`` itself if it exists, else a shipped space by name."""
    p = Path(path)
    if p.is_file():
        return p
    name = p.name[:-5] if p.name.endswith(".yaml") else p.name
    if len(p.parts) == 1 and name in shipped():  # a bare name wins over a folder of that name
        return shipped()[name]
    if p.exists():
        return p  # a folder: reading it fails with a clear message
    if len(p.parts) == 1:  # a bare word is most likely a shipped name, misspelt
        from .registry import suggest

        raise SpaceError(f"{path}: no such search space file or shipped space{suggest(name, shipped())}")
    raise SpaceError(f"{path}: no such search space file (shipped spaces: {', '.join(shipped()) or 'none'})")
