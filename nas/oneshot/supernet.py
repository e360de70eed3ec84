"""A weight-sharing supernet: one set of weights for every architecture of a search space, so
that any architecture (a choice vector) runs as a path through it, and its weights can be
copied into the stand-alone model with identical outputs.

ENAS (Pham et al. 2018, Sec. 2) shares the weights of all the candidates of a space in one
large model and trains them on the paths a controller samples; Once-for-All (Cai et al. 2020,
Sec. 3.2) and BigNAS (Yu et al. 2020, Sec. 3) share them elastically: a narrower, shallower or
smaller-kernel candidate uses the leading channels, the first blocks and the centre of the
kernels of the largest one. Both recalibrate batch-norm statistics per candidate before
evaluating it (Cai et al. Sec. 3.2 end; Yu et al. Sec. 3.4).

How a path runs. Blocks are not written twice: a path is the stand-alone ``Network`` of the
decoded architecture, built on the meta device (no memory) and run with
``torch.func.functional_call``, each of its parameters a differentiable view (a slice, or a
gather for anchors) of a *master* tensor. So a path computes exactly what ``nas.build`` of
its architecture computes with the same weights, and its gradients flow into the masters.

Which master a parameter views is its **key**:

- a stem layer's: ``("stem", position, name)``; a head layer's (after the last unit, e.g.
  ``gap``): ``("head", position, name)``; the classifier's: ``("classifier", "weight")``;
- a unit's (a stage of a macro space, a layer of a layer-wise one): ``(label, block type or
  "", position among the unit's layers that have parameters, name)``, plus the norm's name
  when the parameter belongs to a normalization layer. So the first k blocks of a stage are
  its first k of any depth (elastic depth), a ``maxpool`` before a strided block shifts
  nothing, block types share nothing, and batch norm and layer norm share the convolutions
  but not their own affine weights.

A master's shape is the elementwise largest the key takes over the space; a path's tensor is
its leading slice on every dim, except the spatial dims of a conv weight, which take the
centre (Once-for-All's elastic kernel: the 3x3 kernel is the centre of the 7x7; each side on
its own, so 3x5 is the centre of 7x7 too). Anchors (``skip=``, Zoph & Le 2017 Sec. 3.3) are
masks on a concatenation: the master of an anchored unit's first conv has one input segment
for the previous unit and one per unit it may take, each as wide as that unit's widest
output; a path gathers the segments of the inputs it takes, in order (ENAS Sec. 2.2).

>>> from nas.space import SearchSpace
>>> space = SearchSpace.load("digits")
>>> net = Supernet(space, seed=0)
>>> choices = space.sample(0)
>>> x = torch.randn(4, 1, 8, 8)
>>> model = net.extract(choices)            # the path's weights in a stand-alone nas.build model
>>> torch.allclose(net(choices, x), model(x), atol=1e-5)
True
"""
from __future__ import annotations

import copy
import math
import operator
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call

from ..errors import ArchError, SpaceError
from ..lang import Arch, Layer, Settings, parse
from ..limits import LIMITS
from ..nn import Network, check_size, infer_shapes
from ..nn.init import init_weights
from ..space import SearchSpace

__all__ = ["Anchors", "Supernet", "SupernetPlan", "check_fits", "device_memory", "plan_supernet"]

Key = tuple  # see the module docstring
Shape = tuple

# A parameter of one of these belongs to its norm's own master (batch norm and layer norm
# share the convolutions of a unit, not their scales and shifts).
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)

# Paths (and their meta-device models) kept ready: ENAS samples a new architecture nearly every
# step of a large space, while a small space or a population revisits its few hundred.
PATH_CACHE = 256


# ---------------------------------------------------------------------------------------
# The plan: every master's shape, computed on the meta device (nothing allocated).
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchors:
    """The input segments of an anchored unit's first conv: the previous unit's (the first
    ``prev`` channels), then one per unit it may take: ``(source unit, offset, width)``."""

    prev: int
    sources: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class SupernetPlan:
    """The masters of a space's supernet, without a tensor: each key's shape, the kind of
    module its parameter belongs to (for initialization), the anchor segments, and the
    space's init scheme.

    >>> plan = plan_supernet(SearchSpace.load("zoph2017"))
    >>> plan.params, plan.shapes[("layer15", "", 0, "conv.weight")]
    (21085898, (64, 896, 7, 7))
    """

    space: str
    shapes: Mapping[Key, Shape]
    kinds: Mapping[Key, str]
    anchors: Mapping[str, Anchors] = field(default_factory=dict)
    init: str = "resnet"

    @property
    def params(self) -> int:
        """Elements of all the masters together."""
        return sum(math.prod(s) for s in self.shapes.values())

    def bytes(self, states: int = 1) -> int:
        """float32 bytes of the masters, their gradients and ``states`` optimizer slots per
        weight (SGD with momentum: 1; Adam: 2)."""
        return 4 * self.params * (2 + states)

    @staticmethod
    def name(key: Key) -> str:
        """The key as a ``state_dict``-safe name, the same in every process:
        ``("stage1", "basic", 0, "conv1.conv.weight")`` -> ``"stage1/basic/0/conv1:conv:weight"``.
        Labels, block and norm names are words, so the spelling is one-to-one."""
        return "/".join(str(p).replace(".", ":") if p != "" else "-" for p in key)


def _name_slot(key: Key) -> int:
    """Where the parameter name sits in a key (see the module docstring)."""
    return 1 if key[0] == "classifier" else 2 if key[0] in ("stem", "head") else 3


def _key(where: tuple, rest: str, is_norm: bool, norm: str) -> Key:
    """``where`` is ``("stem", i)``, ``("head", j)`` or ``(label, block, position)``; only a
    unit's norm parameters carry the norm's name (the stem and head are fixed)."""
    return (*where, rest, norm) if is_norm and len(where) == 3 else (*where, rest)


def _params_of(module: nn.Module):
    """``(name, tensor, owning module)`` of every parameter of one layer's module."""
    for rest, p in module.named_parameters():
        yield rest, p, module.get_submodule(rest.rpartition(".")[0])


_LAYER_PARAMS: "OrderedDict[tuple, tuple]" = OrderedDict()


def _layer_params(layer: Layer, settings: Settings, in_shape: Shape, out_shape: Shape) -> tuple:
    """``(name, shape, owner class, is a norm)`` of every parameter of one layer built on
    ``in_shape``, from a meta-device build (cached). A layer from maps to maps (every block)
    is built from its input channels alone, so only its channel count keys the cache."""
    arch = Arch((layer,), settings)
    memo = (layer, settings, in_shape[0] if len(in_shape) == 3 and len(out_shape) == 3 else in_shape)
    if memo in _LAYER_PARAMS:
        _LAYER_PARAMS.move_to_end(memo)
        return _LAYER_PARAMS[memo]
    try:
        with torch.device("meta"):
            module = layer.spec.build(layer, in_shape, out_shape, arch)
    except ValueError as e:  # a block's own check (nas.nn.builder does the same)
        raise ArchError(str(e)) from None
    out = tuple((rest, tuple(p.shape), type(owner).__name__, isinstance(owner, _NORMS))
                for rest, p, owner in _params_of(module))
    _LAYER_PARAMS[memo] = out
    if len(_LAYER_PARAMS) > 1 << 14:
        _LAYER_PARAMS.popitem(last=False)
    return out


class _Shapes:
    """Elementwise maxima of the shapes each key takes, and each key's module kind."""

    def __init__(self):
        self.shapes: dict[Key, Shape] = {}
        self.kinds: dict[Key, str] = {}

    def add(self, key: Key, shape: Shape, kind: str) -> None:
        old = self.shapes.get(key)
        if old is not None and len(old) != len(shape):  # one key, two kinds of tensor: a bug
            raise SpaceError(f"supernet key {key} has shapes {old} and {shape} of different ranks")
        self.shapes[key] = shape if old is None else tuple(map(max, old, shape))
        self.kinds.setdefault(key, kind)

    def chain(self, layers: Sequence[Layer], settings: Settings, in_shape: Shape, where) -> Shape | None:
        """Record the parameters of ``layers`` run on ``in_shape``, ``where(k, pos)`` giving
        the key's leading part for the k-th layer, the pos-th with parameters; the output
        shape, or None if the layers cannot run on that input."""
        arch = Arch(tuple(layers), settings)
        try:
            infos = infer_shapes(arch, in_shape) if layers else []
            built = [_layer_params(i.layer, settings, i.in_shape, i.out_shape) for i in infos]
        except ArchError:
            return None
        pos = 0
        for k, (info, params) in enumerate(zip(infos, built)):
            for rest, shape, kind, is_norm in params:
                self.add(_key(where(k, pos), rest, is_norm, arch.norm_of(info.layer)), shape, kind)
            pos += bool(params)
        return infos[-1].out_shape if infos else tuple(in_shape)


_PLANS: "OrderedDict[Any, SupernetPlan]" = OrderedDict()


def plan_supernet(space: SearchSpace) -> SupernetPlan:
    """The shapes of the masters of ``space``'s supernet, computed without allocating.

    The units are walked in order: the input shapes of the first are the stem's outputs;
    every option combination of a unit (the product of its fields) is run on every input
    shape it can get, and its parameter shapes recorded per key (combinations that cannot be
    built on an input are passed over); the output shapes are the next unit's inputs. Then the
    head and the classifier on the last unit's outputs. An anchored unit's first conv gets
    one input segment per unit it may take (module docstring). Cached per space file contents.
    """
    if space.spec in _PLANS:
        _PLANS.move_to_end(space.spec)
        return _PLANS[space.spec]
    decisions = space.decisions
    base = (0,) * len(decisions)
    arch = parse(space.decode(base))
    settings, layout = arch.settings, space.layout(base)
    if not layout:
        raise SpaceError(f"space {space.name!r} has no stages or layers to share")
    acc = _Shapes()
    stem_end, head_start = layout[0].start, layout[-1].end

    out = acc.chain(arch.layers[:stem_end], settings, space.input_shape, lambda k, pos: ("stem", k))
    if out is None:
        raise SpaceError(f"space {space.name!r}: its stem cannot be built on the input {space.input_shape}")
    ins: set[Shape] = {out}
    widths: list[int] = []  # the widest output of each unit (an anchor segment)
    anchors: dict[str, Anchors] = {}
    for u, unit in enumerate(layout):
        j = u + 1
        fields = [d for d in decisions if d.unit == j and d.kind != "anchor"]
        takes = [d.source for d in decisions if d.unit == j and d.kind == "anchor"]
        outs: set[Shape] = set()
        blocks: set[str] = set()
        # Every option combination of the unit with its layers, as encode() enumerates them:
        # the combination indexes the unit's decisions in order, the layers are the unit's
        # alone (so the walk costs the space's combinations, not times its depth).
        for combo, layers in space._candidates(u):
            chosen = {d.name.rpartition(".")[2]: d.options[c] for d, c in zip(fields, combo)}
            block = dict(unit.values, **chosen).get("block", "")
            blocks.add(block)
            if takes and (layers[0].op != "conv" or layers[0]["groups"] != 1):
                raise SpaceError(f"space {space.name!r}: {unit.label} may start with {layers[0]}, but a supernet "
                                 "joins anchors (skip=) only into a plain conv layer (groups=1)")
            for shape in sorted(ins):
                y = acc.chain(layers, settings, shape, lambda k, pos: (unit.label, block, pos))
                if y is not None:
                    outs.add(y)
        if not outs:
            raise SpaceError(f"space {space.name!r}: no option of {unit.label} can be built on its inputs "
                             f"{sorted(ins)}")
        if takes:
            prev = max(s[0] for s in ins)
            segments, offset = [], prev
            for i in takes:
                segments.append((i, offset, widths[i - 1]))
                offset += widths[i - 1]
            for block in sorted(blocks):  # every candidate starts with a conv (checked above)
                key = (unit.label, block, 0, "conv.weight")
                if key in acc.shapes:
                    o, _, *k = acc.shapes[key]
                    acc.shapes[key] = (o, offset, *k)
            anchors[unit.label] = Anchors(prev, tuple(segments))
        widths.append(max(s[0] for s in outs))
        ins = outs

    head = arch.layers[head_start:]
    finals = {y for s in sorted(ins) if (y := acc.chain(head, settings, s, lambda k, pos: ("head", k))) is not None}
    if not finals:
        raise SpaceError(f"space {space.name!r}: its head cannot be built on the last unit's outputs")
    for y in finals:
        acc.add(("classifier", "weight"), (space.num_classes, math.prod(y)), "Linear")
        acc.add(("classifier", "bias"), (space.num_classes,), "Linear")
    plan = SupernetPlan(space.name, acc.shapes, acc.kinds, anchors, settings.init)
    _PLANS[space.spec] = plan
    if len(_PLANS) > 64:
        _PLANS.popitem(last=False)
    return plan


# ---------------------------------------------------------------------------------------
# Whether it fits: checked before a tensor is allocated.
# ---------------------------------------------------------------------------------------


def device_memory(device: str | torch.device) -> int | None:
    """Bytes of memory of ``device``: the machine's RAM for the CPU, the card's for CUDA;
    None where it cannot be told (then only the parameter bound applies)."""
    d = torch.device(device)
    try:
        if d.type == "cpu":
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if d.type == "cuda":
            return torch.cuda.mem_get_info(d if d.index is not None else None)[1]
    except (ValueError, OSError, AttributeError, RuntimeError, AssertionError):  # no such device here
        return None
    return None


def check_fits(plan: SupernetPlan, device: str | torch.device = "cpu", states: int = 1) -> None:
    """Refuse, with one line naming the supernet's size and the bound, a supernet above
    ``LIMITS.max_supernet_params`` or whose weights, gradients and ``states`` optimizer
    slots (:meth:`SupernetPlan.bytes`) take more than half the memory of ``device``."""
    need = plan.bytes(states)
    size = f"{plan.params:,} parameters, {need / 2**30:.2f} GiB with gradients and {states} optimizer slot(s)"
    if plan.params > LIMITS.max_supernet_params:
        raise SpaceError(f"space {plan.space!r}: its supernet has {size}, above the limit of "
                         f"{LIMITS.max_supernet_params:,} parameters (nas.limits)")
    memory = device_memory(device)
    if memory is not None and need > memory / 2:
        raise SpaceError(f"space {plan.space!r}: its supernet has {size}, more than half the "
                         f"{memory / 2**30:.2f} GiB of memory of {torch.device(device)}")


# ---------------------------------------------------------------------------------------
# Initialization of the masters.
# ---------------------------------------------------------------------------------------


def _stand_in(kind: str, shapes: Mapping[str, Shape]) -> nn.Module:
    """A CPU module of the master's shape, for the init scheme to fill as it fills a built one."""
    w = shapes["weight"]
    bias = "bias" in shapes
    if kind == "Conv2d":
        return nn.Conv2d(w[1], w[0], tuple(w[2:]), bias=bias)
    if kind == "Linear":
        return nn.Linear(w[1], w[0], bias=bias)
    if kind == "BatchNorm2d":
        return nn.BatchNorm2d(w[0])
    if kind == "GroupNorm":
        return nn.GroupNorm(1, w[0])
    if kind == "InstanceNorm2d":
        return nn.InstanceNorm2d(w[0], affine=True)
    raise SpaceError(f"the supernet has no rule to initialize the weights of a {kind}")


def _init_masters(plan: SupernetPlan, seed: int) -> dict[str, torch.Tensor]:
    """Every master, initialized by the space's ``init=`` scheme (nas/nn/init.py) as if it were
    the parameter of a module of the master's shape, on the CPU from ``seed`` alone.

    Why that: the largest path then starts exactly as the scheme starts its stand-alone
    model, and the others from its leading slices and kernel centres, as Once-for-All and
    BigNAS derive every sub-network from the largest (Cai et al. 2020 Sec. 3.2; Yu et al.
    2020 Sec. 3). A fan-out scheme ("resnet") counts the widest output and kernel, so a
    narrower path's weights are somewhat smaller than a fresh model's; batch norm after
    every conv undoes the scale. The CPU generator makes the weights the same on every
    device and in every process."""
    groups: dict[Key, dict[str, Key]] = {}  # owning module -> its parameters, in plan order
    for key in plan.shapes:
        i = _name_slot(key)
        owner, _, attr = key[i].rpartition(".")
        groups.setdefault((*key[:i], owner, *key[i + 1:]), {})[attr] = key
    out: dict[str, torch.Tensor] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for attrs in groups.values():
            keys = list(attrs.values())
            module = _stand_in(plan.kinds[keys[0]], {a: plan.shapes[k] for a, k in attrs.items()})
            init_weights(module, plan.init)
            for attr, key in attrs.items():
                t = getattr(module, attr).detach()
                out[plan.name(key)] = t[tuple(slice(0, n) for n in plan.shapes[key])].contiguous()
    return out


# ---------------------------------------------------------------------------------------
# Paths: which slice of which master each parameter of an architecture is.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """One parameter of a path: its name in the stand-alone model, its master, the slice of
    every dim, and for an anchored conv the master's input channels to gather (dim 1)."""

    name: str
    master: str
    slices: tuple[slice, ...]
    gather: tuple[int, ...] | None = None


@dataclass
class _Path:
    arch: str
    meta: Network
    views: tuple[_View, ...]
    buffers: tuple[tuple[str, Shape, torch.dtype], ...]
    index: dict = field(default_factory=dict)  # (view name, device) -> gather index tensor


# Fresh values of the running statistics a norm layer keeps (those of a new nn.BatchNorm2d).
_FRESH = {"running_mean": torch.zeros, "running_var": torch.ones, "num_batches_tracked": torch.zeros}


class Supernet(nn.Module):
    """The weights of every architecture of ``space``, each run as a path (module docstring).

    The masters are its only parameters (``masters``, named by :meth:`SupernetPlan.name`), so
    an optimizer over ``net.parameters()`` trains every path, and ``state_dict`` round-trips
    into a new supernet of the same space. The constructor refuses an oversized supernet
    (:func:`check_fits`, ``states`` optimizer slots per weight) before allocating it.

    In train mode a path's batch norms use batch statistics (running statistics are thrown
    away); in eval mode they need ``stats=``, from :meth:`calibrate`.
    """

    def __init__(self, space: SearchSpace | str, device: str | torch.device = "cpu", seed: int = 0, *,
                 states: int = 1):
        super().__init__()
        self.space = space if isinstance(space, SearchSpace) else SearchSpace.load(space)
        self.plan = plan_supernet(self.space)
        check_fits(self.plan, device, states)
        masters = _init_masters(self.plan, seed)
        self.masters = nn.ParameterDict({k: nn.Parameter(t.to(device)) for k, t in masters.items()})
        self._metas: OrderedDict[str, tuple[Arch, list, Network]] = OrderedDict()
        self._paths: OrderedDict[tuple[int, ...], _Path] = OrderedDict()

    # -- public -------------------------------------------------------------------------

    def forward(self, choices: Sequence[int], x: torch.Tensor,
                stats: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The logits of the path ``choices`` on ``x``: batch statistics in train mode (``stats``
        is not used), the running statistics ``stats`` (from :meth:`calibrate`) in eval mode."""
        path = self._path(choices)
        tensors = self._weights(path)
        if self.training:
            tensors.update(self._fresh(path))
        elif stats is not None or path.buffers:
            if stats is None:
                raise SpaceError(f"an eval-mode forward of {_short(path.arch)!r} needs stats= from "
                                 "calibrate(): its batch norms have no running statistics of their own")
            tensors.update(_checked(path, stats))
        path.meta.train(self.training)
        return functional_call(path.meta, tensors, (x,), strict=True)

    @torch.no_grad()
    def calibrate(self, choices: Sequence[int], batches: Iterable) -> dict[str, torch.Tensor]:
        """Batch-norm statistics of the path ``choices`` over ``batches`` (input tensors, or
        tuples whose first element is one, e.g. a DataLoader's ``(x, y)``): fresh running
        statistics, the cumulative average over the batches (``momentum=None``), the path run
        in train mode without gradients (Once-for-All Sec. 3.2, BigNAS Sec. 3.4: shared
        weights keep no statistics that fit every path). Returns the stand-alone model's
        buffers by name; the masters are not changed."""
        path = self._path(choices)
        stats = self._fresh(path)
        if not stats:
            return stats
        tensors = {**self._weights(path), **stats}
        norms = [m for m in path.meta.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in norms]
        count = 0
        try:
            for m in norms:
                m.momentum = None
            path.meta.train()
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                functional_call(path.meta, tensors, (x,), strict=True)
                count += 1
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
        if not count:
            raise ValueError("calibrate() needs at least one batch")
        return stats

    @torch.no_grad()
    def extract(self, choices: Sequence[int], stats: Mapping[str, torch.Tensor] | None = None,
                device: str | torch.device | None = None) -> Network:
        """The stand-alone ``nas.build`` model of ``choices`` with the path's weights (copies)
        and, if given, the running statistics ``stats``; on ``device`` (default: the
        supernet's). Its outputs equal the path's."""
        path = self._path(choices)
        target = torch.device(device) if device is not None else self._device()
        # What nas.build does, without initializing weights that are overwritten at once: its
        # size check (no caller allocates an oversized model), then the modules, here a copy
        # of the path's meta-device model (the same Network of the same architecture).
        check_size(path.arch, self.space.input_shape, self.space.num_classes)
        model = copy.deepcopy(path.meta).to_empty(device=target).train()
        buffers = _checked(path, stats) if stats is not None else self._fresh(path)
        model.load_state_dict({**self._weights(path), **buffers}, strict=True)  # copies
        return model

    # -- internals ----------------------------------------------------------------------

    def _device(self) -> torch.device:
        return next(iter(self.masters.values())).device

    def _weights(self, path: _Path) -> dict[str, torch.Tensor]:
        out = {}
        for v in path.views:
            m = self.masters[v.master]
            if v.gather is not None:
                idx = path.index.get((v.name, m.device))
                if idx is None:
                    idx = path.index[(v.name, m.device)] = torch.tensor(v.gather, device=m.device)
                m = m[v.slices[0]].index_select(1, idx)
                out[v.name] = m[(slice(None), slice(None), *v.slices[2:])]
            else:
                out[v.name] = m[v.slices]
        return out

    def _fresh(self, path: _Path) -> dict[str, torch.Tensor]:
        device = self._device()
        return {name: _FRESH[name.rpartition(".")[2]](shape, dtype=dtype, device=device)
                for name, shape, dtype in path.buffers}

    def _meta(self, arch_string: str) -> tuple[Arch, list, Network]:
        hit = self._metas.get(arch_string)
        if hit is None:
            arch = parse(arch_string)
            infos = infer_shapes(arch, self.space.input_shape)
            try:
                with torch.device("meta"):  # as nas.nn.builder's summary: modules without memory
                    meta = Network(arch, infos, self.space.num_classes)
            except ValueError as e:
                raise ArchError(str(e)) from None
            hit = self._metas[arch_string] = (arch, infos, meta)
            if len(self._metas) > PATH_CACHE:
                self._metas.popitem(last=False)
        else:
            self._metas.move_to_end(arch_string)
        return hit

    def _path(self, choices: Sequence[int]) -> _Path:
        try:
            c = tuple(operator.index(x) for x in choices)
        except TypeError:
            raise SpaceError(f"choices must be a sequence of whole numbers, got {choices!r}") from None
        path = self._paths.get(c)
        if path is None:
            path = self._paths[c] = self._make_path(c)
            if len(self._paths) > PATH_CACHE:
                self._paths.popitem(last=False)
        else:
            self._paths.move_to_end(c)
        return path

    def _make_path(self, choices: tuple[int, ...]) -> _Path:
        """Map every parameter of the architecture's meta model to its master (module docstring).
        Keyed by choice vector, not architecture: two vectors may spell one architecture with
        different units (stage1 conv*2 + stage2 conv vs stage1 conv + stage2 conv*2)."""
        arch_string = self.space.decode(choices)
        arch, infos, meta = self._meta(arch_string)
        layout = self.space.layout(choices)
        plan = self.plan
        where: list[tuple] = [("stem", i) for i in range(layout[0].start)]
        unit_of: list[int | None] = [None] * len(where)
        for u, unit in enumerate(layout):
            pos = 0
            for i in range(unit.start, unit.end):
                where.append((unit.label, unit.values.get("block", ""), pos))
                unit_of.append(u)
                pos += any(True for _ in meta.layers[i].parameters())
        where += [("head", j) for j in range(len(arch.layers) - len(where))]
        unit_of += [None] * (len(arch.layers) - len(unit_of))

        views = []
        for name, p, owner in _params_of(meta):
            unit = None
            if name.startswith("head."):
                key = ("classifier", name[len("head."):])
            else:
                _, i, rest = name.split(".", 2)
                i = int(i)
                key = _key(where[i], rest, isinstance(owner, _NORMS), arch.norm_of(arch.layers[i]))
                unit = layout[unit_of[i]] if unit_of[i] is not None else None
            full = plan.shapes.get(key)
            if full is None or len(full) != p.dim() or any(n > m for n, m in zip(p.shape, full)):
                raise SpaceError(f"space {self.space.name!r}: the supernet has no master for {name} "
                                 f"{tuple(p.shape)} of {_short(arch_string)!r} (key {key})")
            # Leading slices; a conv kernel's centre (Once-for-All's elastic kernel).
            slices = tuple(slice((m - n) // 2, (m - n) // 2 + n) if p.dim() == 4 and d >= 2 else slice(0, n)
                           for d, (n, m) in enumerate(zip(p.shape, full)))
            gather = None
            if unit is not None and unit.label in plan.anchors and key[2:4] == (0, "conv.weight"):
                gather = self._gather(plan.anchors[unit.label], unit, layout, infos, p.shape[1])
            views.append(_View(name, plan.name(key), slices, gather))
        buffers = []
        for name, b in meta.named_buffers():
            if name.rpartition(".")[2] not in _FRESH:
                raise SpaceError(f"the supernet has no fresh value for the buffer {name} of {_short(arch_string)!r}")
            buffers.append((name, tuple(b.shape), b.dtype))
        return _Path(arch_string, meta, tuple(views), tuple(buffers))

    @staticmethod
    def _gather(anchors: Anchors, unit, layout, infos, width: int) -> tuple[int, ...] | None:
        """Input channels of an anchored conv's master that the path takes: the previous
        unit's, then each source's segment, in order (anchors as masks on the concatenation).
        None when it takes no anchor (the leading slice is the previous unit's segment)."""
        if not unit.sources:
            return None
        prev = infos[unit.start - 1].out_shape[0]
        offsets = {i: offset for i, offset, _ in anchors.sources}
        index = list(range(prev))
        for s in unit.sources:
            c = infos[layout[s - 1].end - 1].out_shape[0]
            index += range(offsets[s], offsets[s] + c)
        if len(index) != width:  # the architecture's skip= and the layout disagree: a bug
            raise SpaceError(f"{unit.label}: anchors give {len(index)} input channels, its conv has {width}")
        return tuple(index)


def _checked(path: _Path, stats: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``stats`` if they are the running statistics of ``path``'s architecture."""
    want = {name: shape for name, shape, _ in path.buffers}
    got = {name: tuple(t.shape) for name, t in stats.items()}
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        odd = sorted(n for n in got if want.get(n) != got[n])[:3]
        raise SpaceError(f"stats= are not the running statistics of {_short(path.arch)!r}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; not its own: {', '.join(odd)}" if odd else ""))
    return dict(stats)


def _short(arch: str) -> str:
    return arch if len(arch) <= 80 else arch[:77] + "..."
