"""The controller's scalars go to TensorBoard once per policy update, and resume where they left."""
import pytest

from nas import strategies
from nas.testing import SyntheticSpace
from nas.tune.tensorboard import ControllerLogger, log_controller_scalars


@pytest.fixture(scope="module")
def state():
    """A reinforce strategy's state after 7 policy updates over 4 decisions."""
    space = SyntheticSpace(n_decisions=4, n_options=2, seed=0)
    s = strategies.get("reinforce", space, seed=0, batch_size=2)
    for _ in range(14):
        p = s.ask()
        s.tell(p.id, space.reward(p.choices))
    return s.state_dict()


def read_scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_controller_logger_writes_each_update_once(state, tmp_path):
    updates = state["updates"]
    assert len(updates) == 7
    log = ControllerLogger(tmp_path, decision_names=["d0", "d1", "d2", "d3"])
    assert log.log_new(updates[:3]) == 3
    assert log.log_new(updates[:5]) == 2  # only the new ones, as after every tell in the search driver
    log.close()
    scalars = read_scalars(tmp_path / "tensorboard")
    assert [s for s, _ in scalars["controller/baseline"]] == [1, 2, 3, 4, 5]
    assert scalars["controller/entropy"][0][1] == pytest.approx(updates[0]["entropy"])
    assert {"controller/mean_reward", "controller/loss", "controller_max_prob/d2"} <= set(scalars)


def test_controller_logger_resumes_and_stays_quiet_without_updates(state, tmp_path):
    with ControllerLogger(tmp_path / "a", start_after=7) as log:
        assert log.log_new(state["updates"]) == 0
    assert not (tmp_path / "a" / "tensorboard").exists()  # strategies without a controller: no folder
    assert log_controller_scalars(tmp_path / "b", state) == 7
    assert "controller_max_prob/d3" in read_scalars(tmp_path / "b" / "tensorboard")
