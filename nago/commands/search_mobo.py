"""`nago search mobo ...`: batch multi-objective Bayesian optimisation (found by `nago search` as a search_<name> module)."""
from __future__ import annotations

import argparse
from typing import Any

from nago.commands.search import _on_start, add_common_arguments, common_options, engine_options, run_guarded
from nago.params_io import parse_pairs


def _print_iteration(summary: dict) -> None:
    records = summary["records"]
    ok = sum(r["status"] == "ok" for r in records)
    how = ("from the log" if summary["replayed_proposal"] else
           "initial design" if summary.get("initial_design") else
           "surrogate fit " + ", ".join(f"{k} {v:.1f} s" for k, v in (summary.get("fit_time_s") or {}).items()
                                        if isinstance(v, (int, float))))
    print(f"iteration {summary['iteration']}: {len(records)} evaluations ({ok} ok); proposal: {how}", flush=True)


def report_mobo(summary: dict[str, Any]) -> None:
    print(f"done: {summary['evaluations']} evaluations ({summary['ok']} ok, {summary['failed']} failed, "
          f"{summary['crashed']} crashed), {summary['total_epochs']:.4g} epochs; "
          f"{summary.get('new_evaluations', 0)} run in this session"
          + (f"; warm start: {summary['warm_start']} evaluations" if summary.get("warm_start") else ""))
    names = summary["objectives"]
    if summary.get("hypervolume") is not None:
        ref = ", ".join(f"{n}={v:.4g}" for n, v in zip(names, summary["reference_point"]))
        print(f"Pareto front: {len(summary['front'])} configurations; hypervolume {summary['hypervolume']:.6g} "
              f"(reference point {ref})")
        for p in summary["front"]:
            values = ", ".join(f"{n} {v:.4g}" for n, v in p["values"].items())
            print(f"  iteration {p['iteration']} ({p['source']}): {values}")
    print(f"report: nago report {summary['run_dir']}")


def _mobo(args: argparse.Namespace) -> int:
    from search.mobo_search import parse_reference_point, run_mobo

    return run_guarded("mobo", lambda: run_mobo(
        args.run_dir, objectives=args.objectives, batch_size=args.batch_size, iterations=args.iterations,
        budget=args.budget, init_from=args.init_from, init_budget=args.init_budget, surrogate=args.surrogate,
        surrogate_options=parse_pairs(args.surrogate_options, "--surrogate-option") or None,
        mobo_options=parse_pairs(args.mobo_options, "--mobo-option") or None,
        reference_point=parse_reference_point(args.reference_point),
        on_start=None if args.quiet else _on_start, on_iteration=None if args.quiet else _print_iteration,
        **common_options(args), **engine_options(args)), report_mobo)


def register_search(sub: Any) -> None:
    parser = sub.add_parser(
        "mobo", help="batch multi-objective BO (BNN surrogates, USeMO, local penalisation): Pareto fronts",
        description="Batch multi-objective Bayesian optimisation over generator hyperparameters: B "
                    "configurations per iteration, trained in parallel on the same workers as BOHB; warm start "
                    "from an earlier run's evaluations. `nago report RUN_DIR` draws the Pareto front.")
    add_common_arguments(parser)
    group = parser.add_argument_group("multi-objective BO")
    group.add_argument("--objectives", default=None, help="comma-separated, all minimised: error, memory, "
                       "params, macs, latency (default error,memory; params are counted exactly from the spec)")
    group.add_argument("--batch-size", type=int, default=None, help="configurations per iteration (default 8)")
    group.add_argument("--iterations", type=int, default=None, help="iterations (default 1; on --resume, a "
                       "larger number extends the search)")
    group.add_argument("--budget", type=float, default=None, help="epochs of every evaluation (default: the "
                       "--init-budget)")
    group.add_argument("--init-from", default=None, metavar="DIR", help="warm start from the evaluations of "
                       "this run directory (e.g. a BOHB search; it is only read)")
    group.add_argument("--init-budget", type=float, default=None, help="which of its budgets (default: the "
                       "largest with successful evaluations)")
    group.add_argument("--surrogate", choices=("heteroscedastic", "homoscedastic"), default=None,
                       help="BNN surrogate of the learned objectives (default heteroscedastic)")
    group.add_argument("--surrogate-option", metavar="KEY=VALUE", action="append", dest="surrogate_options",
                       help="BNN sampler option: num_steps, num_burn_in_steps, keep_every, lr, batch_size, "
                            "mdecay, n_hidden, n_layers, ...")
    group.add_argument("--mobo-option", metavar="KEY=VALUE", action="append", dest="mobo_options",
                       help="proposer option: n_initial, kappa, uncertainty, inner, pop_size, generations, "
                            "n_random, min_radius, max_radius, lipschitz_samples")
    group.add_argument("--reference-point", default=None, metavar="V1,V2,...", help="hypervolume reference "
                       "point, one value per objective (default: worst value + 10%% of the range)")
    parser.set_defaults(func=_mobo)
