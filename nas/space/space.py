"""A search space: decisions compiled from a :class:`~.schema.SpaceSpec`, and choice vectors
<-> architectures (decode, encode), validity under the constraints, uniform sampling.
Decisions, kinds and anchors: docs/search-spaces.md."""
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

from .._util import load_yaml, read_bounded
from ..errors import ArchError, SpaceError
from ..lang import Arch, Layer, Settings, make_arch, parse
from ..limits import LIMITS
from ..nn import infer_shapes, summarize
from ..registry import suggest
from .schema import Constraints, SpaceSpec, parse_spec
from .templates import stage_layers


@dataclass(frozen=True)
class Decision:
    """One choice point: the controller makes one decision per step (Zoph & Le 2017, Sec. 3.1).

    ``kind`` groups decisions that share a softmax head and an embedding table in the
    LSTM controller ("one softmax head per decision type"), e.g. ``"filters"``,
    ``"kernel"``, ``"block"``, ``"skip"``. All decisions of one kind have the same
    number of options. ``unit`` is the 1-based stage or layer the decision belongs to; an
    anchor also names the earlier unit it may take as an input (``source``). Both are None
    where a space has no such structure; the controller's anchor attention needs them.
    """

    name: str
    kind: str
    options: tuple
    unit: int | None = None
    source: int | None = None


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
_PACKAGE = Path(__file__).resolve().parents[1]
SPACE_DIRS = (_PACKAGE / "search_spaces", _PACKAGE.parent / "search_spaces")


@dataclass(frozen=True)
class _Unit:
    """A stage or a layer: its fields (each with its options and the index of its decision,
    None when fixed), its anchors ``(i, decision index)``, and how values become layers."""

    label: str
    fields: tuple[tuple[str, tuple, int | None], ...]
    anchors: tuple[tuple[int, int], ...]
    render: Callable[[Mapping[str, Any]], list[Layer]]


@dataclass(frozen=True)
class UnitLayout:
    """Where one unit (a stage, or a layer of a layer-wise space) sits in a decoded
    architecture: what ``SearchSpace.layout`` returns per unit, for code that maps a network's
    layers back to the decisions that made them (a weight-sharing supernet keys its shared
    weights by unit, ENAS, Pham et al. 2018).

    ``values`` are the unit's field values (chosen or fixed, e.g. ``{"block": "basic",
    "width": 32, ...}``); ``start``/``end`` the 0-based half-open range of its layers in the
    decoded architecture's layer list (the stem's layers come first); ``sources`` the 1-based
    units whose outputs its anchors take (its first layer's ``skip=``), in order.
    """

    label: str
    values: Mapping[str, Any]
    start: int
    end: int
    sources: tuple[int, ...] = ()


def _render_stage(v: Mapping[str, Any]) -> list[Layer]:
    return stage_layers(v["block"], v["width"], v["repeat"], v["norm"], v["downsample"])


def _render_layer(v: Mapping[str, Any]) -> list[Layer]:
    h, w = v["filter_height"], v["filter_width"]
    return [Layer.make("conv", v["filters"], h if h == w else (h, w), stride=v["stride"], norm=v["norm"])]


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
                decisions.append(Decision(f"{label}.{k}", kind, tuple(opts), unit=j))
            slots.append((k, tuple(opts), index))
        anchors = []
        if spec.anchors:
            for i in range(1, j - 1):
                anchors.append((i, len(decisions)))
                decisions.append(Decision(f"{label}.anchor{i}", "anchor", (False, True), unit=j, source=i))
        units.append(_Unit(label, tuple(slots), tuple(anchors), render))
    return tuple(decisions), tuple(units)


def _resolved(arch: Arch) -> tuple[tuple[float, str], tuple[Layer, ...]]:
    """The network an Arch describes, independent of how it is spelt: ((eps, init), layers)
    with the inherited norm and activation written into every layer (``norm=ln conv(8)`` ==
    ``conv(8,norm=ln)``)."""
    s = arch.settings
    layers = tuple(
        Layer(layer.op, tuple((k, (s.norm if k == "norm" else s.act) if k in ("norm", "act") and v is None else v)
                              for k, v in layer.args), layer.skip)
        for layer in arch.layers
    )
    return (s.eps, s.init), layers


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

    def __init__(self, spec: SpaceSpec, *, path: Path | None = None, hash: str = "", source: str | None = None):
        self.spec = spec
        self.path = path
        self.hash = hash  # sha256 of the file's bytes, recorded by exports
        where = source or f"space {spec.name!r}"  # what error messages name
        self.decisions, self._units = _compile(spec)
        _check_decisions(where, self.decisions, self._units)
        stem = parse(spec.stem) if spec.stem else Arch((), Settings())
        self._settings = stem.settings
        self._stem = stem.layers
        self._stem_len = len(stem.layers)
        # The head inherits the stem's settings (norm=ln in the stem makes the head's conv ln too).
        self._head = parse(spec.head, settings=self._settings).layers if spec.head else ()
        self._candidates_cache: dict[int, list] = {}
        # Per-instance caches (strategies call is_valid repeatedly with the same choices).
        self._arch = functools.lru_cache(maxsize=65536)(self._arch_uncached)
        self._valid = functools.lru_cache(maxsize=1 << 18)(self._valid_uncached)
        self._segment_cost = functools.lru_cache(maxsize=1 << 16)(self._segment_cost_uncached)
        _check_largest(where, self)

    # -- construction -------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> "SearchSpace":
        """Load a space file, or a shipped space by bare name (``"digits"``)."""
        p = locate(path)
        source = str(path) if Path(path) == p else _display(p)
        data = read_bounded(p, LIMITS.max_file_bytes, "search space", SpaceError)
        return cls.loads(data, source=source, path=p)

    @classmethod
    def loads(cls, text: str | bytes, source: str = "<string>", *, path: Path | None = None) -> "SearchSpace":
        """A space from YAML text; ``source`` names it in error messages."""
        raw = text.encode() if isinstance(text, str) else bytes(text)
        if len(raw) > LIMITS.max_file_bytes:
            raise SpaceError(f"{source}: {len(raw):,} bytes, more than the limit of {LIMITS.max_file_bytes:,}")
        try:
            data = load_yaml(raw.decode("utf-8"), LIMITS.max_yaml_depth, LIMITS.max_int_digits)
        except UnicodeDecodeError as e:
            raise SpaceError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        except yaml.YAMLError as e:
            raise SpaceError(f"{source}: invalid YAML: {_yaml_message(e)}") from None
        return cls(parse_spec(data, source), path=path, hash=hashlib.sha256(raw).hexdigest(), source=source)

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
        stem = _resolved(Arch(self._stem, self._settings))[1]
        head = _resolved(Arch(self._head, self._settings))[1]
        shown = str(target)
        if want[0] != (self._settings.eps, self._settings.init):
            raise SpaceError(f"{shown!r} is not in space {self.name!r}: its settings eps={want[0][0]} "
                             f"init={want[0][1]} differ from the space's eps={self._settings.eps} "
                             f"init={self._settings.init}")
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

    def layout(self, choices: Sequence[int]) -> tuple[UnitLayout, ...]:
        """Per unit of the space, where its layers lie in ``decode(choices)`` and what made them.

        >>> space = SearchSpace.load("digits")
        >>> [(u.label, u.values["block"], u.start, u.end) for u in space.layout(space.encode(
        ...     "conv(16,3) basic(32) conv(64,3,stride=2) gap"))]
        [('stage1', 'basic', 1, 2), ('stage2', 'conv', 2, 3)]
        """
        return self._layout(self._check(choices))

    # -- validity and sampling ----------------------------------------------------

    def is_valid(self, choices: Sequence[int]) -> bool:
        """False when the decoded architecture cannot be built for the space's input or breaks
        the constraints (params / MACs as ``nas.summarize`` counts them). Cached.
        ``max_latency_ms`` is not checked here: latency must be measured, which is too slow
        for rejection sampling, so the search checks it per proposal (docs/search-spaces.md)."""
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
        out = list(self._stem)
        ends: list[int] = []  # position of each unit's last layer (what its anchor refers to)
        for unit in self._units:
            values = {k: opts[0] if i is None else opts[choices[i]] for k, opts, i in unit.fields}
            layers = unit.render(values)
            sources = [ends[a - 1] for a, i in unit.anchors if choices[i]]
            if sources:
                layers[0] = dataclasses.replace(layers[0], skip=tuple(sources))
            out += layers
            ends.append(len(out))
        return make_arch(out + list(self._head), self._settings)

    def _layout(self, choices: tuple[int, ...]) -> tuple[UnitLayout, ...]:
        # The walk of _arch_uncached, recording each unit's range instead of building the Arch.
        out: list[UnitLayout] = []
        pos = self._stem_len
        for unit in self._units:
            values = {k: opts[0] if i is None else opts[choices[i]] for k, opts, i in unit.fields}
            n = len(unit.render(values))
            sources = tuple(a for a, i in unit.anchors if choices[i])
            out.append(UnitLayout(unit.label, values, pos, pos + n, sources))
            pos += n
        return tuple(out)

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

    def _candidates(self, u: int) -> list[tuple[tuple[int, ...], tuple[Layer, ...]]]:
        """Every option combination of unit ``u`` with its layers (resolved, without anchors)."""
        if u not in self._candidates_cache:
            unit = self._units[u]
            chosen = [(k, opts) for k, opts, i in unit.fields if i is not None]
            fixed = {k: opts[0] for k, opts, i in unit.fields if i is None}
            out = []
            for combo in itertools.product(*(range(len(opts)) for _, opts in chosen)):
                values = dict(fixed, **{k: opts[c] for (k, opts), c in zip(chosen, combo)})
                out.append((combo, _resolved(make_arch(unit.render(values), self._settings))[1]))
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


# ---------------------------------------------------------------------------------------
# Bounds of a whole space (nas.limits): checked when it is built, before anything samples it.
# ---------------------------------------------------------------------------------------


def _check_decisions(where: str, decisions: Sequence[Decision], units: Sequence[_Unit]) -> None:
    """The space's size as a float (``nas search`` shows it so), and each unit's option
    combinations (``encode`` enumerates them unit by unit)."""
    bits = sum(math.log2(len(d.options)) for d in decisions)
    if bits > LIMITS.max_size_bits:
        raise SpaceError(f"{where}: its size is about 2^{bits:.0f} architectures, above the limit of "
                         f"2^{LIMITS.max_size_bits}")
    for unit in units:
        combos = math.prod(len(opts) for _, opts, i in unit.fields if i is not None)
        if combos > LIMITS.max_unit_combinations:
            raise SpaceError(f"{where}: {unit.label} has {combos:,} combinations of options, above the limit "
                             f"of {LIMITS.max_unit_combinations:,}")


# How the option of a decision that makes a network largest is picked, by field: larger
# numbers (width, repeat, filters, kernel sides) never make a block smaller; no downsampling
# and the least stride keep feature maps largest; an anchor on adds input channels.
_LARGEST = {"downsample": lambda opts: opts.index(False), "stride": lambda opts: opts.index(min(opts))}


def _field(d: Decision) -> str:
    return d.name.split(".", 1)[1]


def _largest_start(decisions: Sequence[Decision]) -> tuple[list[int], list[int]]:
    """A choice vector with every ordered decision at its largest option, and the indices of
    the unordered ones (block types, norms), which the caller tries one by one."""
    choices, unordered = [], []
    for k, d in enumerate(decisions):
        field = _field(d)
        if d.kind == "anchor":
            choices.append(1)
        elif field in _LARGEST:
            choices.append(_LARGEST[field](list(d.options)))
        elif all(isinstance(o, int) and not isinstance(o, bool) for o in d.options):
            choices.append(d.options.index(max(d.options)))
        else:
            choices.append(0)
            unordered.append(k)
    return choices, unordered


def _max_layers(space: SearchSpace) -> int:
    """Layers of the space's longest candidate: each unit rendered with its numbers at their
    largest and every combination of its other options (a handful: block types x norms x
    downsampling), plus the stem and the head."""
    total = space._stem_len + len(space._head)
    for unit in space._units:
        numeric = {k: max(opts) for k, opts, _ in unit.fields
                   if all(isinstance(o, int) and not isinstance(o, bool) for o in opts)}
        others = [(k, opts) for k, opts, _ in unit.fields if k not in numeric]
        total += max(len(unit.render(dict(numeric, **dict(zip((k for k, _ in others), combo)))))
                     for combo in itertools.product(*(opts for _, opts in others)))
    return total


def _check_largest(where: str, space: SearchSpace) -> None:
    """Refuse a space whose largest candidate passes the limits on layers, parameters, MACs or
    activations.

    Layers are counted exactly (:func:`_max_layers`). Parameters, MACs and activations (the
    elements of all layer outputs for one input) are measured on one candidate built to be
    largest: every ordered decision at its largest option, then each unordered decision
    (block type, norm) in turn set to the option that brings the candidate closest to a limit. Costs are monotone in the ordered options, so this is the largest
    candidate up to the interplay of unordered choices; a candidate that cannot be built is
    passed over (a space none of whose probes can be built is left to ``is_valid``), and
    :func:`nas.nn.check_size` still refuses any oversized candidate before it is built."""
    if space.spec in _WITHIN_LIMITS:
        return
    layers = _max_layers(space)
    if layers > LIMITS.max_layers:
        raise SpaceError(f"{where}: its longest candidate has {layers:,} layers, above the limit of "
                         f"{LIMITS.max_layers:,} (nas.limits)")
    choices, unordered = _largest_start(space.decisions)

    def load(c: list[int]) -> float | None:
        try:
            arch = space._arch(space._check(c))
            infos = infer_shapes(arch, space.input_shape)
            params, macs = space._cost(arch, infos)
        except ArchError:
            return None
        acts = sum(math.prod(info.out_shape) for info in infos)
        for what, value, limit in (("parameters", params, LIMITS.max_params), ("MACs", macs, LIMITS.max_macs),
                                   ("activations per input", acts, LIMITS.max_activations)):
            if value > limit:
                shown = space.decode(c)
                shown = shown if len(shown) <= 80 else shown[:77] + "..."
                raise SpaceError(f"{where}: its candidate {shown!r} has {value:,} {what}, above the limit of "
                                 f"{limit:,} (nas.limits)")
        return max(params / LIMITS.max_params, macs / LIMITS.max_macs, acts / LIMITS.max_activations)

    if load(choices) is None:  # joining maps of different sizes: try again without anchors
        choices = [0 if d.kind == "anchor" else c for d, c in zip(space.decisions, choices)]
        load(choices)
    for k in unordered:
        best = (-1.0, choices[k])
        for option in range(len(space.decisions[k].options)):
            score = load(choices[:k] + [option] + choices[k + 1:])
            if score is not None and score > best[0]:
                best = (score, option)
        choices[k] = best[1]
    if len(_WITHIN_LIMITS) >= 1024:  # a long fuzz run builds many specs: keep the memory small
        _WITHIN_LIMITS.clear()
    _WITHIN_LIMITS.add(space.spec)


# Specs already found within the limits: the probes cost a few hundred milliseconds, and a
# process (the tests, a search's workers) loads the same space again and again.
_WITHIN_LIMITS: set[SpaceSpec] = set()


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
        raise SpaceError(f"{path}: no such search space file or shipped space{suggest(name, shipped())}")
    raise SpaceError(f"{path}: no such search space file (shipped spaces: {', '.join(shipped()) or 'none'})")
