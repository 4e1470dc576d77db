"""The generator spaces (hnag, hnag-ops, hnag-ratios, hnag-full, rnag, or a ConfigSpace JSON file) as `Space`s:
a configuration of generator hyperparameters plus a seed is a network (`to_spec`).

A parameter limit by default. The NAGO paper always fixes the parameter count, so that a search compares
wirings, not sizes; a space whose options fix neither `param_budget` nor `base_channels` (nor pick a preset
that sets a budget) gets the limit of its input's image class (`default_param_budget`): the paper's limit for
small-image tasks (CIFAR-10, 32 px), the large-image limit for inputs of `hnag.params.LARGE_INPUT` px or more,
and a toy limit for inputs under 16 px (scikit-learn's 8x8 digits, which the paper does not use) so that
searches there stay small. `param_budget=null` (or a fixed `base_channels`: the user chose the width) keeps
the widths as given, networks of different sizes. The default depends on the data set's input shape, which a
space learns only in `to_params`; `pin_param_budget(input_shape)` writes it into the space's options, so that
the context a run records (and every worker, resume and report rebuilds) holds the budget explicitly.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import hnag
from hnag.params import LARGE_INPUT

from .configspace import ConfigSpaceSpace
from .generators import SearchSpace, build_space, params_from_config

#: parameter limit per image class (see the module docstring; the values and their sources are in
#: `search.presets`' docstring)
PARAM_LIMITS = {"tiny": 50_000, "small": 4_000_000, "large": 5_000_000}
#: inputs whose shorter side is below this many pixels are "tiny" (toy data sets such as digits)
TINY_INPUT = 16


def image_class(input_shape: Sequence[int]) -> str:
    """"tiny" (shorter side under TINY_INPUT px), "large" (at least LARGE_INPUT px, the inputs that get the
    large-image stem) or "small" (CIFAR-sized) for an input shape (C, H, W)."""
    side = min(int(v) for v in tuple(input_shape)[1:])
    if side < TINY_INPUT:
        return "tiny"
    return "large" if side >= LARGE_INPUT else "small"


def default_param_budget(input_shape: Sequence[int]) -> int:
    """The parameter limit a generator space applies by default for inputs of this shape (`PARAM_LIMITS`)."""
    return PARAM_LIMITS[image_class(input_shape)]


class GeneratorSpace(ConfigSpaceSpace):
    """A generator search space (see `search.spaces.generators` for the spaces and their options, and the module
    docstring for the default parameter limit)."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.search_space: SearchSpace = build_space(name, self.options)
        super().__init__(self.search_space.name, self.search_space.space)
        self.source = name

    @property
    def uses_default_budget(self) -> bool:
        """True when no option or preset decides the size (the default parameter limit then applies)."""
        if "param_budget" in self.search_space.fixed or "base_channels" in self.search_space.fixed:
            return False
        preset = self.search_space.preset
        return preset is None or getattr(hnag.preset(preset), "param_budget", None) is None

    def pin_param_budget(self, input_shape: Sequence[int]) -> int | None:
        """Record the default parameter limit for `input_shape` in the options (and so in `context()`); returns
        it, or None when the options or the preset decide the size."""
        if not self.uses_default_budget:
            return None
        budget = default_param_budget(input_shape)
        self.options["param_budget"] = budget
        self.search_space.fixed["param_budget"] = budget
        return budget

    def to_params(self, point: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Any:
        context = self.search_space.context()
        if self.uses_default_budget:
            context["fixed"]["param_budget"] = default_param_budget(input_shape)
        return params_from_config(context, point, input_shape, num_classes)

    def to_spec(self, point: Mapping[str, Any], *, seed: int, input_shape: tuple[int, int, int],
                num_classes: int) -> hnag.ArchitectureSpec:
        return hnag.generate(self.to_params(point, input_shape, num_classes), seed)

    def context(self) -> dict[str, Any]:
        return {"space": str(self.source), "options": dict(self.options)}

    def describe_space(self) -> str:
        return self.search_space.describe()
