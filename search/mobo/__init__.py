"""Batch multi-objective Bayesian optimisation: BNN surrogates (pybnn SGHMC), USeMO acquisition and hard
local penalisation, on vectors in the unit hypercube.

Typical use (the caller owns the encoding of configurations into [0, 1]^d and the evaluation of jobs)::

    from search.mobo import MOBOProposer
    proposer = MOBOProposer(dim, ["error", "memory"], decode=space_decode, batch_size=8, seed=0)
    proposer.warm_start(previous)               # optional: [(vector, {"error": .., "memory": ..}), ...]
    X = proposer.propose()                      # (8, dim) points in [0, 1]^dim
    results = run_jobs([space_decode(x) for x in X])
    proposer.tell(X, results)                   # results: (8, M) raw values or result dicts
"""
from search.mobo.acquisition import Candidates, lcb, log_uncertainty_volume, nsga2, usemo_candidates
from search.objectives import (DEFAULT_OBJECTIVES, OBJECTIVES, Objective, get_objective, objective_matrix,
                                    objectives_from_names)
from search.mobo.penalisation import (BatchSelection, estimate_lipschitz, hard_penaliser, penalisation_radii,
                                      select_batch)
from search.mobo.proposer import MOBOProposer, ProposalInfo, default_surrogate_factory
from search.mobo.surrogates import (BNNSurrogate, HeteroscedasticBNN, HomoscedasticBNN, Prediction, Surrogate,
                                    gaussian_nll, rmse)

__all__ = [
    "MOBOProposer", "ProposalInfo", "default_surrogate_factory",
    "Objective", "OBJECTIVES", "DEFAULT_OBJECTIVES", "get_objective", "objectives_from_names", "objective_matrix",
    "Surrogate", "Prediction", "BNNSurrogate", "HeteroscedasticBNN", "HomoscedasticBNN", "gaussian_nll", "rmse",
    "Candidates", "lcb", "log_uncertainty_volume", "nsga2", "usemo_candidates",
    "BatchSelection", "estimate_lipschitz", "hard_penaliser", "penalisation_radii", "select_batch",
]
