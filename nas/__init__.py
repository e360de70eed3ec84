"""nas: neural architecture search over modern CNN building blocks.

>>> import nas
>>> model = nas.build("conv(32,3) basic(64,stride=2)*2 gap", input_shape=(1, 8, 8), num_classes=10)

Where things live (lowest layer first; a module imports only from its own layer or below):
``lang`` (the architecture language), ``nn`` (what it builds), ``baselines``, ``space``,
``strategies``, ``train``, ``latency`` (measured inference time), ``oneshot``, ``tune`` (search on
Ray Tune), ``export``, ``report``, ``cli``.
"""
from . import baselines, strategies  # noqa: F401  (reachable as nas.baselines / nas.strategies)
from ._version import __version__
from .errors import ArchError, ConfigError, NasError, SpaceError
from .lang import Arch, Layer, parse
from .nn import Network, build, infer_shapes, summarize
from .space import SearchSpace


def load(path, *, device="cpu"):
    """Rebuild an exported model (``nas export`` / ``nas train`` folder) with its weights; no unpickling."""
    from .export import load as _load

    return _load(path, device=device)


__all__ = ["Arch", "Layer", "parse", "build", "summarize", "infer_shapes", "Network", "SearchSpace", "load",
           "baselines", "strategies", "NasError", "ArchError", "SpaceError", "ConfigError", "__version__"]
