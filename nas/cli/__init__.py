"""The ``nas`` command line: the only layer that prints. ``main(argv)`` returns the exit
status; bad input of any kind is one line on stderr and status 2."""
from .main import COMMANDS, main, make_parser

__all__ = ["COMMANDS", "main", "make_parser"]
