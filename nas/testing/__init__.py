"""Test doubles for the package's own tests and benchmarks (nothing in the package imports
this): a synthetic space with a known optimum, and a trial that fails on purpose."""
from .faults import faulty_trial
from .synthetic import SyntheticSpace

__all__ = ["SyntheticSpace", "faulty_trial"]
