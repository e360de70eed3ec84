"""nas: neural architecture search over modern CNN building blocks.

>>> import nas
>>> model = nas.build("conv(32,3) basic(64,stride=2)*2 gap", input_shape=(1, 8, 8), num_classes=10)
"""
from .lang import Arch, Layer, parse
from .nn import Network, build, infer_shapes, summarize
from .errors import ArchError, ConfigError, NasError, SpaceError
from .space import SearchSpace


def load(path, *, device="cpu"):
    """Rebuild an exported model (``nas export`` / ``nas train`` folder) with its weights; no unpickling."""
    from .export import load as _load

    return _load(path, device=device)


__version__ = "0.1.0"

__all__ = ["Arch", "Layer", "parse", "build", "summarize", "infer_shapes", "Network",
           "SearchSpace", "load", "NasError", "ArchError", "SpaceError", "ConfigError", "__version__"]
