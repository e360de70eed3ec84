"""``nas proxies RUN``: score the architectures a run trained by zero-cost proxies and
correlate each proxy with their validation accuracy (Kendall's tau-b, Spearman's rho): how
well would the proxy have ranked them without training? (Abdelfattah et al. 2021 measure
proxies the same way, on NAS benchmarks.)
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from .._util import atomic_write, finite_number
from ..errors import ConfigError
from ._util import positive_int, table, whole_number


def add_parser(sub):
    from ..oneshot.proxies import PROXIES

    p = sub.add_parser("proxies", help="zero-cost proxies of a run's trained architectures, correlated with val_acc",
                       description="Score every distinct architecture a run trained from scratch by zero-cost proxies "
                                   "(untrained, one minibatch), print them beside val_acc, and each proxy's Kendall tau "
                                   "and Spearman rho against val_acc.")
    p.add_argument("run", metavar="RUN", help="run folder, or a run name under --runs-dir")
    p.add_argument("--proxies", default=None, metavar="NAMES",
                   help=f"comma-separated proxies, any of {', '.join(PROXIES.names())} (default: all of them)")
    p.add_argument("--batch-size", default="64", metavar="N", help="training images in the one minibatch every proxy "
                                                                    "sees (default 64)")
    p.add_argument("--seed", default=None, help="seed of the minibatch and of the weights (default: the run's seed)")
    p.add_argument("--device", default="cpu", help="where the proxies run: cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: the run's)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the scores and correlations to FILE as "
                                                                "JSON, a score of -inf as null (default: none)")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up (default: runs)")
    p.set_defaults(func=run)


def proxy_names(text: str | None) -> list[str]:
    """``"naswot, synflow"`` -> the registered names, in order, once each; None: all of them."""
    from ..oneshot.proxies import PROXIES

    if text is None:
        return PROXIES.names()
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ConfigError(f"--proxies names no proxy; give any of {', '.join(PROXIES.names())}")
    for name in names:
        PROXIES.get(name)  # unknown: one line with a did-you-mean
    return names


def trained_archs(trials: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per distinct architecture trained from scratch, best val_acc first; pure.

    Usable: status ok, a finite val_acc and, where a record says how it was evaluated
    (``evaluation``), a full evaluation (not, say, shared one-shot weights). An architecture
    trained more than once keeps its earliest record: the first time it was trained.
    """
    from ..report import canonical

    first: dict[str, dict[str, Any]] = {}
    for t in trials:
        if t.get("status") != "ok" or not finite_number(t.get("val_acc")) or t.get("evaluation", "full") != "full":
            continue
        arch = canonical(t["arch"])
        first.setdefault(arch, {"trial": t["trial"], "arch": arch, "val_acc": float(t["val_acc"])})
    return sorted(first.values(), key=lambda r: (-r["val_acc"], r["trial"]))


def correlation(val_accs: list[float], scores: list[float]) -> dict[str, Any]:
    """Kendall tau-b and Spearman rho of ``scores`` against ``val_accs``, with ``why`` they
    are missing (None when both are there)."""
    from ..oneshot.rank import kendall_tau, spearman

    n = len(val_accs)
    result: dict[str, Any] = {"kendall_tau": None, "spearman": None, "n": n, "why": None}
    if n < 2:
        result["why"] = f"needs at least 2 architectures, the run has {n}"
        return result
    tau, rho = kendall_tau(val_accs, scores), spearman(val_accs, scores)
    if math.isnan(tau) or math.isnan(rho):
        same = "val_acc" if len(set(val_accs)) == 1 else "score"
        result["why"] = f"undefined: every {same} is the same"
        return result
    return dict(result, kendall_tau=tau, spearman=rho)


def run(args) -> int:
    from ..oneshot.proxies import score_arch
    from ..train import data, resolve_device
    from ..tune import RunStore, SearchConfig

    names = proxy_names(args.proxies)
    batch_size = positive_int("--batch-size", args.batch_size)
    if batch_size < 2:
        raise ConfigError("--batch-size must be at least 2 (naswot compares the images of the batch)")
    device = _device(args.device, resolve_device)
    r = RunStore.find(args.run, args.runs_dir).snapshot()
    for w in r.warnings:
        print(f"nas: warning: {w}", file=sys.stderr)
    rows = trained_archs(r.trials)
    if not rows:
        raise ConfigError(f"run {r.name!r} has no architecture trained from scratch with a val_acc "
                          f"(of {len(r.trials)} trials, none has status ok, a val_acc and a full evaluation)")
    search = SearchConfig.from_dict(r.search, where=str(r.root / "config.yaml"))
    seed = whole_number("--seed", args.seed, 0) if args.seed is not None else search.seed
    recorded = r.config.get("dataset")
    dataset = search.dataset or (recorded.get("dataset") if isinstance(recorded, dict) else None)
    if not dataset:
        raise ConfigError(f"run {r.name!r} records no dataset")
    splits = data.load(dataset, args.data_dir or search.data_dir, val_fraction=search.val_fraction, seed=search.seed)

    print(f"run {r.name}: {len(rows)} distinct architectures trained from scratch; proxies on {min(batch_size, len(splits.train_y))} "
          f"{dataset} training images (seed {seed}, {device})", flush=True)
    seconds = dict.fromkeys(names, 0.0)
    for row in rows:
        row["scores"] = {}
        for name in names:
            start = time.perf_counter()
            row["scores"][name] = score_arch(name, row["arch"], splits, batch_size=batch_size, seed=seed, device=device)
            seconds[name] += time.perf_counter() - start
    accs = [row["val_acc"] for row in rows]
    correlations = {name: dict(correlation(accs, [row["scores"][name] for row in rows]), seconds=round(seconds[name], 3))
                    for name in names}

    print()
    print(table([[str(row["trial"]), f"{row['val_acc']:.4f}", *(f"{row['scores'][n]:.4f}" for n in names), row["arch"]]
                 for row in rows], ["trial", "val_acc", *names, "architecture"], right=set(range(len(names) + 2))))
    print()
    width = max(len(n) for n in names)
    for name in names:
        c = correlations[name]
        stats = (f"Kendall tau {_corr(c['kendall_tau'])}  Spearman rho {_corr(c['spearman'])}  "
                 f"over {c['n']} architecture{'s' if c['n'] != 1 else ''}  ({c['seconds']:.1f} s)")
        print(f"{name:<{width}}  {stats}" + (f": {c['why']}" if c["why"] else ""))
    if args.json:
        atomic_write(Path(args.json), json.dumps({
            "run": r.name, "run_dir": str(r.root), "dataset": dataset, "batch_size": batch_size, "seed": seed,
            "device": str(device), "proxies": names,
            "rows": [dict(row, scores={n: _finite(v) for n, v in row["scores"].items()}) for row in rows],
            "correlations": correlations,
        }, indent=2, allow_nan=False) + "\n")
        print(f"\nwrote {args.json}")
    if len(rows) < 2:
        raise ConfigError(f"no rank correlation for run {r.name!r}: it needs at least 2 architectures trained from "
                          f"scratch with a val_acc, the run has {len(rows)}")
    return 0


def _device(text: str, resolve):
    try:
        return resolve(text)
    except (RuntimeError, ConfigError):  # torch.device("gpu") is a RuntimeError
        raise ConfigError(f"--device {text!r} is not a device here (cpu, cuda, cuda:N or auto; cuda needs a GPU)") from None


def _corr(v: float | None) -> str:
    return f"{v:+.4f}" if v is not None else "-"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None
