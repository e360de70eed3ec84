"""``nas space FILE [--sample N] [--seed S] [--json]``: a search space's decisions, size and samples.

FILE is a space file or the name of a shipped space (``digits``, ``cifar10``, ``zoph2017``).
Samples are drawn uniformly from the valid architectures with ``random.Random(seed)``.
"""
from __future__ import annotations

import random

from ..nn import summarize
from ..errors import NasError
from ..space import SearchSpace, shipped
from ._util import human, print_json, table


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "space", help="show a search space: decisions, size, sampled architectures",
        description="Show a search space: its decisions (name, kind, options), its size and "
                    "N architectures sampled uniformly from its valid ones, with params and MACs.",
    )
    p.add_argument("file", metavar="FILE", help=f"a space file or a shipped space ({', '.join(shipped())})")
    p.add_argument("--sample", type=int, default=3, metavar="N", help="architectures to sample (default 3)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the sampler (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object (default: a table)")
    p.set_defaults(func=run)


def describe(space: SearchSpace, n: int, seed: int) -> dict:
    """Everything ``nas space`` shows, as plain JSON-ready data."""
    if n < 0:
        raise NasError(f"--sample must be 0 or more, got {n}")
    rng = random.Random(seed)
    samples = []
    for _ in range(n):
        choices = space.sample(rng)
        arch = space.decode(choices)
        s = summarize(arch, space.input_shape, space.num_classes)
        samples.append({"arch": arch, "choices": list(choices), "params": s.params, "macs": s.macs})
    c = space.constraints
    return {
        "name": space.name,
        "path": str(space.path) if space.path else None,
        "hash": space.hash,
        "input": list(space.input_shape),
        "classes": space.num_classes,
        "dataset": space.dataset,
        "constraints": {"max_params": c.max_params, "max_macs": c.max_macs, "max_latency_ms": c.max_latency_ms},
        "size": space.size,
        "decisions": [{"name": d.name, "kind": d.kind, "options": list(d.options)} for d in space.decisions],
        "seed": seed,
        "samples": samples,
    }


def _option(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def run(args) -> int:
    space = SearchSpace.load(args.file)
    info = describe(space, args.sample, args.seed)
    if args.json:
        print_json(info)
        return 0
    c = space.constraints
    limits = [f"params <= {c.max_params:,}" if c.max_params else "", f"MACs <= {c.max_macs:,}" if c.max_macs else "",
              f"latency <= {c.max_latency_ms:g} ms (measured by the search)" if c.max_latency_ms else ""]
    print(f"space {space.name}  ({info['path']}, sha256 {space.hash[:12]})")
    print(f"input {'x'.join(map(str, space.input_shape))}, {space.num_classes} classes, "
          f"dataset {space.dataset or '-'}, constraints: {', '.join(x for x in limits if x) or 'none'}")
    print()
    print(table([[d["name"], d["kind"], " ".join(_option(o) for o in d["options"])] for d in info["decisions"]],
                ["decision", "kind", "options"]))
    print()
    size = space.size
    print(f"size: {size:,} architectures" + (f" (about {float(size):.2e})" if size >= 10**9 else ""))
    if info["samples"]:
        print()
        print(f"samples (seed {args.seed}):")
        print(table([[human(s["params"]), human(s["macs"]), s["arch"]] for s in info["samples"]],
                    ["params", "MACs", "architecture"], right={0, 1}))
    return 0
