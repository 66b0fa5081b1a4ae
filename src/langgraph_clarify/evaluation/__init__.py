"""Evaluation: replay policies against the oracle (``runner``), summarise and plot (``report``),
and check the oracles themselves (``agreement``)."""

from .runner import RESULTS, EvalConfig, Policy, make_policy, read_results, run_episodes, run_eval

__all__ = ["RESULTS", "EvalConfig", "Policy", "make_policy", "read_results", "run_episodes", "run_eval"]
