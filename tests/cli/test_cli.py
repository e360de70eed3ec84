"""The CLI explains itself: every flag of every subcommand has help with its default (and its
choices where it has them), and misspelt names get a did-you-mean, as one line with exit 2."""
import argparse

import pytest

from nas import baselines, strategies
from nas.train import data
from nas.cli import COMMANDS, main, make_parser
from nas.train import PRESETS


def _subparsers():
    parser = make_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_has_help_with_its_default(command):
    sub = _subparsers()[command]
    flags = [a for a in sub._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert flags
    for a in flags:
        assert a.help and "default" in a.help, (command, a.option_strings, a.help)


@pytest.mark.parametrize("command, flag, choices", [
    ("search", "--strategy", strategies.names()),
    ("search", "--dataset", data.names()),
    ("train", "--dataset", data.names()),
    ("export", "--dataset", data.names()),
    ("train", "--preset", PRESETS.names()),
    ("export", "--preset", PRESETS.names()),
])
def test_flags_with_choices_list_them(command, flag, choices):
    sub = _subparsers()[command]
    action = next(a for a in sub._actions if flag in a.option_strings)
    assert all(c in action.help for c in choices), action.help


@pytest.mark.parametrize("argv, hint", [
    (["serch"], "unknown command 'serch'; did you mean 'search'?"),
    (["show", "resnet81"], "did you mean 'resnet18'?"),
    (["show", "vgg16bn"], "did you mean 'vgg16_bn'?"),
    (["train", "resnet81"], "did you mean 'resnet18'?"),
    (["train", "conv(8,3) gap", "--dataset", "digts"], "did you mean 'digits'?"),
    (["search", "--strategy", "evolutoin"], "did you mean 'evolution'?"),
    (["search", "--dataset", "cifar11"], "did you mean 'cifar10'?"),
    (["search", "digts"], "did you mean 'digits'?"),
    (["space", "zoph2071"], "did you mean 'zoph2017'?"),
])
def test_misspelt_names_get_a_did_you_mean(tmp_path, capsys, argv, hint):
    if argv[0] in ("search", "train"):
        argv = argv + (["--runs-dir", str(tmp_path / "runs")] if argv[0] == "search" else ["--out", str(tmp_path / "o")])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert hint in err and err.count("\n") == 1 and err.startswith("nas: error:"), err
    assert not any(tmp_path.iterdir())


def test_every_baseline_name_is_known_to_the_suggestions():
    from nas.cli._util import arch_or_baseline

    for name in baselines.names():
        arch, baseline = arch_or_baseline(name, (1, 8, 8))
        assert baseline == name and arch == baselines.get(name, (1, 8, 8))
    assert arch_or_baseline("gap", (1, 8, 8)) == ("gap", None)  # a one-word architecture is still one
