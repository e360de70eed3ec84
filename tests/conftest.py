"""Shared test setup: one torch thread, the digits splits, the repository root, a local Ray."""
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The test machines are shared 2-core boxes and the models here are tiny: extra
    intra-op threads only spin (the controller's LSTM steps ran ~10x slower in CPU time
    with two threads on a busy machine). Tests that set threads restore them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (search_spaces/, bench/, README.md)."""
    return REPO


@pytest.fixture(scope="session")
def digits():
    """The bundled digits with data.load's defaults (val fraction 0.1, seed 0)."""
    from nas.train import data

    return data.load("digits")


@pytest.fixture(scope="session")
def search_digits():
    """The digits as `nas search` and `nas train` load them: the search's val fraction, seed 0."""
    from nas.train import data
    from nas.tune import SearchConfig

    return data.load("digits", None, val_fraction=SearchConfig().val_fraction, seed=0)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray for the tests of one module that run searches in this process."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
