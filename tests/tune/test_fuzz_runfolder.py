"""Fuzzing run folders: a real run folder, damaged at random (bytes flipped, lines cut, added,
doubled or swapped, files emptied, replaced or removed), must end every way of opening it
(resume, `nas report`'s snapshot) in success or one of our one-line errors, and never lose a
record: trials.jsonl keeps its bytes, except a torn last line moved to trials.jsonl.torn."""
from __future__ import annotations

import functools
import json
import shutil

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nas.testing.fuzz import examples, settle
from nas.tune import RunStore, SearchConfig, SearchDriver, SearchEvents, resolve

FILES = ["trials.jsonl", "config.yaml", "space.yaml", "strategy.pt", "best.json"]


@functools.lru_cache(maxsize=1)
def _template(root: str) -> str:
    """One finished run of 6 trials (no Ray: the driver alone), made once per session."""
    from pathlib import Path

    runs = Path(root)
    cfg, space, store = resolve(SearchConfig(runs_dir=str(runs), name="t", trials=6, epochs=1,
                                             strategy="reinforce", strategy_options={"batch_size": 2}), resume=False)
    store.write_config({"search": cfg.to_dict(), "space_file": str(space.path), "space_hash": space.hash,
                        "dataset": {}}, space.path.read_bytes())
    driver = SearchDriver(cfg, space, store)
    store.save_state(driver.strategy.state_dict())
    for i in range(6):
        driver.next_config(f"t{i}")
        driver.complete(f"t{i}", {"val_accs": [0.1 * i], "params": 10, "macs": 20, "status": "ok", "seconds": 0.1})
    return str(store.root)


@st.composite
def damage(draw):
    """A list of (file, operation, position, payload) edits."""
    ops = st.sampled_from(["flip", "cut", "insert", "double", "swap", "empty", "remove", "garbage", "json"])
    edit = st.tuples(st.sampled_from(FILES), ops, st.integers(0, 10**6),
                     st.one_of(st.binary(max_size=40), st.sampled_from([
                         b"\n", b"{}\n", b"[1,2]\n", b'{"reward": "high"}\n', b"\xff\xfe\n", b"[" * 5000 + b"\n",
                         b"null\n", b"!!python/object:os.system\n"])))
    return draw(st.lists(edit, min_size=1, max_size=4))


def _apply(root, edits) -> None:
    for name, op, pos, payload in edits:
        path = root / name
        if not path.exists():
            continue
        data = path.read_bytes()
        i = pos % (len(data) + 1)
        lines = data.split(b"\n")
        j = pos % max(1, len(lines))
        if op == "flip" and data:
            i = pos % len(data)
            data = data[:i] + bytes([data[i] ^ (1 << (pos % 8))]) + data[i + 1:]
        elif op == "cut":
            data = data[:i]
        elif op == "insert":
            data = data[:i] + payload + data[i:]
        elif op == "double":
            data = b"\n".join(lines[: j + 1] + lines[j:])
        elif op == "swap" and len(lines) > 2:
            k = (j + 1) % len(lines)
            lines[j], lines[k] = lines[k], lines[j]
            data = b"\n".join(lines)
        elif op == "empty":
            data = b""
        elif op == "remove":
            path.unlink()
            continue
        elif op == "garbage":
            data = payload
        elif op == "json" and name == "trials.jsonl" and len(lines) > 1:
            try:  # one value of one record replaced
                rec = json.loads(lines[j % (len(lines) - 1)])
                key = sorted(rec)[pos % len(rec)]
            except (ValueError, TypeError, ZeroDivisionError):
                continue
            rec[key] = json.loads(payload) if payload.strip() in (b"{}", b"[1,2]", b"null") else payload.decode("latin-1")
            lines[j % (len(lines) - 1)] = json.dumps(rec).encode()
            data = b"\n".join(lines)
        path.write_bytes(data)


def _resume(root) -> None:
    """What `nas search --resume` does but start Ray: resolve, open the driver (state restored and
    reconciled, a torn line set aside), then run one more trial."""
    config, space, store = resolve(SearchConfig(runs_dir=str(root.parent), name=root.name), resume=True)
    said: list[str] = []
    events = SearchEvents()
    events.warning = said.append
    driver = SearchDriver.resume(config, space, store, events=events)
    assert all("set aside a torn last line" in m for m in said), said  # the only thing a resume may say
    cfg = driver.next_config("again")
    if isinstance(cfg, dict):
        driver.complete("again", {"val_accs": [0.5], "params": 1, "macs": 1, "status": "ok", "seconds": 0.1})


def _report(root) -> None:
    RunStore(root).snapshot()


@pytest.mark.fuzz
@settings(max_examples=examples(60), derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=damage())
@example(edits=[("config.yaml", "garbage", 0, b"[" * 5000 + b"\n")])  # found by the long run: a RecursionError
def test_a_damaged_run_folder_is_opened_or_refused_and_loses_no_record(tmp_path_factory, edits):
    template = _template(str(tmp_path_factory.getbasetemp() / "fuzz-runs"))
    for how, target in ((_resume, "run-folder-resume"), (_report, "run-folder-report")):
        root = tmp_path_factory.mktemp("run") / "t"
        shutil.copytree(template, root)
        _apply(root, edits)
        before = (root / "trials.jsonl").read_bytes() if (root / "trials.jsonl").exists() else None
        outcome = settle(target, how, root, seconds=20)
        after = (root / "trials.jsonl").read_bytes() if (root / "trials.jsonl").exists() else None
        torn = root / "trials.jsonl.torn"
        if outcome == "refused" or how is _report:
            assert after == before  # refused or read-only: not a byte changed
        elif before is not None:
            end = before.rfind(b"\n") + 1
            if torn.exists():  # only a torn last line may go, and it is kept beside
                assert after.startswith(before[:end]) and torn.read_bytes() == before[end:] + b"\n"
            else:
                assert after.startswith(before) or after.startswith(before + b"\n"), "a record was lost"
