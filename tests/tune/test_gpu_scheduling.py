"""Fractional GPUs through Ray, on a CPU machine: Ray is told the node has one GPU, so
trials asking for 0.5 GPU each are scheduled two at a time on it (the trainer itself
falls back to the CPU, as torch sees no CUDA device here)."""

import pytest

from nas.tune import SearchConfig
from nas.tune import run_search


@pytest.fixture()
def ray_one_declared_gpu():
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_two_trials_share_one_gpu(tmp_path, ray_one_declared_gpu):
    run = run_search(SearchConfig(runs_dir=str(tmp_path), trials=4, concurrency=2, epochs=3, strategy="random",
                                  gpus_per_trial=0.5))
    recs = run.store.read_trials()
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    assert all(r["gpu_ids"] == ["0"] for r in recs)  # each trial got (a half of) GPU 0
    spans = sorted((r["started_at"], r["started_at"] + r["seconds"]) for r in recs)
    overlaps = sum(b[0] < a[1] for a, b in zip(spans, spans[1:]))
    assert overlaps >= 1  # two trials ran at the same time on the one GPU


def test_gpus_per_trial_above_the_cluster_is_refused_early(tmp_path, ray_one_declared_gpu):
    from nas.errors import ConfigError

    with pytest.raises(ConfigError, match="GPU"):
        run_search(SearchConfig(runs_dir=str(tmp_path), trials=1, gpus_per_trial=2))
    assert not any(tmp_path.iterdir())
