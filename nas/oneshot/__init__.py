"""Search at a fraction of the cost of training every candidate: a weight-sharing supernet
over a search space (ENAS-style one-shot search) and zero-cost proxies."""
