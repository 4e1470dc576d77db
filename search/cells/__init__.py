"""Cell-based search on the same compiler: NAS-Bench-201 and NAS-Bench-101 cell spaces, BANANAS, BONAS and baselines.

- `nb201`, `nb101`: the spaces (sample, mutate, neighbours, hash, encodings, `to_spec` -> `hnag.ArchitectureSpec`);
- `tables`: tabular oracles (a user's CSV / JSON, loaded once per process), the training oracle, partial tables;
- `predictors`: MLP ensemble (BANANAS), GCN (BONAS), Bayesian linear regression;
- `strategies` (+ `baselines`, `bananas`, `bonas`): the searchers, one propose/observe interface, `run`;
- `runner`: many seeds, JSON-lines trajectories, Markdown/PNG reports.
"""
from .nb101 import NB101Cell, NB101Space
from .nb201 import NB201Cell, NB201Space
from .strategies import STRATEGIES, Searcher, SpaceExhausted, make_searcher, run
from .tables import Evaluation, RestrictedSpace, TableOracle, TrainingOracle, get_space, load_table

__all__ = ["NB101Cell", "NB101Space", "NB201Cell", "NB201Space", "STRATEGIES", "Searcher", "SpaceExhausted",
           "make_searcher", "run", "Evaluation", "RestrictedSpace", "TableOracle", "TrainingOracle", "get_space",
           "load_table"]
