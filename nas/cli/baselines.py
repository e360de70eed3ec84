"""``nas baselines``: the built-in classic networks."""
from __future__ import annotations

from ._util import human, print_json, table


def add_parser(sub):
    p = sub.add_parser("baselines", help="list the built-in baselines (ResNet, VGG, GoogLeNet, ...)")
    p.add_argument("--json", action="store_true", help="print a JSON list (default: a table)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import baselines

    info = [baselines.describe(n) for n in baselines.names()]
    if args.json:
        print_json(info)
        return 0
    rows = [[d["name"], d["family"], human(d["params"]), human(d["macs"]), d.get("torchvision") or "-", d["paper"]]
            for d in info]
    print(table(rows, ["name", "family", "params", "MACs", "torchvision", "paper"], right={2, 3}))
    print("\nparams and MACs at 3x224x224, 1000 classes. `nas show NAME` prints the layers.")
    return 0
