"""``nas show ARCH_OR_BASELINE``: per-layer shapes, parameters and MACs."""
from __future__ import annotations

from ..nn import check_size
from ._util import arch_or_baseline, human, parse_shape, positive_int, print_json, table


def add_parser(sub):
    p = sub.add_parser("show", help="per-layer table of an architecture string or a baseline",
                       description="Print each layer's output shape, parameters and MACs, and the totals.")
    p.add_argument("arch", metavar="ARCH_OR_BASELINE", help="an architecture string (quote it) or a baseline name")
    p.add_argument("--input", default=None, help="input shape CxHxW (default 3x224x224)")
    p.add_argument("--classes", default="1000", help="number of classes (default 1000)")
    p.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    p.set_defaults(func=run)


def run(args) -> int:
    input_shape = parse_shape(args.input) if args.input else (3, 224, 224)
    classes = positive_int("--classes", args.classes)
    # check_size is summarize within the limits: a candidate too large to build is refused.
    s = check_size(arch_or_baseline(args.arch, input_shape)[0], input_shape, classes)
    if args.json:
        print_json(s.to_dict())
        return 0
    rows = [[str(li.index), str(li.layer) if li.layer else f"head: linear({classes})",
             "x".join(map(str, li.out_shape)), f"{li.params:,}", f"{li.macs:,}"] for li in s.layers]
    print(s.arch)
    print(f"input {'x'.join(map(str, input_shape))}, {classes} classes\n")
    print(table(rows, ["#", "layer", "output", "params", "MACs"], right={0, 3, 4}))
    print(f"\ntotal: {s.params:,} params ({human(s.params)}), {s.macs:,} MACs ({human(s.macs)}) per image")
    return 0
