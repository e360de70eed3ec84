"""Cost of the search machinery itself, in milliseconds (no training, no Ray).

* sample + decode + build of one architecture of the digits space: ``space.sample(rng)``
  (rejection sampling with ``is_valid``: parameter/MAC constraints), ``space.decode`` and
  ``nas.build`` on CPU, each timed, for a fresh ``SearchSpace`` (its per-space caches start
  empty, as in a new search). The first few architectures are a warm-up (imports, first
  calls) and are not counted.
* REINFORCE (default options) on the digits space: one ``ask`` (the LSTM controller samples
  10 decisions) and one controller update (the ``tell`` that completes a batch: for each of
  the ``ppo_epochs`` passes, teacher-forced scoring of the batch, loss, backward, Adam step;
  then a greedy decode),
  with 1 and with 2 torch threads; ``ratio`` is 2 threads over 1 (the search driver now sets
  1 thread, nas/tune/driver.py).
"""
from __future__ import annotations

import random
import statistics
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script
    import _common as c

BENCH = "machinery"


def _ms(xs):
    return c.spread([1000 * x for x in xs])


def sample_decode_build(n: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Timings of the first ``n`` architectures of a fresh space (after 5 untimed) and of the
    next ``n`` (the space's caches warmer)."""
    import torch

    import nas
    from nas.space import SearchSpace

    space = SearchSpace.load("digits")
    rng = random.Random(0)
    out: dict[str, list[float]] = {"sample": [], "decode": [], "build": [], "total": []}
    warm = 5
    for i in range(2 * n + warm):
        t0 = time.perf_counter()
        choices = space.sample(rng)
        t1 = time.perf_counter()
        arch = space.decode(choices)
        t2 = time.perf_counter()
        torch.manual_seed(i)
        nas.build(arch, space.input_shape, space.num_classes)
        t3 = time.perf_counter()
        if i >= warm:
            for k, v in zip(out, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                out[k].append(v)
    return {k: v[:n] for k, v in out.items()}, {k: v[n:] for k, v in out.items()}


def controller(updates: int, threads: int, max_seconds: float) -> dict[str, list[float]]:
    """Timings of REINFORCE asks, controller samples, plain tells and updates; stops after
    ``updates`` updates or ``max_seconds`` (with 2 threads on a busy machine one update can
    take seconds)."""
    import torch

    import nas.strategies
    from nas.space import SearchSpace

    space = SearchSpace.load("digits")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        s = nas.strategies.get("reinforce", space, seed=0)
        bs = s.options.batch_size
        asks, tells, update, samples = [], [], [], []
        rng = random.Random(0)
        gen = torch.Generator().manual_seed(1)  # its own, so the strategy's draws stay as they were
        deadline = time.perf_counter() + max_seconds
        for u in range(updates + 1):
            if u > 1 and time.perf_counter() > deadline:
                break
            props = []
            for _ in range(bs):
                t = time.perf_counter()
                props.append(s.ask())
                asks.append(time.perf_counter() - t)
                t = time.perf_counter()
                with torch.no_grad():
                    s.controller.sample(1, generator=gen)
                samples.append(time.perf_counter() - t)
            for k, p in enumerate(props):
                t = time.perf_counter()
                s.tell(p.id, rng.random())
                dt = time.perf_counter() - t
                if u > 0:  # the first batch is a warm-up
                    (update if k == bs - 1 else tells).append(dt)
        return {"ask": asks[bs:], "sample": samples[bs:], "tell": tells, "update": update}
    finally:
        torch.set_num_threads(before)


def run(quick: bool) -> Iterator[dict]:
    n = 100 if quick else 300
    cold, warm = sample_decode_build(n)
    load = c.loadavg()
    for t, cache in ((cold, "fresh space: architectures 6 to n+5"), (warm, "same space: the next n")):
        suffix = "" if t is cold else "_warm"
        for part in ("sample", "decode", "build", "total"):
            sp = _ms(t[part])
            metric = (f"{part}_ms" if part != "total" else "sample_decode_build_ms").replace("_ms", suffix + "_ms")
            yield c.result(BENCH, metric, sp["median"], unit="ms", quick=quick, n=n,
                           mean=1000 * statistics.mean(t[part]), spread=sp, space="digits", cache=cache,
                           threads=_threads(), loadavg_1m=load)
    updates = 20 if quick else 100
    per = {th: controller(updates, th, max_seconds=15 if quick else 60) for th in (1, 2)}
    defaults = _reinforce_defaults()
    for what, metric in (("update", "controller_update_ms"), ("sample", "controller_sample_ms"),
                         ("ask", "reinforce_ask_ms")):
        one, two = _ms(per[1][what]), _ms(per[2][what])
        yield c.result(BENCH, metric, one["median"], unit="ms", quick=quick, n=len(per[1][what]), threads=1,
                       threads2_n=len(per[2][what]),
                       mean=1000 * statistics.mean(per[1][what]), spread=one,
                       threads2_ms=two["median"], threads2_mean_ms=1000 * statistics.mean(per[2][what]),
                       threads2_spread=two, ratio=two["median"] / one["median"], ratio_of="median, 2 threads vs 1",
                       space="digits (10 decisions)", batch_size=defaults.batch_size,
                       ppo_epochs=defaults.ppo_epochs, loadavg_1m=c.loadavg())


def _reinforce_defaults():
    from nas.strategies.reinforce import ReinforceOptions

    return ReinforceOptions()


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    import json
    import sys

    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
