"""The ``nas`` command. Each subcommand lives in ``nas/cli/<name>.py`` and exposes
``add_parser(subparsers)`` and ``run(args) -> int``; they are listed in ``COMMANDS``.

Bad input anywhere becomes one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import NasError

COMMANDS = ["show", "baselines", "space", "search", "train", "export", "report", "proxies"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; we want one line
        where = self.prog.removeprefix("nas").strip()
        raise NasError(f"{where}: {message}" if where else message)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas", description="Neural architecture search over modern CNN building blocks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"nas.cli.{name}").add_parser(sub)
    return parser


def _check_command(argv: list[str]) -> None:
    """A misspelt subcommand gets a did-you-mean (argparse would list every choice)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in COMMANDS:
        from ..registry import suggest

        raise NasError(f"unknown command {first!r}{suggest(first, COMMANDS)}")


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        _check_command(argv)
        args = make_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except NasError as e:
        print(f"nas: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        return 0
    except OSError as e:  # unreadable input, unwritable output folder, full disk
        print(f"nas: error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
