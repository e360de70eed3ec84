"""``nas train ARCH_OR_BASELINE``: train any architecture string or built-in baseline with the
one trainer and export it exactly as ``nas export`` does, so that a search result and
ResNet / VGG / GoogLeNet are compared under one recipe."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..train import PRESETS
from ._util import arch_or_baseline, positive_int
from .export import (
    add_force_flag,
    add_format_flag,
    nonnegative_int,
    parse_formats,
    train_and_export,
)

AUTO = "auto"  # --preset: the baseline's family preset (nas.baselines.preset_for), else "default"


def add_parser(sub):
    from ..train import data

    p = sub.add_parser("train", help="train an architecture or a baseline and export it",
                       description="Train an architecture string or a baseline name (see `nas baselines`) from scratch "
                                   "on the train split, report val and test accuracy, and export it like `nas export`.")
    p.add_argument("arch", metavar="ARCH_OR_BASELINE", help="an architecture string (quote it) or a baseline name")
    p.add_argument("--dataset", default="digits",
                   help=f"dataset; one of: {', '.join([*data.names(), *data.own_forms()])} (docs/datasets.md; "
                        f"paths are relative to the current folder) (default: digits)")
    p.add_argument("--data-dir", default=None, help="dataset folder (default: $NAS_DATA_DIR or ./data)")
    p.add_argument("--preset", default=AUTO,
                   help="training preset (default: auto, which is the baseline's family preset, its paper's lr, "
                        "momentum and weight decay on our short schedule, and 'default' for an architecture string); "
                        f"presets: {', '.join(PRESETS.names())}")
    p.add_argument("--epochs", default=None, help="epochs (default: the preset's)")
    p.add_argument("--seed", default="0", help="seed of the validation split, initialization and training (default 0)")
    p.add_argument("--val-fraction", default=None, help="share of the training set held out for validation "
                                                         "(default: the search's default, 0.2)")
    add_format_flag(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: runs/train/<baseline or arch-HASH>-<dataset>)")
    add_force_flag(p, "the output folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import baselines
    from ..errors import ConfigError
    from ..export import check_target
    from ..train import TrainConfig, data, preset
    from ..tune import SearchConfig

    formats = parse_formats(args.formats)
    seed = nonnegative_int("--seed", args.seed)
    overrides = {"seed": seed}
    if args.epochs is not None:
        overrides["epochs"] = positive_int("--epochs", args.epochs)
    is_baseline = args.arch in baselines.names()
    preset_name = args.preset
    if preset_name == AUTO:
        preset_name = baselines.preset_for(args.arch) if is_baseline else "default"
    config = TrainConfig.from_dict(overrides, base=preset(preset_name))
    val_fraction = SearchConfig().val_fraction
    if args.val_fraction is not None:
        try:
            val_fraction = float(args.val_fraction)
        except ValueError:
            raise ConfigError(f"--val-fraction must be a number, got {args.val_fraction!r}") from None
    if is_baseline:
        label = args.arch
    else:  # a malformed string or a misspelt baseline fails before the dataset is loaded
        arch = arch_or_baseline(args.arch, None)[0]
        label = "arch-" + hashlib.sha256(arch.encode()).hexdigest()[:8]
    # A dataset may be a path or module:function: the folder gets its file-name-safe short name.
    default_out = Path("runs") / "train" / f"{label}-{data.short_name(args.dataset)}"
    out = check_target(Path(args.out) if args.out else default_out, force=args.force)
    splits = data.load(args.dataset, args.data_dir, val_fraction=val_fraction, seed=seed)
    if is_baseline:
        arch = arch_or_baseline(args.arch, splits.input_shape)[0]

    print(f"training {args.arch if is_baseline else 'architecture'} on {args.dataset} "
          f"({len(splits.train_y)} train / {len(splits.val_y)} val / {len(splits.test_y)} test images), "
          f"preset {preset_name}, {config.epochs} epochs, seed {seed}\n  {arch}", flush=True)
    source = {"source": {"kind": "train", "baseline": args.arch if is_baseline else None, "preset": preset_name},
              "space_hash": None}
    _, exported = train_and_export(arch, splits, config, out, formats, source, force=args.force)
    return 0 if exported is not None and exported.ok else 1
