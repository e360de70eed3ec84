"""``nas search``: the main job. Flags override the ``--config`` YAML, which overrides the defaults."""
from __future__ import annotations

import sys

from ..errors import ConfigError
from ..runconfig import SearchConfig, load_yaml_config

# flag -> (SearchConfig field, type); every flag can also be set in the YAML config.
FLAGS = {
    "--name": ("name", str), "--trials": ("trials", int), "--concurrency": ("concurrency", int),
    "--strategy": ("strategy", str), "--dataset": ("dataset", str), "--data-dir": ("data_dir", str),
    "--epochs": ("epochs", int), "--cpus-per-trial": ("cpus_per_trial", float),
    "--gpus-per-trial": ("gpus_per_trial", float), "--address": ("address", str), "--seed": ("seed", int),
    "--runs-dir": ("runs_dir", str), "--val-fraction": ("val_fraction", float),
}


def add_parser(sub):
    p = sub.add_parser("search", help="run a search with Ray Tune (default: digits, a few minutes on 2 CPUs)",
                       description="Train sampled architectures in parallel and learn from their validation accuracy.")
    p.add_argument("space", nargs="?", default=None, help="search-space YAML file or shipped name (default: digits)")
    p.add_argument("--config", default=None, help="YAML file with any of the settings below (flags win)")
    for flag, (field, _) in FLAGS.items():
        p.add_argument(flag, dest=field, default=None, metavar=field.upper())
    p.add_argument("--asha", action="store_const", const=True, default=None, help="ASHA early stopping")
    p.add_argument("--no-reuse", dest="reuse", action="store_const", const=False, default=None,
                   help="train an architecture again even if this run evaluated it already")
    p.add_argument("--resume", action="store_true", help="continue the run (by --name, else the latest of its kind)")
    p.set_defaults(func=run)


def _convert(flag: str, value: str, kind):
    if kind is str:
        return value
    try:
        return kind(value)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{flag} must be {what}, got {value!r}") from None


def config_from_args(args) -> SearchConfig:
    data = load_yaml_config(args.config) if args.config else {}
    cfg = SearchConfig.from_dict(data, where=args.config or "config")
    flags = {}
    if args.space is not None:
        flags["space"] = args.space
    for flag, (field, kind) in FLAGS.items():
        v = getattr(args, field)
        if v is not None:
            flags[field] = _convert(flag, v, kind)
    for field in ("asha", "reuse"):
        if getattr(args, field) is not None:
            flags[field] = getattr(args, field)
    return cfg.updated(flags, where="flags")


def run(args) -> int:
    from ..search import run_search

    cfg = config_from_args(args)
    search = run_search(cfg, resume=args.resume)
    print_summary(search)
    if not search.finished():
        print(f"\nstopped after {search.done} of {search.config.trials} trials; continue with:\n"
              f"  nas search --name {search.config.name} --resume", file=sys.stderr)
        return 130
    return 0


def print_summary(search) -> None:
    from ._util import human, table

    ok = sorted((r for r in search.records if r["status"] == "ok"), key=lambda r: -r["reward"])
    failed = sum(r["status"] != "ok" for r in search.records)
    print(f"\n{search.done} trials ({failed} failed, {sum(bool(r['reused']) for r in search.records)} reused) "
          f"in {search.store.root}")
    if not ok:
        print("no trial finished successfully")
        return
    rows = [[str(r["trial"]), f"{r['reward']:.4f}", f"{r['val_acc']:.4f}", human(r["params"]), human(r["macs"]),
             r["arch"]] for r in ok[:5]]
    print(table(rows, ["trial", "reward", "val_acc", "params", "MACs", "architecture"], right={0, 1, 2, 3, 4}))
    print(f"\nbest: {ok[0]['arch']}\n      (runs/{search.config.name}/best.json)")
