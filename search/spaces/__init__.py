"""Search spaces: generator hyperparameters (hnag and its variants, rnag), NAS-Bench cells (nb201, nb101) and
synthetic test problems, all behind one interface (`search.spaces.base.Space`)."""
from __future__ import annotations

from .generators import *  # noqa: F401,F403 (the ConfigSpace generator spaces)
from .generators import SPACES, SearchSpace, build_space, params_from_config, to_builtin  # noqa: F401

SPACE_KINDS = ("hnag", "hnag-ops", "hnag-ratios", "hnag-full", "rnag", "nb201", "nb101")


def make_space(name: str, options: dict | None = None):
    """The `Space` called `name` (a built-in space or a ConfigSpace .json file of generator
    hyperparameters) with its space options."""
    if name in ("nb201", "nb101"):
        from .cells import CellSpace

        return CellSpace(name, options)
    from .generator_space import GeneratorSpace

    return GeneratorSpace(name, options)


def space_from_context(context: dict):
    """Rebuild a space in another process from `Space.context()`."""
    options = context.get("options") or {}
    space = make_space(context["space"], options)
    if getattr(space, "uses_default_budget", False):
        # a search pins the default parameter limit into its context, so this one is from a run made before
        # that default existed: keep its networks as they were, unlimited
        space = make_space(context["space"], {**options, "param_budget": None})
    return space
