"""hnag: the network factory. Hyperparameters -> architecture spec (plain data) -> PyTorch module."""
from .counting import count_macs, count_params
from .generate import generate
from .params import MERGE_OPTIONS, OPERATIONS, PRESETS, SEARCH_RANGES, GeneratorParams, RNAGParams, preset
from .spec import ArchitectureSpec, Graph, Node


def compile_spec(spec: ArchitectureSpec):  # -> torch.nn.Module; torch is imported only when compiling
    from .compiler import compile_spec as _compile

    return _compile(spec)


__all__ = ["ArchitectureSpec", "Graph", "Node", "GeneratorParams", "RNAGParams", "PRESETS", "SEARCH_RANGES",
           "MERGE_OPTIONS", "OPERATIONS", "preset", "generate", "compile_spec", "count_params", "count_macs"]
