"""The trainer: learns digits, is reproducible, fails trials cleanly, and its config is checked."""
from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch
from torch import nn

from nas.train import data
from nas.errors import ConfigError
from nas.train import (
    PRESETS,
    Plateau,
    StopTrial,
    TrainConfig,
    TrainResult,
    chance_warning,
    evaluate,
    lr_at,
    plateau_update,
    preset,
    random_crop_flip,
    train,
)

# One thread: tiny 8x8 batches gain nothing from more, and a busy 2-core box makes OpenMP spin.
FAST = TrainConfig(epochs=3, batch_size=64, threads=1)


def small_cnn(seed: int = 0, num_classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, num_classes),
    )


class NanModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) * float("nan")


class Raises(nn.Module):
    def __init__(self, exc: BaseException):
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.exc = exc

    def forward(self, x):
        raise self.exc


# ---- learning and reproducibility


def test_learns_digits(digits):
    result = train(small_cnn(), digits, FAST, evaluate_test=True)
    assert isinstance(result, TrainResult)
    assert result.status == "ok" and result.reason is None and not result.failed
    assert result.val_acc > 0.85
    assert result.test_acc is not None and result.test_acc > 0.85
    assert len(result.train_losses) == len(result.val_accs) == len(result.lrs) == len(result.epoch_seconds) == 3
    assert result.train_losses[-1] < result.train_losses[0]
    assert result.val_acc == result.val_accs[-1]
    assert result.images_per_sec > 0 and result.seconds > 0
    assert result.device == "cpu" and not result.stopped_early


def test_a_learning_run_has_no_warning(digits):
    result = train(small_cnn(), digits, FAST)
    assert result.train_losses[0] < 0.98 * math.log(10) and result.warnings == ()


class ConstantOutput(nn.Module):
    """Ignores its input: the best it can learn is the class prior, a chance-level loss."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.zeros_like(x.flatten(1)))


@pytest.mark.parametrize("make, config", [
    (ConstantOutput, FAST),
    (small_cnn, dataclasses.replace(FAST, lr=1e-6)),  # so small that nothing moves
], ids=["constant-output", "tiny-lr"])
def test_a_run_at_chance_level_warns_once(digits, make, config):
    result = train(make(), digits, config)
    assert result.status == "ok" and len(result.warnings) == 1
    assert "chance level (ln(10) = 2.303" in result.warnings[0] and "epochs 1-3." in result.warnings[0]
    assert "learning rate" in result.warnings[0] and "--preset" in result.warnings[0]
    assert result.to_dict()["warnings"] == list(result.warnings)


def test_test_split_is_not_evaluated_by_default(digits):
    assert train(small_cnn(), digits, dataclasses.replace(FAST, epochs=1)).test_acc is None


def test_same_seed_same_losses(digits):
    config = dataclasses.replace(FAST, epochs=2, augment="flip-crop")  # the augmentation RNG too
    a = train(small_cnn(seed=1), digits, config)
    b = train(small_cnn(seed=1), digits, config)
    assert a.train_losses == b.train_losses and a.val_losses == b.val_losses
    c = train(small_cnn(seed=1), digits, dataclasses.replace(config, seed=1))
    assert c.train_losses != a.train_losses


def test_global_rng_is_seeded_by_config_and_restored(digits):
    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10))

    config = dataclasses.replace(FAST, epochs=1)
    m1 = model()
    torch.manual_seed(1)  # the caller's global RNG state must not matter...
    a = train(m1, digits, config)
    m2 = model()
    torch.manual_seed(2)
    b = train(m2, digits, config)
    assert a.train_losses == b.train_losses  # ...dropout masks come from config.seed
    m3 = model()
    torch.manual_seed(5)
    state = torch.random.get_rng_state()
    train(m3, digits, config)
    assert torch.equal(torch.random.get_rng_state(), state)  # and it is left as it was


def test_threads_are_set_for_the_run_and_restored(digits):
    before = torch.get_num_threads()
    during = []
    try:
        torch.set_num_threads(2)
        config = dataclasses.replace(FAST, epochs=1, threads=1)
        train(small_cnn(), digits, config, on_epoch=lambda epoch, metrics: during.append(torch.get_num_threads()))
        assert during == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_label_smoothing_and_other_schedules_run(digits):
    for extra in (
        {"label_smoothing": 0.1, "schedule": "step", "milestones": (1,)},
        {"schedule": "plateau", "plateau_patience": 0},
        {"schedule": "none", "warmup_epochs": 1, "decay_norm_bias": False},
    ):
        result = train(small_cnn(), digits, dataclasses.replace(FAST, epochs=2, **extra))
        assert result.status == "ok", (extra, result.reason)


def test_lr_history_follows_schedule(digits):
    result = train(small_cnn(), digits, dataclasses.replace(FAST, schedule="step", milestones=(1, 2), lr=0.1))
    assert result.lrs == pytest.approx((0.1, 0.01, 0.001))


# ---- failures never raise


def test_nan_model_fails_with_reason(digits):
    result = train(NanModel(), digits, FAST)
    assert result.status == "failed" and result.failed
    assert result.reason == "loss became nan at epoch 1 step 1"
    assert result.val_acc is None and result.val_accs == ()


def test_diverging_lr_fails_with_reason(digits):
    result = train(small_cnn(), digits, dataclasses.replace(FAST, lr=1e10, nesterov=False, momentum=0.0))
    assert result.status == "failed"
    pattern = r"(validation )?loss became (nan|inf|-inf) at epoch \d+( step \d+)?"
    assert re.fullmatch(pattern, result.reason), result.reason


def test_forward_exception_fails_with_one_line_reason(digits):
    bad = nn.Sequential(nn.Flatten(), nn.Linear(12, 10))  # 64 inputs, not 12
    result = train(bad, digits, FAST)
    assert result.status == "failed"
    assert "\n" not in result.reason
    assert result.reason.startswith("RuntimeError at epoch 1 step 1:")
    assert "mat1 and mat2" in result.reason


def test_value_error_in_forward_fails(digits):
    result = train(Raises(ValueError("bad\nsecond line")), digits, FAST)
    assert result.status == "failed" and result.reason == "ValueError at epoch 1 step 1: bad"


def test_wrong_number_of_classes_fails(digits):
    result = train(small_cnn(num_classes=7), digits, FAST)
    assert result.status == "failed" and "expected (64, 10)" in result.reason


def test_model_without_parameters_fails(digits):
    result = train(nn.Sequential(nn.Flatten(), nn.Unflatten(1, (64,)), nn.AdaptiveAvgPool1d(10)), digits, FAST)
    assert result.status == "failed" and "no trainable parameters" in result.reason


def test_keyboard_interrupt_propagates(digits):
    with pytest.raises(KeyboardInterrupt):
        train(Raises(KeyboardInterrupt()), digits, FAST)


# ---- early stopping


def test_on_epoch_return_true_stops(digits):
    seen = []

    def on_epoch(epoch, metrics):
        seen.append((epoch, metrics))
        return epoch == 2

    result = train(small_cnn(), digits, dataclasses.replace(FAST, epochs=5), on_epoch=on_epoch)
    assert [e for e, _ in seen] == [1, 2]
    assert result.status == "ok" and result.stopped_early and len(result.val_accs) == 2
    keys = {"train_loss", "train_acc", "val_acc", "val_loss", "lr", "epoch_seconds", "images_per_sec"}
    assert set(seen[0][1]) == keys
    assert seen[1][1]["val_acc"] == result.val_accs[1]


def test_on_epoch_stop_trial_stops(digits):
    def on_epoch(epoch, metrics):
        raise StopTrial("pruned by ASHA")

    result = train(small_cnn(), digits, FAST, on_epoch=on_epoch)
    assert result.stopped_early and result.status == "ok" and len(result.val_accs) == 1
    assert "pruned by ASHA" in result.reason


def test_on_epoch_errors_propagate(digits):
    def on_epoch(epoch, metrics):
        raise RuntimeError("reporting broke")

    with pytest.raises(RuntimeError, match="reporting broke"):
        train(small_cnn(), digits, FAST, on_epoch=on_epoch)


def test_time_budget_stops_not_fails(digits):
    result = train(small_cnn(), digits, dataclasses.replace(FAST, epochs=50, max_seconds=1e-6))
    assert result.status == "ok" and result.stopped_early
    assert len(result.val_accs) == 1 and "time budget" in result.reason


def test_result_to_dict_is_plain(digits):
    d = train(small_cnn(), digits, dataclasses.replace(FAST, epochs=1)).to_dict()
    assert isinstance(d["val_accs"], list) and d["status"] == "ok"


def test_evaluate_restores_mode(digits):
    model = small_cnn()
    model.train()
    acc, loss = evaluate(model, digits.val_x, digits.val_y, batch_size=50)
    assert model.training and 0 <= acc <= 1 and loss > 0
    assert all(math.isnan(v) for v in evaluate(model, digits.val_x[:0], digits.val_y[:0]))


# ---- pure pieces


def test_cosine_lr_by_value():
    config = TrainConfig(epochs=2, lr=0.1, schedule="cosine")
    assert lr_at(config, 0, 0, 10) == pytest.approx(0.1)
    assert lr_at(config, 1, 0, 10) == pytest.approx(0.05)  # halfway
    assert lr_at(config, 1, 9, 10) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 19 / 20)))


def test_warmup_is_linear_then_schedule():
    config = TrainConfig(epochs=3, lr=0.2, warmup_epochs=1, schedule="cosine")
    assert [lr_at(config, 0, s, 4) for s in range(4)] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert lr_at(config, 1, 0, 4) == pytest.approx(0.2)


def test_step_lr_by_value():
    config = TrainConfig(epochs=5, lr=1.0, schedule="step", milestones=(2, 4), gamma=0.5)
    assert [lr_at(config, e, 0, 3) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_plateau_rule_matches_reduce_lr_on_plateau():
    state = Plateau()
    errors = [0.5, 0.4, 0.4, 0.4, 0.41, 0.3]
    scales = []
    for e in errors:
        state = plateau_update(state, e, factor=0.1, patience=2)
        scales.append(state.scale)
    # Cross-check against torch's own scheduler, same settings.
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=2)
    torch_scales = []
    for e in errors:
        sched.step(e)
        torch_scales.append(opt.param_groups[0]["lr"])
    assert scales == pytest.approx(torch_scales)
    assert scales[-1] == pytest.approx(0.1)


def test_crop_without_padding_or_flip_is_identity():
    x = torch.randn(5, 3, 6, 6)
    assert torch.equal(random_crop_flip(x, padding=0, flip=False), x)


def test_flip_mirrors_some_images_exactly():
    x = torch.randn(64, 2, 5, 7)
    out = random_crop_flip(x, padding=0, flip=True, generator=torch.Generator().manual_seed(0))
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 10 < sum(mirrored) < 54


def test_crop_is_a_window_of_the_padded_image():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 1
    fill = torch.tensor([-5.0])
    out = random_crop_flip(x, padding=2, flip=False, fill=fill, generator=torch.Generator().manual_seed(3))
    assert out.shape == x.shape
    for o, i in zip(out, x):
        padded = nn.functional.pad(i, (2, 2, 2, 2), value=-5.0)
        windows = [padded[:, r : r + 4, c : c + 4] for r in range(5) for c in range(5)]
        assert any(torch.equal(o, w) for w in windows)


def test_crop_flip_is_deterministic_by_generator():
    x = torch.randn(8, 3, 8, 8)
    a = random_crop_flip(x, padding=2, flip=True, generator=torch.Generator().manual_seed(1))
    b = random_crop_flip(x, padding=2, flip=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


# ---- the chance-level warning (pure)

LN10 = math.log(10)


def test_chance_warning_needs_three_epochs_in_a_row():
    assert chance_warning([], 10) is None
    assert chance_warning([LN10, LN10], 10) is None
    assert chance_warning([LN10, LN10, 2.0, LN10, LN10], 10) is None
    message = chance_warning([2.31, 2.302, 2.40, 2.302], 10)  # above chance counts too: no better than a guess
    assert message.startswith("training loss stayed at chance level (ln(10) = 2.303")
    assert "epochs 1-4." in message


def test_chance_warning_names_the_first_run_and_whether_it_learned_after():
    message = chance_warning([2.0, LN10, LN10, LN10, 1.5, LN10, LN10, LN10], 10)
    assert "epochs 2-4; it learned only afterwards" in message


def test_chance_warning_spares_a_run_whose_validation_accuracy_already_rises():
    losses = [2.81, 2.2996, 2.2572]  # VGG-16 on digits, epochs 1-3: near ln(10) while it learns
    assert chance_warning(losses, 10, [0.104, 0.240, 0.316]) is None
    assert chance_warning(losses, 10, [0.104, 0.110, 0.120]) is not None  # still guessing
    assert chance_warning(losses, 10, [float("nan")] * 3) is not None  # no validation split: the loss decides
    assert chance_warning(losses, 10) is not None


def test_chance_warning_tolerance_and_class_count():
    assert chance_warning([0.98 * LN10 - 1e-3] * 5, 10) is None  # just better than a guess
    assert chance_warning([0.98 * LN10 + 1e-3] * 5, 10) is not None
    assert "ln(2) = 0.693" in chance_warning([0.69] * 3, 2)
    assert chance_warning([0.69] * 3, 100) is None  # far below ln(100) = 4.6
    assert chance_warning([0.0] * 3, 1) is None  # one class: nothing to guess
    assert chance_warning([LN10] * 4, 10, epochs=5) is None


# ---- config


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_is_valid_and_round_trips(name):
    config = preset(name)
    assert isinstance(config, TrainConfig)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_default_preset_is_the_defaults():
    assert preset("default") == TrainConfig()


def test_resnet_lecture_recipe():
    config = preset("resnet-lecture")
    assert (config.lr, config.momentum, config.batch_size, config.weight_decay) == (0.1, 0.9, 256, 1e-4)
    assert config.schedule == "plateau" and config.gamma == 0.1


@pytest.mark.parametrize("name, lr, nesterov, weight_decay, warmup", [
    ("resnet", 0.1, False, 1e-4, 0),  # He et al. 2015 Sec. 3.4
    ("resnet-deep", 0.01, False, 1e-4, 0),  # the same, at Sec. 4.2's starting lr for deep nets
    ("wide-resnet", 0.01, True, 5e-4, 0),  # Zagoruyko & Komodakis 2016, at that starting lr
    ("vgg", 0.01, False, 5e-4, 1),  # Simonyan & Zisserman 2014 Sec. 3.1, one warmup epoch
    ("densenet", 0.1, True, 1e-4, 0),  # Huang et al. 2017 Sec. 4.2
])
def test_family_presets_take_the_papers_optimizer_on_our_short_schedule(name, lr, nesterov, weight_decay, warmup):
    config = preset(name)
    assert (config.lr, config.momentum, config.nesterov, config.weight_decay) == (lr, 0.9, nesterov, weight_decay)
    assert config.warmup_epochs == warmup
    assert (config.epochs, config.batch_size, config.schedule) == (10, 128, "cosine")
    default = dataclasses.replace(config, lr=0.05, nesterov=True, weight_decay=5e-4, warmup_epochs=0)
    assert default == TrainConfig()  # nothing else differs from our short schedule


def test_unknown_preset_suggests():
    with pytest.raises(ConfigError, match="did you mean 'resnet-lecture'"):
        preset("resnet-lectures")


def test_from_dict_coerces_and_keeps_base():
    config = TrainConfig.from_dict({"lr": 1, "milestones": [3, 6], "schedule": "step", "threads": None})
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.milestones == (3, 6)
    on_top = TrainConfig.from_dict({"epochs": 2}, base=preset("resnet-lecture"))
    assert on_top.epochs == 2 and on_top.batch_size == 256


@pytest.mark.parametrize(
    "data, key",
    [
        ({"epoch": 3}, "epoch"),
        ({"epochs": "3"}, "epochs"),
        ({"epochs": 3.0}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"lr": "0.1"}, "lr"),
        ({"lr": 0}, "lr"),
        ({"nesterov": "yes"}, "nesterov"),
        ({"nesterov": True, "momentum": 0.0}, "nesterov"),
        ({"milestones": 5, "schedule": "step"}, "milestones"),
        ({"milestones": [3, 2], "schedule": "step"}, "milestones"),
        ({"milestones": ["3"], "schedule": "step"}, "milestones[0]"),
        ({"schedule": "step"}, "milestones"),
        ({"schedule": "cosin"}, "schedule"),
        ({"augment": "flip"}, "augment"),
        ({"device": "gpu"}, "device"),
        ({"threads": 0}, "threads"),
        ({"threads": 1.5}, "threads"),
        ({"max_seconds": -1}, "max_seconds"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"warmup_epochs": 10}, "warmup_epochs"),
    ],
)
def test_from_dict_errors_name_the_key(data, key):
    with pytest.raises(ConfigError, match=re.escape(repr(key))):
        TrainConfig.from_dict(data)


def test_cuda_without_cuda_is_a_config_error(digits, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        train(small_cnn(), digits, dataclasses.replace(FAST, device="cuda"))


def test_plateau_without_validation_is_a_config_error():
    splits = data.load("digits", val_fraction=0.0)
    with pytest.raises(ConfigError, match="plateau"):
        train(small_cnn(), splits, dataclasses.replace(FAST, schedule="plateau"))
