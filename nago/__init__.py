"""NAGO: neural architecture search by generator optimisation. The Python API mirrors the `nago` CLI."""
from hnag import GeneratorParams, RNAGParams, compile_spec, count_params

from .api import generate, report, search, train
from .params_io import load_params

__all__ = ["GeneratorParams", "RNAGParams", "compile_spec", "count_params", "generate", "train", "search", "report",
           "load_params"]
