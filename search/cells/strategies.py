"""One interface for every cell-search strategy, and the registry of strategies.

A searcher is an ask/tell object::

    s = make_searcher("bananas", space, seed=0)
    for _ in range(queries):
        cell = s.propose()          # never an architecture it proposed before (by `space.hash`)
        s.observe(cell, val_acc)    # the validation accuracy, the only metric a search sees

or, in one call, ``run("bananas", space, oracle, queries=150, seed=0)`` which returns the list of
(cell, Evaluation) in query order. `propose` raises `SpaceExhausted` once every architecture was proposed.

Strategies: `random`, `evolution` (regularized evolution), `local` (local search), `bananas`, `bonas`
(see their modules). Each takes its own keyword parameters (`make_searcher(name, space, seed, **params)`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Searcher", "SpaceExhausted", "STRATEGIES", "make_searcher", "run"]


class SpaceExhausted(Exception):
    """Every architecture of the space has been proposed."""


class Searcher:
    """Base class: keeps the history, the set of proposed hashes and a private random generator."""

    name = "base"

    def __init__(self, space, seed: int = 0) -> None:
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, _name_word(self.name)]))
        self.history: list[tuple[Any, float]] = []   # (cell, val) in observation order
        self.seen: set[str] = set()                  # hashes of every proposed cell
        self._pending: Any = None
        self._remaining: list | None = None          # unproposed cells, once random sampling gets slow

    # the interface -----------------------------------------------------------------------------------
    def propose(self):
        if self._pending is not None:
            raise RuntimeError(f"{self.name}: propose() called twice without observe()")
        if self.space.size is not None and len(self.seen) >= self.space.size:
            raise SpaceExhausted(f"{self.name}: all {self.space.size} architectures were proposed")
        cell = self._propose()
        h = self.space.hash(cell)
        if h in self.seen:  # a strategy bug, never a silent repeat
            raise RuntimeError(f"{self.name}: proposed {self.space.to_str(cell)} twice")
        self.seen.add(h)
        self._pending = cell
        return cell

    def observe(self, cell, val: float) -> None:
        if self._pending is None or self.space.hash(cell) != self.space.hash(self._pending):
            raise RuntimeError(f"{self.name}: observe() must follow propose() with the proposed cell")
        self._pending = None
        self.history.append((cell, float(val)))
        self._observe(cell, float(val))

    # for subclasses ----------------------------------------------------------------------------------
    def _propose(self):
        raise NotImplementedError

    def _observe(self, cell, val: float) -> None:
        pass

    def is_new(self, cell) -> bool:
        return self.space.hash(cell) not in self.seen

    def random_new(self, tries: int = 200):
        """A uniformly random cell not proposed before."""
        if self._remaining is None:
            for _ in range(tries):
                cell = self.space.sample(self.rng)
                if self.is_new(cell):
                    return cell
            if not hasattr(self.space, "all_cells"):
                raise SpaceExhausted(f"{self.name}: no new architecture after {tries} random samples")
            # rejection sampling has become slow: draw from the explicit list of what is left
            self._remaining = [c for c in self.space.all_cells() if self.is_new(c)]
            self.rng.shuffle(self._remaining)
        while self._remaining:
            cell = self._remaining.pop()
            if self.is_new(cell):
                return cell
        raise SpaceExhausted(f"{self.name}: no architecture left")

    def initial_or_queued(self, num_init: int, queue: list) -> Any:
        """A random new architecture during the first num_init queries, else the next new one left in the
        queue of an earlier batch (popped); None when the model-based step must run."""
        if len(self.history) < num_init:
            return self.random_new()
        while queue:
            cell = queue.pop(0)
            if self.is_new(cell):
                return cell
        return None

    def best(self, k: int = 1) -> list[tuple[Any, float]]:
        """The k best observed (cell, val), best first (earliest first on ties)."""
        order = sorted(range(len(self.history)), key=lambda i: (-self.history[i][1], i))
        return [self.history[i] for i in order[:k]]

    def mutation_candidates(self, parents: list, n: int, patience: int = 10, max_edits: int = 1) -> list:
        """Up to n new, distinct mutants of `parents` (drawn round robin, best parent first), each 1 to
        `max_edits` successive `space.mutate` moves away from its parent (uniformly)."""
        if not parents:
            return []

        def mutant(t: int) -> Any:
            child = parents[t % len(parents)]
            for _ in range(1 if max_edits <= 1 else int(self.rng.integers(1, max_edits + 1))):
                child = self.space.mutate(child, self.rng)
            return child

        return self._fresh(mutant, n, n * patience)

    def _fresh(self, make: Any, n: int, tries: int) -> list:
        """Up to n distinct architectures from make(t), t = 0, 1, ..., skipping those already observed."""
        out, keys = [], set()
        for t in range(tries):
            child = make(t)
            h = self.space.hash(child)
            if h not in self.seen and h not in keys:
                keys.add(h)
                out.append(child)
                if len(out) >= n:
                    break
        return out


    def tournament_candidates(self, n: int, population_size: int, tournament_size: int,
                              patience: int = 10) -> list:
        """Up to n new, distinct single mutations of tournament winners, as an evolutionary sampler makes them.

        The population is the `population_size` most recently observed architectures (aging); each candidate
        mutates the best of `tournament_size` members drawn without replacement.
        """
        pop = self.history[-population_size:]
        if not pop:
            return []
        size = min(tournament_size, len(pop))

        def winner_mutant(_: int) -> Any:
            picks = self.rng.choice(len(pop), size=size, replace=False)
            parent = max((pop[int(i)] for i in picks), key=lambda cv: cv[1])[0]
            return self.space.mutate(parent, self.rng)

        return self._fresh(winner_mutant, n, n * patience)


def _name_word(name: str) -> int:
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")


def _registry() -> dict[str, Callable[..., Searcher]]:
    from .bananas import BANANAS
    from .baselines import LocalSearch, RandomSearch, RegularizedEvolution
    from .bonas import BONAS

    return {"random": RandomSearch, "evolution": RegularizedEvolution, "local": LocalSearch,
            "bananas": BANANAS, "bonas": BONAS}


STRATEGIES = ("random", "evolution", "local", "bananas", "bonas")


def make_searcher(name: str, space, seed: int = 0, **params) -> Searcher:
    reg = _registry()
    if name not in reg:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    try:
        return reg[name](space, seed=seed, **params)
    except TypeError as exc:
        raise ValueError(f"{name}: bad parameters ({exc})") from None


def run(strategy, space, oracle, queries: int = 150, seed: int = 0, *, stop: Callable | None = None,
        **params) -> list:
    """Run one search: `queries` evaluations (fewer if the space runs out or `stop(cell, evaluation)` is true).

    `strategy` is a name or a `Searcher`; returns [(cell, Evaluation), ...] in query order.
    """
    searcher = strategy if isinstance(strategy, Searcher) else make_searcher(strategy, space, seed, **params)
    out = []
    for _ in range(int(queries)):
        try:
            cell = searcher.propose()
        except SpaceExhausted:
            break
        ev = oracle(cell)
        searcher.observe(cell, ev.val)
        out.append((cell, ev))
        if stop is not None and stop(cell, ev):
            break
    return out
