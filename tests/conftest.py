"""Shared test setup."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The test machines are shared 2-core boxes and the models here are tiny: extra
    intra-op threads only spin (the controller's LSTM steps ran ~10x slower in CPU time
    with two threads on a busy machine). Tests that set threads restore them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
