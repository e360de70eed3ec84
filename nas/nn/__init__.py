"""What the language's names build: norms and activations, init schemes, the block library,
each layer's shape rule and builder (the table of operations), and the builder that turns an
architecture into an ``nn.Module`` with its shapes, parameters and MACs."""
from . import init, norms  # noqa: F401  (fill the language's NORMS, ACTS and INITS)
from . import ops  # noqa: F401  (fills the language's OPS)
from .builder import (LayerInfo, Network, Summary, build, build_counted, check_size, count_macs, infer_shapes,
                      summarize)

__all__ = ["LayerInfo", "Network", "Summary", "build", "build_counted", "check_size", "count_macs", "infer_shapes",
           "summarize"]
