"""`nas search` end to end: starting its own Ray vs attached to a running cluster.

The same small search (digits, reinforce, T trials of 1 epoch, two at a time, seed 0) runs
as a command, ``python -m nas search ...``, timed from the process start to its exit, as a
user's shell sees it:

* ``own``: plain ``nas search``: ``ray.init()`` starts a private local Ray (2 CPUs here)
  and shuts it down at the end;
* ``attached``: ``nas search --address 127.0.0.1:PORT`` against a ``ray start --head``
  cluster with 2 CPUs that this benchmark starts once beforehand (its start-up is reported
  on its own line and is in no search's time). The head uses token authentication, as
  ``ray start --head`` does when a token exists: ``nas`` finds the token by itself.

R repetitions of each, alternating own/attached so that load changes hit both alike. Both
run with the same environment: HOME is a temporary folder whose ``.ray/auth_token`` holds a
fresh token (so nothing of the user's ``~/.ray`` is read or written), no ``RAY_AUTH_*``.
Per search, besides the wall time, from the process start: to Ray being ready
(``to_ray_ready_s``: the run's config.yaml, which ``run_search`` writes right after starting
or joining Ray; imports and data included), and to the first trial's ``run_trial``
(``to_first_trial_s``: its ``started_at`` in trials.jsonl; Tune's set-up and the first
trial actor's process start and imports included, which a running cluster does not save:
its idle workers have not imported torch or nas).
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

try:
    from . import _common as c
    from ._ray_head import clean_env, ray_head
except ImportError:  # run as a script
    import _common as c
    from _ray_head import clean_env, ray_head

BENCH = "attach"
ROOT = Path(__file__).resolve().parents[1]


def _env(home: Path) -> dict[str, str]:
    return clean_env(HOME=str(home))


def search(runs: Path, name: str, env: dict[str, str], trials: int, address: str | None) -> dict[str, Any]:
    """One ``python -m nas search`` process; its wall time and time to the first trial."""
    cmd = [sys.executable, "-m", "nas", "search", "--trials", str(trials), "--epochs", "1", "--concurrency", "2",
           "--seed", "0", "--runs-dir", str(runs), "--name", name]
    if address:
        cmd += ["--address", address]
    started_wall, start = time.time(), time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} exited {p.returncode}: {p.stderr.strip()[-1500:]}")
    recs = [json.loads(line) for line in (runs / name / "trials.jsonl").read_text().splitlines()]
    assert len(recs) == trials and all(r["status"] == "ok" for r in recs), recs
    first = min(r["started_at"] for r in recs if r.get("started_at") is not None)
    # run_search writes config.yaml right after Ray is started or joined (and its resources checked)
    ray_ready = (runs / name / "config.yaml").stat().st_mtime
    return {"wall_s": wall, "to_ray_ready_s": ray_ready - started_wall, "to_first_trial_s": first - started_wall}


def run(quick: bool) -> Iterator[dict]:
    reps, trials = (2, 12) if quick else (5, 12)
    walls: dict[str, list[dict[str, Any]]] = {"own": [], "attached": []}
    with tempfile.TemporaryDirectory(prefix="nas-bench-attach-") as tmp:
        home = Path(tmp) / "home"
        (home / ".ray").mkdir(parents=True)
        (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
        env = _env(home)
        with ray_head(env) as head:
            address = head.address
            yield c.result(BENCH, "head_start_seconds", head.seconds, unit="s", quick=quick, loadavg_1m=c.loadavg(),
                           note="`ray start --head --num-cpus=2` until 'Ray runtime started'; in no search's time")
            for i in range(reps):  # alternating, so load changes hit both alike
                walls["own"].append(search(Path(tmp) / "runs", f"own-{i}", env, trials, None))
                walls["attached"].append(search(Path(tmp) / "runs", f"attached-{i}", env, trials, address))
    load = c.loadavg()
    base = dict(quick=quick, n=reps, trials=trials, epochs=1, concurrency=2, strategy="reinforce", dataset="digits",
                loadavg_1m=load)
    spreads = {k: {m: c.spread([x[m] for x in v]) for m in ("wall_s", "to_ray_ready_s", "to_first_trial_s")}
               for k, v in walls.items()}
    for mode, setting in (("own", "plain `nas search`: starts and stops a private local Ray (2 CPUs)"),
                          ("attached", "`nas search --address 127.0.0.1:PORT`: a running `ray start --head` "
                                       "cluster with 2 CPUs and token authentication")):
        s = spreads[mode]
        yield c.result(BENCH, f"search_wall_{mode}_seconds", s["wall_s"]["median"], unit="s", spread=s["wall_s"],
                       per_rep=[x["wall_s"] for x in walls[mode]], to_ray_ready_s=s["to_ray_ready_s"],
                       to_first_trial_s=s["to_first_trial_s"],
                       setting=setting, **base)
    own, att = spreads["own"]["wall_s"]["median"], spreads["attached"]["wall_s"]["median"]
    yield c.result(BENCH, "attached_vs_own_ray_wall", att / own, unit="x", ratio=att / own, ratio_of="medians",
                   own_s=own, attached_s=att, saved_per_search_s=own - att,
                   to_ray_ready_own_s=spreads["own"]["to_ray_ready_s"]["median"],
                   to_ray_ready_attached_s=spreads["attached"]["to_ray_ready_s"]["median"],
                   to_first_trial_own_s=spreads["own"]["to_first_trial_s"]["median"],
                   to_first_trial_attached_s=spreads["attached"]["to_first_trial_s"]["median"], **base)


if __name__ == "__main__":
    for rec in run("--quick" in sys.argv):
        print(json.dumps(rec), flush=True)
