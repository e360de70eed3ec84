"""Subcommands of the ``nas`` CLI; see :mod:`nas.cli`."""
