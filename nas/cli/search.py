"""``nas search``: the main job. Flags override the ``--config`` YAML, which overrides the defaults."""
from __future__ import annotations

import sys
import time

from ..errors import ConfigError
from ..tune import SearchConfig, load_yaml_config
from ._util import human, table

# flag -> (SearchConfig field, type, help); every flag can also be set in the YAML config.
# The help gets the field's default from SearchConfig, so the two cannot drift apart.
FLAGS = {
    "--name": ("name", str, "run folder name under --runs-dir (default: <space>-<strategy>, numbered -2, -3... "
                            "when taken)"),
    "--runs-dir": ("runs_dir", str, "folder that holds the run folders"),
    "--trials": ("trials", int, "architectures to evaluate in the whole run (resumes included)"),
    "--concurrency": ("concurrency", int, "trials trained at the same time"),
    "--strategy": ("strategy", str, "search strategy"),
    "--dataset": ("dataset", str, "dataset: a registered name or your own data, paths relative to the current "
                                  "folder (docs/datasets.md) (default: the space file's `dataset`)"),
    "--data-dir": ("data_dir", str, "folder with the dataset files in torchvision's layout "
                                    "(default: $NAS_DATA_DIR, else ./data)"),
    "--val-fraction": ("val_fraction", float, "share of the training set held out as the validation split "
                                              "that scores the trials"),
    "--epochs": ("epochs", int, "training epochs per trial"),
    "--cpus-per-trial": ("cpus_per_trial", float, "CPUs Ray reserves for each trial"),
    "--gpus-per-trial": ("gpus_per_trial", float, "GPUs per trial; a fraction packs several trials on one GPU"),
    "--address": ("address", str, "an existing Ray cluster to join: HOST:PORT or 'auto' "
                                  "(default: start a private local Ray)"),
    "--seed": ("seed", int, "seed of the strategy, the validation split and the trials' training"),
    "--evaluation": ("evaluation", str, "how a proposal is scored: full (trained from scratch in a Ray trial), "
                                        "shared (a weight-sharing supernet, ENAS) or proxy:NAME (a zero-cost proxy: "
                                        "naswot, synflow, grad_norm, snip); shared and proxy then retrain the "
                                        "--retrain best from scratch"),
    "--retrain": ("retrain", int, "with --evaluation shared or proxy:NAME: proposals retrained from scratch at the "
                                  "end; their results decide best.json"),
    "--prefilter": ("prefilter", str, "NAME:K: each proposal is the best of K candidates by the zero-cost proxy "
                                      "NAME (default: none)"),
}


def _help(field: str, text: str, choices=None) -> str:
    """Help text with the default (unless the text gives its own) and the choices."""
    head, own, default = text.partition(" (default:")
    if choices:
        head += f"; one of: {', '.join(choices)}"
    return head + (own + default if own else f" (default: {getattr(SearchConfig(), field)})")


def add_parser(sub):
    from .. import strategies
    from ..train import data

    choices = {"strategy": strategies.names(), "dataset": [*data.names(), *data.own_forms()]}
    p = sub.add_parser("search", help="run a search with Ray Tune (default: 40 trials on digits)",
                       description="Train sampled architectures in parallel and learn from their validation accuracy. "
                                   "Settings: defaults < the space file < --config FILE < flags.")
    p.add_argument("space", nargs="?", default=None, metavar="SPACE",
                   help=_help("space", "search-space YAML file or shipped space", _shipped_spaces()))
    p.add_argument("--config", default=None, metavar="FILE",
                   help="YAML file with any of these settings and more (strategy_options, train, reward, "
                        "asha_grace, ...); flags win (default: none)")
    for flag, (field, _, text) in FLAGS.items():
        p.add_argument(flag, dest=field, default=None, metavar=field.upper(),
                       help=_help(field, text, choices.get(field)))
    p.add_argument("--controller", default=None, metavar="PRESET",
                   help="with --strategy reinforce: the controller of a paper, every value it gives: zoph2017 "
                        "(Zoph & Le 2017) or enas (ENAS's code); the same as strategy_options: {preset: PRESET}, "
                        "whose other keys still apply (default: none, the tuned defaults)")
    p.add_argument("--latency", default=None, metavar="TARGET",
                   help="measure each architecture's inference latency (once, cached in the run folder) on "
                        "TARGET: cpu (PyTorch on this machine's CPU), onnxruntime, or cuda; the same as "
                        "latency: {target: TARGET}, whose other keys (batch_size, threads, min_run_time) still "
                        "apply. Needed by reward cost 'latency', a space's max_latency_ms and --strategy nsga2, "
                        "which turn it on with target cpu (default: off)")
    p.add_argument("--asha", action="store_const", const=True, default=None,
                   help="stop weak trials early with ASHA (Li et al. 2020); they are scored on the epochs "
                        "they ran (default: off)")
    p.add_argument("--no-reuse", dest="reuse", action="store_const", const=False, default=None,
                   help="train an architecture again even if this run evaluated it already "
                        "(default: reuse its recorded result)")
    p.add_argument("--resume", action="store_true",
                   help="continue a stopped run exactly as it was started: the one named by --name, else the "
                        "latest of this space and strategy; only --trials (to raise the budget), --address and "
                        "--data-dir may be given anew (default: off, start a new run)")
    p.add_argument("--rebuild-strategy", action="store_true",
                   help="with --resume: rebuild a missing or damaged strategy.pt by replaying the recorded "
                        "trials (the old file is kept beside it) (default: off)")
    p.set_defaults(func=run)


def _shipped_spaces() -> list[str]:
    from ..space import shipped

    return list(shipped())


def _convert(flag: str, value: str, kind):
    if kind is str:
        return value
    try:
        return kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{flag} must be {what}, got {value!r}") from None


def config_from_args(args) -> SearchConfig:
    return _config_and_given(args)[0]


def _config_and_given(args) -> tuple[SearchConfig, set[str]]:
    """The configuration, and the settings the user gave (in --config or as flags): what a
    resume compares with the run's own."""
    data = load_yaml_config(args.config) if args.config else {}
    cfg = SearchConfig.from_dict(data, where=args.config or "config")
    flags = {}
    if args.space is not None:
        flags["space"] = args.space
    for flag, (field, kind, _) in FLAGS.items():
        v = getattr(args, field)
        if v is not None:
            flags[field] = _convert(flag, v, kind)
    for field in ("asha", "reuse"):
        if getattr(args, field) is not None:
            flags[field] = getattr(args, field)
    if getattr(args, "latency", None) is not None:
        flags["latency"] = {**cfg.latency, "target": args.latency}
    if getattr(args, "controller", None) is not None:
        flags["strategy_options"] = {**cfg.strategy_options, "preset": args.controller}
    return cfg.updated(flags, where="flags"), set(data) | set(flags)


def run(args) -> int:
    from ..tune import resume_command, run_search

    if args.rebuild_strategy and not args.resume:
        raise ConfigError("--rebuild-strategy goes with --resume: it rebuilds the strategy of an existing run")
    cfg, given = _config_and_given(args)
    driver = run_search(cfg, resume=args.resume, events=ConsoleEvents(), explicit=given,
                        rebuild_strategy=args.rebuild_strategy)
    print_summary(driver)
    if not driver.finished():
        noun = "proposals" if driver.cheap else "trials"
        print(f"\nstopped after {driver.done} of {driver.config.trials} {noun}; continue with:\n"
              f"  {resume_command(driver.config)}", file=sys.stderr)
        return 130
    return 0


class ConsoleEvents:
    """What ``nas search`` shows: a header, one line per recorded trial (done/total, running,
    best so far, elapsed, ETA) instead of Ray's wall of logs, and warnings on stderr."""

    def __init__(self, out=None):
        self.out = out if out is not None else sys.stdout
        self.start = time.time()

    def started(self, driver) -> None:
        config, space = driver.config, driver.space
        if driver.finished():
            print(f"run {config.name!r} already has all {config.trials} trials", file=self.out)
            return
        resumed = f", resuming at proposal {driver.done + 1}" if driver.attempt > 1 else ""
        preset = config.strategy_options.get("preset")
        strategy = config.strategy + (f" ({preset} preset)" if preset else "")
        if driver.cheap:
            how = ("shared weights (one-shot)" if driver.evaluation == "shared" else f"the {driver.proxy} proxy")
            what = (f"{config.trials} proposals of {strategy} scored by {how}, then the best {config.retrain} "
                    f"retrained from scratch, {config.concurrency} at a time")
        else:
            what = f"{config.trials} trials of {strategy}, {config.concurrency} at a time"
        if driver.prefilter:
            what += f", each the best of {driver.prefilter[1]} by {driver.prefilter[0]}"
        lat = driver.latency_config
        if lat is not None:
            limit = f", at most {driver.max_latency_ms:g} ms" if driver.max_latency_ms is not None else ""
            what += (f"; latency measured on {lat.target} (batch {lat.batch_size}, {lat.threads} "
                     f"thread{'s' if lat.threads != 1 else ''}{limit})")
        print(f"search {config.name}: {what}, over {space.name} (size {space.size:.3g}) on {config.dataset}"
              f"{resumed}\nrun folder: {driver.store.root}", file=self.out, flush=True)
        self.start = time.time()

    def recorded(self, driver, r: dict) -> None:
        print(progress_line(driver, r, time.time() - self.start), file=self.out, flush=True)

    def shared_epoch(self, driver, m: dict) -> None:
        print(f"shared weights: epoch {m['epoch']}/{m['total']} loss {m['loss']:.3f} ({m['seconds']:.1f}s) | "
              f"elapsed {_clock(time.time() - self.start)}", file=self.out, flush=True)

    def warning(self, message: str) -> None:
        print(f"nas: warning: {message}", file=sys.stderr, flush=True)

    def info(self, message: str) -> None:
        print(f"nas: {message}", file=sys.stderr, flush=True)


def progress_line(driver, r: dict, elapsed: float) -> str:
    """One trial's line, plus its failure reason and training warnings on lines of their own."""
    done, total = driver.done, driver.config.trials
    here = done - driver.first_done
    eta = elapsed / here * (total - done) if here else float("nan")
    best = driver.best()
    if driver.cheap:
        return _cheap_line(driver, r, elapsed)
    status = "ok" if r["status"] == "ok" else "FAILED"
    if r["reused"]:
        status = "reused"
    elif r["stopped_early"]:
        status = "stopped"
    acc = f"{r['val_acc']:.3f}" if r["val_acc"] is not None else "  -  "
    line = (f"[{done:>{len(str(total))}}/{total}] {status:<7} reward {r['reward']:.3f} val {acc} "
            f"{human(r['params'] or 0):>7} params {human(r['macs'] or 0):>7} MACs{_latency(r)} {r['seconds'] or 0:6.1f}s | "
            f"running {len(driver.live)} best {best['reward'] if best else 0:.3f} "
            f"elapsed {_clock(elapsed)} ETA {_clock(eta)} | {r['arch']}")
    return line + _details(r)


def _latency(r: dict) -> str:
    """`` 1.23 ms`` where the record has a measured latency, else nothing."""
    return f" {r['latency_ms']:7.3g} ms" if r.get("latency_ms") is not None else ""


def _details(r: dict) -> str:
    """A record's failure reason and training warnings, each on a line of its own."""
    out = f"\n      reason: {r['reason']}" if r["status"] != "ok" else ""
    return out + "".join(f"\n      warning: {w}" for w in r.get("warnings") or ())


def _cheap_line(driver, r: dict, elapsed: float) -> str:
    """A line of a shared or proxy search: a scored proposal, or a retrained one."""
    status = "ok" if r["status"] == "ok" else "FAILED"
    if r.get("evaluation", "full") == "full":
        n, k = len(driver.retrained), len(driver.retrained) + len(driver.retrain_queue())
        acc = f"{r['val_acc']:.3f}" if r["val_acc"] is not None else "  -  "
        best = driver.best()
        line = (f"[retrain {n}/{k}] {status:<7} reward {r['reward']:.3f} val {acc} {r['seconds'] or 0:6.1f}s | "
                f"of proposal trial {r.get('retrain_of')} | best {best['reward'] if best else 0:.3f} "
                f"elapsed {_clock(elapsed)} | {r['arch']}")
    else:
        done, total = driver.done, driver.config.trials
        shown = (f"val {r['val_acc']:.3f}" if r["val_acc"] is not None
                 else f"{driver.proxy} {r['score']:.4g}" if r.get("score") is not None else "-")
        if r["reused"]:
            status = "reused"
        line = (f"[{done:>{len(str(total))}}/{total}] {status:<7} reward {r['reward']:.4g} {shown} "
                f"{human(r['params'] or 0):>7} params{_latency(r)} {r['seconds'] or 0:6.2f}s | elapsed {_clock(elapsed)} | "
                f"{r['arch']}")
    return line + _details(r)


def _clock(seconds: float) -> str:
    if seconds != seconds:
        return "--:--"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def print_summary(driver) -> None:
    searched = [r for r in driver.records if driver._searched(r)]
    failed = sum(r["status"] != "ok" for r in searched)
    noun = "proposals" if driver.cheap else "trials"
    print(f"\n{driver.done} {noun} ({failed} failed, {sum(bool(r['reused']) for r in searched)} reused) "
          f"in {driver.store.root}")
    if driver.cheap:
        scored = "shared-weight val_acc" if driver.evaluation == "shared" else f"{driver.proxy} score"
        print(f"{len(driver.retrained)} of the best by {scored} retrained from scratch:")
    ok = sorted((r for r in driver.records if r["status"] == "ok" and r.get("evaluation", "full") == "full"),
                key=lambda r: -r["reward"])
    if not ok:
        print("no trial finished successfully")
        return
    if driver.cheap:
        by_trial = {r["trial"]: r for r in driver.records}
        rows = [[str(r["trial"]), f"{r['reward']:.4f}", f"{r['val_acc']:.4f}",
                 _cheap_value(by_trial.get(r.get("retrain_of"))), human(r["params"]), human(r["macs"]), r["arch"]]
                for r in ok[:5]]
        print(table(rows, ["trial", "reward", "val_acc", "scored", "params", "MACs", "architecture"],
                    right={0, 1, 2, 3, 4, 5}))
    elif driver.latency_config is not None:
        rows = [[str(r["trial"]), f"{r['reward']:.4f}", f"{r['val_acc']:.4f}", human(r["params"]), human(r["macs"]),
                 "-" if r.get("latency_ms") is None else f"{r['latency_ms']:.3g}", r["arch"]] for r in ok[:5]]
        print(table(rows, ["trial", "reward", "val_acc", "params", "MACs", "latency ms", "architecture"],
                    right={0, 1, 2, 3, 4, 5}))
    else:
        rows = [[str(r["trial"]), f"{r['reward']:.4f}", f"{r['val_acc']:.4f}", human(r["params"]), human(r["macs"]),
                 r["arch"]] for r in ok[:5]]
        print(table(rows, ["trial", "reward", "val_acc", "params", "MACs", "architecture"], right={0, 1, 2, 3, 4}))
    _print_front(driver, ok)
    print(f"\nbest: {driver.best()['arch']}\n      ({driver.store.best_path})")  # what best.json holds


COST_LABELS = {"latency_ms": "latency (ms)", "params": "params", "macs": "MACs"}


def _print_front(driver, ok: list[dict]) -> None:
    """For a multi-objective strategy: the architectures no other beats on both accuracy and
    its cost (``nas report`` writes every front, with hypervolumes)."""
    from ..report.pareto import non_dominated

    costs = [k for k in getattr(driver.strategy, "needs", ()) if k in COST_LABELS]
    if not costs:
        return
    cost = costs[0]
    rows = [r for r in ok if r.get("val_acc") is not None and r.get(cost) is not None]
    front = [rows[i] for i in non_dominated([(r["val_acc"], r[cost]) for r in rows], ("max", "min"))]
    print(f"\nPareto front (val acc vs {COST_LABELS[cost]}): {len(front)} of {len(rows)} architectures")
    fmt = (lambda v: f"{v:.3g}") if cost == "latency_ms" else (lambda v: human(int(v)))
    print(table([[str(r["trial"]), f"{r['val_acc']:.4f}", fmt(r[cost]), r["arch"]] for r in front],
                ["trial", "val_acc", COST_LABELS[cost], "architecture"], right={0, 1, 2}))


def _cheap_value(r: dict | None) -> str:
    """What the search scored a retrained proposal at: shared-weight accuracy or proxy score."""
    if r is None:
        return "-"
    return f"{r['val_acc']:.4f}" if r.get("val_acc") is not None else f"{r.get('score', float('nan')):.4g}"
