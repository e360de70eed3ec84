"""The LSTM controller of NAS with reinforcement learning (Zoph & Le 2017, Secs. 3.1 and 3.3;
ENAS, Pham et al. 2018, Sec. 2.1 and its code ``src/cifar10/general_controller.py``).

One LSTM step per decision. The first input is a learned start vector; every later input
is the embedding of the previous decision in its kind's table ("one softmax head per
decision type", Zoph & Le Sec. 3.1), optionally plus a learned vector per step. Anchors
(skip connections) are either ordinary 2-way decisions or, as in Zoph & Le Sec. 3.3 and
ENAS, content-based attention over the hidden states of earlier units' anchor points.
Options and what each paper used: docs/strategies.md.

``sample``, ``score`` and ``greedy`` return ``(decisions, log_prob_sum, entropy_sum)``:
``LongTensor[n, N]`` and two ``Tensor[n]`` summed over the N decisions. ``trace`` returns
the per-decision values the policy update needs, as a :class:`Trace`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..errors import SpaceError
from ..space import Decision

HEADS = ("kind", "decision")
ANCHORS = ("head", "attention")


@dataclass(frozen=True)
class Trace:
    """The controller unrolled over ``n`` architectures of ``N`` decisions.

    ``decisions`` ``LongTensor[n, N]``; ``log_probs`` and ``entropies`` ``Tensor[n, N]``
    (log-probability of the decision taken and entropy of its distribution, in nats);
    ``probs``: N tensors ``[n, k_t]``, each decision's probability vector.
    """

    decisions: torch.Tensor
    log_probs: torch.Tensor
    entropies: torch.Tensor
    probs: tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class _Choose:
    t: int  # decision index
    kind: int  # embedding table
    head: int  # softmax head


@dataclass(frozen=True)
class _AnchorPoint:
    unit: int
    anchors: tuple[tuple[int, int], ...]  # (decision index, source unit)


class Controller(nn.Module):
    """Autoregressive policy over a fixed sequence of decisions.

    Args:
        decisions: the space's decisions, in order.
        hidden_size, num_layers: the stacked LSTM. ENAS's code: 1 x 64; Zoph & Le: 2 x 35.
        temperature, tanh_constant: ``logits = tanh_constant * tanh(logits / temperature)``
            (Bello et al. 2017; ENAS Sec. 3.2); None switches either off.
        init_range: every parameter starts uniform in [-init_range, init_range] (ENAS 0.1,
            Zoph & Le 0.08).
        heads: ``"kind"``, one softmax head per kind of decision (the papers), or
            ``"decision"``, one per decision.
        position_input: add a learned vector per step to the LSTM's input, so that the
            input itself says which decision comes next.
        anchors: ``"head"``, each anchor a 2-way decision of kind ``anchor``; or
            ``"attention"``, P(unit i feeds unit j) = sigmoid(v^T tanh(W_prev h_i + W_curr h_j))
            with h the top LSTM state at each unit's anchor point (Zoph & Le Sec. 3.3). The
            input after an anchor point is the mean of the chosen units' states (ENAS code).
            Needs decisions that carry ``unit`` and ``source``; spaces without anchors are
            unaffected.
        generator: drives the initialization, so a seed fixes the weights without
            touching torch's global RNG.

    Example::

        ctrl = Controller(space.decisions, generator=torch.Generator().manual_seed(0))
        decisions, log_prob, entropy = ctrl.sample(1, generator=g)
    """

    def __init__(
        self,
        decisions: Sequence[Decision],
        hidden_size: int = 100,
        *,
        num_layers: int = 1,
        temperature: float | None = 5.0,
        tanh_constant: float | None = 2.5,
        init_range: float = 0.1,
        heads: str = "kind",
        position_input: bool = False,
        anchors: str = "head",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if heads not in HEADS:
            raise ValueError(f"heads must be one of {HEADS}, got {heads!r}")
        if anchors not in ANCHORS:
            raise ValueError(f"anchors must be one of {ANCHORS}, got {anchors!r}")
        decisions = tuple(decisions)
        if not decisions:
            raise SpaceError("the space has no decisions")
        attend = [anchors == "attention" and d.kind == "anchor" and d.source is not None for d in decisions]
        if any(attend) and any(d.unit is None for d in decisions):
            raise SpaceError("anchor attention needs every decision's unit")
        kinds: dict[str, int] = {}
        n_options: list[int] = []
        plan: list[_Choose | _AnchorPoint] = []
        head_sizes: list[int] = []
        for t, d in enumerate(decisions):
            if attend[t]:
                continue  # sampled at its unit's anchor point
            n = len(d.options)
            if d.kind not in kinds:
                kinds[d.kind] = len(kinds)
                n_options.append(n)
            elif n_options[kinds[d.kind]] != n:
                raise SpaceError(
                    f"decision {d.name!r} of kind {d.kind!r} has {n} options, but its kind "
                    f"has {n_options[kinds[d.kind]]}: a kind shares one softmax head"
                )
            head = kinds[d.kind] if heads == "kind" else len(head_sizes)
            if heads == "decision":
                head_sizes.append(n)
            plan.append(_Choose(t, kinds[d.kind], head))
        if any(attend):
            plan = _with_anchor_points(decisions, attend, plan)
        if heads == "kind":
            head_sizes = n_options
        self.kinds = tuple(kinds)
        self.n_options = tuple(n_options)
        self.plan = tuple(plan)
        self.n_decisions = len(decisions)
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.temperature = temperature
        self.tanh_constant = tanh_constant

        # skip_init: build without drawing from torch's global RNG; we initialize below.
        self.start = nn.Parameter(torch.empty(1, hidden_size))
        self.lstm = nn.ModuleList(
            nn.utils.skip_init(nn.LSTMCell, hidden_size, hidden_size) for _ in range(num_layers)
        )
        self.embed = nn.ModuleList(nn.utils.skip_init(nn.Embedding, n, hidden_size) for n in n_options)
        self.heads = nn.ModuleList(nn.utils.skip_init(nn.Linear, hidden_size, n) for n in head_sizes)
        self.position = nn.Parameter(torch.empty(len(plan), hidden_size)) if position_input else None
        self.attention = None
        if any(attend):
            self.attention = nn.ModuleDict({
                "w_prev": nn.utils.skip_init(nn.Linear, hidden_size, hidden_size, bias=False),
                "w_curr": nn.utils.skip_init(nn.Linear, hidden_size, hidden_size, bias=False),
                "v": nn.utils.skip_init(nn.Linear, hidden_size, 1, bias=False),
            })
        with torch.no_grad():
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range, generator=generator)

    @property
    def steps(self) -> tuple[int, ...]:
        """Kind index of each decision chosen through a softmax head, in order."""
        return tuple(s.kind for s in self.plan if isinstance(s, _Choose))

    def shape_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Temperature, then tanh clipping (ENAS ``controller_temperature``/``tanh_constant``)."""
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def logits(self, h: torch.Tensor, head: int) -> torch.Tensor:
        return self.shape_logits(self.heads[head](h))

    def sample(self, n: int = 1, *, generator: torch.Generator):
        """Draw ``n`` architectures with ``torch.multinomial`` driven by ``generator``."""
        return self._triple(self._unroll(n, generator=generator))

    def score(self, choices: torch.Tensor):
        """Teacher forcing: log-prob and entropy of given ``choices`` (``LongTensor[n, N]``)."""
        return self._triple(self.trace(choices))

    def greedy(self):
        """The most likely decision at every step (one architecture)."""
        return self._triple(self._unroll(1, greedy=True))

    def trace(self, choices: torch.Tensor) -> Trace:
        """Teacher forcing, with the per-decision values (see :class:`Trace`)."""
        return self._unroll(len(choices), choices=choices)

    def sample_trace(self, n: int = 1, *, generator: torch.Generator) -> Trace:
        """``sample``, with the per-decision values."""
        return self._unroll(n, generator=generator)

    def greedy_trace(self) -> Trace:
        """``greedy``, with the per-decision values."""
        return self._unroll(1, greedy=True)

    def step_probs(self, choices: torch.Tensor) -> list[torch.Tensor]:
        """Probability vector of every decision under teacher forcing: N tensors ``[n, k_t]``."""
        return list(self.trace(choices).probs)

    @staticmethod
    def _triple(tr: Trace):
        return tr.decisions, tr.log_probs.sum(1), tr.entropies.sum(1)

    def _lstm(self, x, state):
        new = []
        for cell, hc in zip(self.lstm, state):
            h, c = cell(x, hc)
            new.append((h, c))
            x = h  # a stacked LSTM: each layer reads the one below (ENAS ``stack_lstm``)
        return x, new

    def _unroll(self, n, *, choices=None, generator=None, greedy=False) -> Trace:
        N = self.n_decisions
        if choices is not None:
            choices = torch.as_tensor(choices, dtype=torch.long)
            if choices.shape != (n, N):
                raise SpaceError(f"expected choices of shape ({n}, {N}), got {tuple(choices.shape)}")
        x = self.start.expand(n, -1)
        zero = x.new_zeros(n, self.hidden_size)
        state = [(zero, zero)] * self.num_layers
        decisions: list = [None] * N
        log_probs: list = [None] * N
        entropies: list = [None] * N
        probs: list = [None] * N
        points: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # unit -> (h, W_prev h)

        def pick(logits: torch.Tensor, ts: Sequence[int]) -> torch.Tensor:
            # logits [n, m, k] for the m decisions ``ts``; fills the per-decision lists.
            logp = torch.log_softmax(logits, -1)
            p = logp.exp()
            if choices is not None:
                a = choices[:, list(ts)]
            elif greedy:
                a = p.argmax(-1)
            else:
                flat = p.detach().reshape(-1, p.shape[-1])
                a = torch.multinomial(flat, 1, generator=generator).reshape(p.shape[:-1])
            chosen = logp.gather(-1, a.unsqueeze(-1)).squeeze(-1)
            ent = -(p * logp).sum(-1)
            for i, t in enumerate(ts):
                decisions[t], log_probs[t], entropies[t], probs[t] = a[:, i], chosen[:, i], ent[:, i], p[:, i]
            return a

        for s, step in enumerate(self.plan):
            if self.position is not None:
                x = x + self.position[s]
            h, state = self._lstm(x, state)
            if isinstance(step, _Choose):
                a = pick(self.logits(h, step.head).unsqueeze(1), (step.t,))
                x = self.embed[step.kind](a[:, 0])  # the previous decision is the next input
                continue
            att = self.attention
            points[step.unit] = (h, att["w_prev"](h))
            if not step.anchors:
                x = self.start.expand(n, -1)  # ENAS: a layer with no candidate inputs restarts
                continue
            sources = [points[i] for _, i in step.anchors]
            q = att["v"](torch.tanh(torch.stack([w for _, w in sources], 1) + att["w_curr"](h).unsqueeze(1)))
            # P(skip) = sigmoid(q) = softmax([0, q]): option 1 is True in an anchor decision.
            logits = torch.cat([torch.zeros_like(q), self.shape_logits(q)], -1)
            a = pick(logits, [t for t, _ in step.anchors])
            chosen = a.to(h.dtype)
            states = torch.stack([hs for hs, _ in sources], 1)
            x = (chosen.unsqueeze(-1) * states).sum(1) / (1 + chosen.sum(1, keepdim=True))
        return Trace(torch.stack(decisions, 1), torch.stack(log_probs, 1), torch.stack(entropies, 1),
                     tuple(probs))


def _with_anchor_points(decisions, attend, plan) -> list:
    """Insert an anchor point after each unit's last head decision: every unit gets one (a
    later unit may attend to it), and its attended anchors are sampled there."""
    units = [d.unit for d in decisions]
    last_unit = max(units)
    anchors: dict[int, list[tuple[int, int]]] = {u: [] for u in range(1, last_unit + 1)}
    for t, d in enumerate(decisions):
        if attend[t]:
            if not 1 <= d.source < d.unit:
                raise SpaceError(f"anchor {d.name!r} takes unit {d.source}, which does not precede unit {d.unit}")
            anchors[d.unit].append((t, d.source))
    out: list = []
    done = 0  # units whose anchor point is placed

    def close(upto: int):
        nonlocal done
        while done < upto:
            done += 1
            out.append(_AnchorPoint(done, tuple(anchors[done])))

    for step in plan:
        u = decisions[step.t].unit
        if u < done + 1:
            raise SpaceError(f"decision {decisions[step.t].name!r} comes after the anchors of unit {u}")
        close(u - 1)
        out.append(step)
    close(last_unit)
    return out
