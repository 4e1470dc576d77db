"""The generator spaces (hnag, hnag-ops, hnag-ratios, hnag-full, rnag, or a ConfigSpace JSON file) as `Space`s:
a configuration of generator hyperparameters plus a seed is a network (`to_spec`)."""
from __future__ import annotations

from typing import Any, Mapping

import hnag

from .configspace import ConfigSpaceSpace
from .generators import SearchSpace, build_space, params_from_config


class GeneratorSpace(ConfigSpaceSpace):
    """A generator search space (see `search.spaces.generators` for the spaces and their options)."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.search_space: SearchSpace = build_space(name, self.options)
        super().__init__(self.search_space.name, self.search_space.space)
        self.source = name

    def to_params(self, point: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
        return params_from_config(self.search_space.context(), point, input_shape, num_classes)

    def to_spec(self, point: Mapping[str, Any], *, seed: int, input_shape: tuple[int, int, int],
                num_classes: int) -> hnag.ArchitectureSpec:
        return hnag.generate(self.to_params(point, input_shape, num_classes), seed)

    def context(self) -> dict[str, Any]:
        return {"space": str(self.source), "options": dict(self.options)}

    def describe_space(self) -> str:
        return self.search_space.describe()
