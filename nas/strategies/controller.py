"""The LSTM controller of NAS with reinforcement learning (Zoph & Le 2017, Sec. 3.1; ENAS,
Pham et al. 2018, Sec. 2.1).

One decision per step. The input of the first step is a learned start vector; the input
of every later step is the embedding of the previous decision, looked up in the
embedding table of that decision's kind. Each kind also has its own softmax head
(``Linear(hidden, n_options)``), "one softmax head per decision type" (Zoph & Le 2017,
Sec. 3.1). Logits are sharpened / bounded as in ENAS (Sec. 3.2 and the authors' code):
``logits = tanh_constant * tanh(logits / temperature)``, following Bello et al. 2017,
which keeps the policy from collapsing early.

Every method returns the same triple ``(decisions, log_prob_sum, entropy_sum)``:
``decisions`` a ``LongTensor[n, N]``, the other two ``Tensor[n]`` summed over the N
steps, computed with ``torch.distributions.Categorical``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.distributions import Categorical

from ..errors import SpaceError
from ..space import Decision


class Controller(nn.Module):
    """Autoregressive policy over a fixed sequence of decisions.

    Args:
        decisions: the space's decisions, in order.
        hidden_size: LSTM width. ENAS uses 100 (Sec. 2.1), NASNet 100 (Zoph et al. 2018,
            App. A); Zoph & Le 2017 used two layers of 35.
        temperature, tanh_constant: ENAS, Sec. 3.2: 5.0 and 2.5.
        init_range: parameters start uniform in [-init_range, init_range]; ENAS uses 0.1
            (Sec. 3.2), Zoph & Le 2017 0.08.
        generator: drives the initialization, so that a seed fixes the weights without
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
        temperature: float = 5.0,
        tanh_constant: float = 2.5,
        init_range: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        kinds: dict[str, int] = {}
        n_options: list[int] = []
        steps: list[int] = []
        for d in decisions:
            n = len(d.options)
            if d.kind not in kinds:
                kinds[d.kind] = len(kinds)
                n_options.append(n)
            elif n_options[kinds[d.kind]] != n:
                raise SpaceError(
                    f"decision {d.name!r} of kind {d.kind!r} has {n} options, but its kind "
                    f"has {n_options[kinds[d.kind]]}: a kind shares one softmax head"
                )
            steps.append(kinds[d.kind])
        if not steps:
            raise SpaceError("the space has no decisions")
        self.kinds = tuple(kinds)
        self.n_options = tuple(n_options)
        self.steps = tuple(steps)  # kind index of each decision
        self.hidden_size = hidden_size
        self.temperature = temperature
        self.tanh_constant = tanh_constant

        # skip_init: build without drawing from torch's global RNG; we initialize below.
        self.start = nn.Parameter(torch.empty(1, hidden_size))
        self.lstm = nn.utils.skip_init(nn.LSTMCell, hidden_size, hidden_size)
        self.embed = nn.ModuleList(
            nn.utils.skip_init(nn.Embedding, n, hidden_size) for n in self.n_options
        )
        self.heads = nn.ModuleList(
            nn.utils.skip_init(nn.Linear, hidden_size, n) for n in self.n_options
        )
        with torch.no_grad():
            for p in self.parameters():
                nn.init.uniform_(p, -init_range, init_range, generator=generator)

    def logits(self, h: torch.Tensor, kind: int) -> torch.Tensor:
        """Temperature, then tanh clipping (ENAS ``controller_temperature``/``tanh_constant``)."""
        return self.tanh_constant * torch.tanh(self.heads[kind](h) / self.temperature)

    def sample(self, n: int = 1, *, generator: torch.Generator):
        """Draw ``n`` architectures with ``torch.multinomial`` driven by ``generator``."""
        return self._unroll(n, generator=generator)[:3]

    def score(self, choices: torch.Tensor):
        """Teacher forcing: log-prob and entropy of given ``choices`` (``LongTensor[n, N]``)."""
        return self._unroll(len(choices), choices=choices)[:3]

    def greedy(self):
        """The most likely decision at every step (one architecture)."""
        return self._unroll(1, greedy=True)[:3]

    def step_probs(self, choices: torch.Tensor) -> list[torch.Tensor]:
        """Probability vector of every step under teacher forcing: N tensors ``[n, k_t]``."""
        return self._unroll(len(choices), choices=choices)[3]

    def _unroll(self, n, *, choices=None, generator=None, greedy=False):
        if choices is not None:
            choices = torch.as_tensor(choices, dtype=torch.long)
            if choices.shape != (n, len(self.steps)):
                raise SpaceError(
                    f"expected choices of shape ({n}, {len(self.steps)}), got {tuple(choices.shape)}"
                )
        x = self.start.expand(n, -1)
        h = c = x.new_zeros(n, self.hidden_size)
        log_prob = x.new_zeros(n)
        entropy = x.new_zeros(n)
        decisions, probs = [], []
        for t, kind in enumerate(self.steps):
            h, c = self.lstm(x, (h, c))
            dist = Categorical(logits=self.logits(h, kind), validate_args=False)
            if choices is not None:
                a = choices[:, t]
            elif greedy:
                a = dist.probs.argmax(-1)
            else:
                a = torch.multinomial(dist.probs.detach(), 1, generator=generator).squeeze(1)
            log_prob = log_prob + dist.log_prob(a)
            entropy = entropy + dist.entropy()
            decisions.append(a)
            probs.append(dist.probs)
            x = self.embed[kind](a)  # the previous decision is the next input
        return torch.stack(decisions, 1), log_prob, entropy, probs
