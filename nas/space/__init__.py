"""Search spaces: a template architecture with choice points, read from a YAML file.

>>> space = SearchSpace.load("digits")            # a shipped space, or a path to a file
>>> choices = space.sample(0)                     # uniform over the valid architectures
>>> arch = space.decode(choices)                  # its canonical architecture string
>>> space.decode(space.encode(arch)) == arch
True

The schema, the block types, decisions and anchors: docs/search-spaces.md.
"""
from .schema import Constraints, LayerSpec, SpaceSpec, StageSpec, parse_spec
from .space import MAX_TRIES, SPACE_DIRS, Decision, SearchSpace, Space, locate, shipped
from .templates import BLOCKS, inception_widths, stage_layers

__all__ = ["BLOCKS", "MAX_TRIES", "SPACE_DIRS", "Constraints", "Decision", "LayerSpec", "SearchSpace", "Space",
           "SpaceSpec", "StageSpec", "inception_widths", "locate", "parse_spec", "shipped", "stage_layers"]
