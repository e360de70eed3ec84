"""``nas export RUN``: retrain the best architectures of a run from scratch and export each.

The final-training recipe (``nas.export`` module doc): train split only, val held out, test
measured once at the end; the run's own training settings and epochs unless ``--preset`` /
``--retrain-epochs`` say otherwise. ``nas train`` shares :func:`train_and_export`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConfigError
from ._util import human, positive_int, table, whole_number


def add_parser(sub):
    p = sub.add_parser("export", help="retrain a run's best architectures and export them (safetensors, torch.export, ONNX)",
                       description="Retrain the best (or top-K distinct) architectures of a run from scratch on the train "
                                   "split, report val and test accuracy, and write one self-contained folder each.")
    p.add_argument("run", metavar="RUN", help="run folder, or a run name under --runs-dir")
    p.add_argument("--top", default="1", metavar="K", help="export the K best distinct architectures (default 1)")
    p.add_argument("--retrain-epochs", default=None, metavar="E", help="epochs of final training (default: the run's)")
    from ..train import PRESETS, data

    p.add_argument("--dataset", default=None, help=f"dataset to train on; one of: {', '.join([*data.names(), *data.own_forms()])} "
                                                   "(default: the run's)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: the run's)")
    p.add_argument("--preset", default=None, help=f"training preset instead of the run's training settings; one of: "
                                                  f"{', '.join(PRESETS.names())} (default: the run's settings)")
    p.add_argument("--seed", default=None, help="seed of initialization and training (default: the run's)")
    add_format_flag(p)
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN/export); rank K goes to DIR/rankK")
    add_force_flag(p, "DIR/rankK")
    p.add_argument("--runs-dir", default="runs", help="where run names are looked up (default: runs)")
    p.set_defaults(func=run)


def add_force_flag(p, what: str) -> None:
    p.add_argument("--force", action="store_true",
                   help=f"replace an existing export in {what} (default: refuse; a folder that is not an earlier "
                        "export is never replaced)")


def add_format_flag(p) -> None:
    from ..export import DEFAULT_FORMATS, FORMATS

    p.add_argument("--formats", nargs="+", default=None, metavar="FORMAT",
                   help=f"any of {', '.join(FORMATS)}, or all (default: {' '.join(DEFAULT_FORMATS)}; safetensors is always "
                        "written; torchscript is deprecated upstream and opt-in)")


def parse_formats(values: list[str] | None) -> tuple[str, ...]:
    from ..export import FORMATS, check_formats

    if values is None:
        return check_formats(None)
    names = [f.strip() for v in values for f in v.split(",") if f.strip()]
    return check_formats(FORMATS if names == ["all"] else names)


def nonnegative_int(flag: str, value) -> int:
    return whole_number(flag, value, 0)


def progress(total: int, num_classes: int, out=None):
    """``on_epoch`` callback printing one line per epoch, and one warning (on stderr) as soon
    as the training loss has sat at chance level for several epochs (``chance_warning``)."""
    from ..train import chance_warning

    out = out if out is not None else sys.stdout
    losses: list[float] = []
    val_accs: list[float] = []
    warned = False

    def on_epoch(epoch: int, m: dict) -> None:
        nonlocal warned
        print(f"  epoch {epoch:>{len(str(total))}}/{total}  loss {m['train_loss']:.4f}  train {m['train_acc']:.4f}  "
              f"val {m['val_acc']:.4f}  lr {m['lr']:.5f}  {m['epoch_seconds']:.1f}s", file=out, flush=True)
        losses.append(m["train_loss"])
        val_accs.append(m["val_acc"])
        if not warned and (warning := chance_warning(losses, num_classes, val_accs)):
            warned = True
            print(f"nas: warning: {warning}", file=sys.stderr, flush=True)

    return on_epoch


def train_and_export(arch: str, splits, config, out_dir: Path, formats, source: dict, *, force: bool = False):
    """Final training of ``arch``, then ``export_model`` into ``out_dir``; prints as it goes.

    Returns ``(TrainResult, ExportResult or None)``; None when training failed.
    """
    from ..export import export_model
    from ..train import example_batch, train_final, training_meta

    model, result = train_final(arch, splits, config, on_epoch=progress(config.epochs, splits.num_classes))
    if result.failed:
        print(f"  training failed: {result.reason}", flush=True)
        return result, None
    print(f"  val {_acc(result.val_acc)}  test {_acc(result.test_acc)}  ({len(result.val_accs)} epoch{'s' if len(result.val_accs) != 1 else ''}, "
          f"{result.seconds:.1f}s on {result.device})", flush=True)
    exported = export_model(model, arch, out_dir, training_meta(result, splits, config, source), formats,
                            example_batch(splits), force=force)
    fold = exported.fold
    kept = f"; {len(fold.not_folded)} other norms run unfolded" if fold.not_folded else ""
    print(f"  wrote {out_dir}: {' '.join(exported.files.values())} ({len(fold.folded)} conv -> BN pairs folded{kept})")
    checks = ", ".join(f"{k} {c['rel_diff']:.1e}" for k, c in exported.checks.items())
    print(f"  max deviation from the PyTorch model (relative to output scale): {checks}")
    if not exported.ok:
        bad = [k for k, c in exported.checks.items() if not c["ok"]]
        print(f"  WARNING: {', '.join(bad)} differ from the PyTorch model by more than {exported.checks[bad[0]]['tolerance']:g}"
              " (see meta.json)", file=sys.stderr)
    return result, exported


def _acc(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else "-"


def run(args) -> int:
    from ..export import check_target
    from ..report import leaderboard
    from ..train import TrainConfig, data, preset
    from ..tune import RunStore, SearchConfig

    top = positive_int("--top", args.top)
    formats = parse_formats(args.formats)
    r = RunStore.find(args.run, args.runs_dir).snapshot()
    for w in r.warnings:
        print(f"nas: warning: {w}", file=sys.stderr)
    search = SearchConfig.from_dict(r.search, where=str(r.root / "config.yaml"))
    rows = leaderboard(r.trials)[:top]
    if not rows:
        raise ConfigError(f"run {r.name!r} has no successful trial to export")

    base = preset(args.preset) if args.preset else TrainConfig()
    overrides = {} if args.preset else dict(search.train)
    if args.retrain_epochs is not None:
        overrides["epochs"] = positive_int("--retrain-epochs", args.retrain_epochs)
    elif not args.preset:
        overrides["epochs"] = search.epochs
    overrides["seed"] = nonnegative_int("--seed", args.seed) if args.seed is not None else search.seed
    config = TrainConfig.from_dict(overrides, base=base)
    recorded = r.config.get("dataset")
    dataset = args.dataset or search.dataset or (recorded.get("dataset") if isinstance(recorded, dict) else None)
    if not dataset:
        raise ConfigError(f"run {r.name!r} records no dataset; pass --dataset")
    out = Path(args.out) if args.out else r.root / "export"
    for row in rows:  # refuse an existing folder before hours of training, not after
        check_target(out / f"rank{row['rank']}", force=args.force)
    splits = data.load(dataset, args.data_dir or search.data_dir, val_fraction=search.val_fraction, seed=search.seed)

    print(f"exporting the top {len(rows)} of run {r.name} ({len(r.trials)} trials): retrained from scratch on the "
          f"{dataset} train split ({len(splits.train_y)} images), {config.epochs} epochs, seed {config.seed}")
    summary, status = [], 0
    for row in rows:
        k = row["rank"]
        print(f"\nrank {k}: trial {row['trial']}, search reward {row['reward']:.4f}\n  {row['arch']}", flush=True)
        source = {
            "source": {
                "kind": "search", "run": r.name, "run_dir": str(r.root), "rank": k, "trial": row["trial"],
                "search_reward": row["reward"], "search_val_acc": row.get("val_acc"),
                "search_epochs": row.get("epochs"), "strategy": search.strategy, "space": search.space,
                "search_dataset": search.dataset,
            },
            "space_file": r.config.get("space_file"),
            "space_hash": r.config.get("space_hash"),
        }
        result, exported = train_and_export(row["arch"], splits, config, out / f"rank{k}", formats, source,
                                            force=args.force)
        if exported is None or not exported.ok:
            status = 1
        meta = exported.meta if exported else {}
        summary.append([str(k), str(row["trial"]), f"{row['reward']:.4f}", _acc(result.val_acc), _acc(result.test_acc),
                        human(meta.get("params", 0)), human(meta.get("macs", 0)),
                        str(out / f"rank{k}") if exported else "failed"])
    print()
    print(table(summary, ["rank", "trial", "reward", "val", "test", "params", "MACs", "folder"], right={0, 1, 2, 3, 4, 5, 6}))
    return status
