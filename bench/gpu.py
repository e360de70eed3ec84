"""GPU throughput: our trainer against a hand-tuned loop, and trials packed onto one GPU.

Runs only where ``torch.cuda.is_available()``; elsewhere it prints one line with
``"skipped"``. Never imports Ray (the GPU machine has none): standalone as
``python bench/gpu.py --quick`` (``--out FILE`` appends the JSON lines to FILE).

* ``trainer_vs_hand``: images per second of training (validation excluded) of a CIFAR-10
  sized ResNet-18 (``nas.baselines.get("resnet18", (3, 32, 32))``, 11.2M parameters) on
  synthetic CIFAR-shaped data (random images and labels: throughput does not depend on
  them), batch 256, SGD momentum 0.9 Nesterov. Ours: ``nas.train.train`` with
  ``augment="none"`` (it moves the data to the GPU once, uses channels_last and bf16
  autocast). Hand-tuned: data resident on the GPU in channels_last, one gather per epoch
  then contiguous slices, bf16 autocast, ``cudnn.benchmark = True``. Our trainer is run
  both as shipped (it leaves ``cudnn.benchmark`` at PyTorch's default, False) and with the
  flag set, so a gap can be attributed. ``ratio`` = ours / hand (1.0 = as fast).
* ``packing``: 1, 2 and 4 plain processes (``spawn``; no Ray) each training the same
  ResNet-18 with our trainer on one GPU at once, started together by a barrier; the
  aggregate images per second (sum over processes) and its ratio to one process.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Iterator

try:
    from . import _common as c
except ImportError:  # run as a script: python bench/gpu.py
    import _common as c

BENCH = "gpu"
BATCH = 256


def _sizes(quick: bool, device: str) -> dict:
    if device == "cpu":  # --cpu: a functional check of this file on a machine without a GPU
        return {"train": 512, "epochs": 1, "reps": 1, "baseline": "tiny"}
    return {"train": 10_240 if quick else 50_000, "epochs": 3 if quick else 5, "reps": 2 if quick else 3,
            "baseline": "resnet18"}


def _arch(which: str) -> str:
    if which == "tiny":
        return "conv(8,3) basic(16,stride=2) gap"
    from nas import baselines

    return baselines.get("resnet18", (3, 32, 32))


def synthetic_splits(n_train: int, seed: int = 0):
    """CIFAR-shaped random data as ``nas.train.data.Splits`` (float32 on the CPU, as ``data.load`` gives)."""
    import torch

    from nas.train.data import Splits

    g = torch.Generator().manual_seed(seed)

    def part(n):
        return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)

    (tx, ty), (vx, vy), (sx, sy) = part(n_train), part(512), part(512)
    return Splits(train_x=tx, train_y=ty, val_x=vx, val_y=vy, test_x=sx, test_y=sy, input_shape=(3, 32, 32),
                  num_classes=10, name="synthetic-cifar", meta={"augment": "none", "dataset": "synthetic-cifar"})


def ours(arch: str, splits, epochs: int, device: str, cudnn_benchmark: bool) -> float:
    """Images per second of ``nas.train.train`` (training phase only), after a 1-epoch warm-up."""
    import torch

    import nas
    from nas.train import TrainConfig, train

    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        cfg = TrainConfig(epochs=epochs, batch_size=BATCH, device=device, augment="none", amp=True, seed=0)
        torch.manual_seed(0)
        train(nas.build(arch, (3, 32, 32), 10), splits, TrainConfig(epochs=1, batch_size=BATCH, device=device,
                                                                   augment="none"))
        torch.manual_seed(0)
        r = train(nas.build(arch, (3, 32, 32), 10), splits, cfg)
        assert r.status == "ok", r.reason
        return r.images_per_sec
    finally:
        torch.backends.cudnn.benchmark = before


def hand_tuned(arch: str, splits, epochs: int, device: str) -> float:
    """Images per second of a hand-tuned loop: resident channels_last data, bf16, cudnn.benchmark."""
    import torch
    import torch.nn.functional as F

    import nas

    dev = torch.device(device)
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    try:
        torch.manual_seed(0)
        model = nas.build(arch, (3, 32, 32), 10).to(dev, memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
        x = splits.train_x.to(dev).contiguous(memory_format=fmt)
        y = splits.train_y.to(dev)
        n = len(y)
        steps = n // BATCH
        model.train()

        def epoch():
            perm = torch.randperm(n, device=dev)
            xs, ys = x[perm].contiguous(memory_format=fmt), y[perm]
            for i in range(steps):
                xb, yb = xs[i * BATCH:(i + 1) * BATCH], ys[i * BATCH:(i + 1) * BATCH]
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    loss = F.cross_entropy(model(xb).float(), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        epoch()  # warm-up (cudnn autotuning, allocator)
        _sync(dev)
        start = time.perf_counter()
        for _ in range(epochs):
            epoch()
        _sync(dev)
        return epochs * steps * BATCH / (time.perf_counter() - start)
    finally:
        torch.backends.cudnn.benchmark = before


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _pack_worker(barrier, queue, arch: str, n_train: int, epochs: int, device: str, seed: int) -> None:
    import torch

    import nas
    from nas.train import TrainConfig, train

    splits = synthetic_splits(n_train, seed)
    torch.manual_seed(seed)
    train(nas.build(arch, (3, 32, 32), 10), splits, TrainConfig(epochs=1, batch_size=BATCH, device=device,
                                                               augment="none"))  # warm-up: CUDA context, kernels
    barrier.wait()
    start = time.monotonic()
    r = train(nas.build(arch, (3, 32, 32), 10), splits,
              TrainConfig(epochs=epochs, batch_size=BATCH, device=device, augment="none", seed=seed))
    queue.put({"images_per_sec": r.images_per_sec, "start": start, "end": time.monotonic(),
               "images": epochs * (n_train // BATCH) * BATCH, "status": r.status, "reason": r.reason})


def packed(k: int, arch: str, n_train: int, epochs: int, device: str) -> dict:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_pack_worker, args=(barrier, queue, arch, n_train, epochs, device, i))
             for i in range(k)]
    for p in procs:
        p.start()
    outs = [queue.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    bad = [o["reason"] for o in outs if o["status"] != "ok"]
    if bad:
        raise RuntimeError(f"a packed trial failed: {bad[0]}")
    span = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    return {"sum_images_per_sec": sum(o["images_per_sec"] for o in outs),
            "span_images_per_sec": sum(o["images"] for o in outs) / span,
            "per_process": [o["images_per_sec"] for o in outs]}


def run(quick: bool, device: str | None = None) -> Iterator[dict]:
    import torch

    if device is None:
        if not torch.cuda.is_available():
            why = ("torch.cuda.is_available() is False" + (f" (torch {torch.__version__}, built with CUDA "
                   f"{torch.version.cuda}, but no device visible)" if torch.version.cuda else
                   f" (torch {torch.__version__} is a CPU-only build)"))
            yield c.result(BENCH, "skipped", None, unit="", quick=quick, skipped=f"no CUDA device: {why}; "
                           "run `python bench/gpu.py --quick` on a machine with a GPU")
            return
        device = "cuda"
    size = _sizes(quick, device)
    arch = _arch(size["baseline"])
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (functional check only)"
    splits = synthetic_splits(size["train"])
    base = dict(quick=quick, device=name, model=f"{size['baseline']} (3x32x32, 10 classes)", batch_size=BATCH,
                train_images=size["train"], epochs=size["epochs"])
    runs = {"ours": [], "ours_cudnn_benchmark": [], "hand": []}
    for _ in range(size["reps"]):  # interleaved
        runs["ours"].append(ours(arch, splits, size["epochs"], device, cudnn_benchmark=False))
        runs["ours_cudnn_benchmark"].append(ours(arch, splits, size["epochs"], device, cudnn_benchmark=True))
        runs["hand"].append(hand_tuned(arch, splits, size["epochs"], device))
    med = {k: statistics.median(v) for k, v in runs.items()}
    yield c.result(BENCH, "trainer_vs_hand_images_per_sec", med["ours"], unit="images/s", n=size["reps"],
                   ratio=med["ours"] / med["hand"], hand_images_per_sec=med["hand"],
                   ours_cudnn_benchmark_images_per_sec=med["ours_cudnn_benchmark"],
                   ratio_cudnn_benchmark=med["ours_cudnn_benchmark"] / med["hand"], runs=runs, **base)
    del splits
    if device == "cuda":
        torch.cuda.empty_cache()
    one = None
    for k in (1, 2, 4):
        p = packed(k, arch, size["train"], size["epochs"], device)
        one = one or p["sum_images_per_sec"]
        yield c.result(BENCH, f"packed_{k}_aggregate_images_per_sec", p["sum_images_per_sec"], unit="images/s",
                       n=k, ratio=p["sum_images_per_sec"] / one, ratio_of=f"{k} process{'es' if k > 1 else ''} at once vs 1",
                       span_images_per_sec=p["span_images_per_sec"], per_process=p["per_process"], **base)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute on one GPU)")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("--cpu", action="store_true", help="run the code paths on the CPU with a tiny model "
                    "(a functional check where there is no GPU; the numbers mean nothing)")
    args = ap.parse_args(argv)
    out = open(args.out, "a") if args.out else None
    try:
        for rec in run(args.quick, device="cpu" if args.cpu else None):
            line = json.dumps(rec)
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()
    finally:
        if out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
