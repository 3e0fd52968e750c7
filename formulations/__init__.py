"""Mathematical-programming formulations of optalloc (Pyomo + HiGHS).

* :mod:`~optalloc.formulations.solve` -- the one solve path (persistent HiGHS):
  :class:`Solver`, :func:`solve`, :class:`SolveResult`, :class:`SolveStatus`;
* :mod:`~optalloc.formulations._block` -- :func:`declare_formulation`, the
  declaration every family's blocks use (each family's formulations live in
  ``optalloc.formulations.<family>``);
* :mod:`~optalloc.formulations.mdp_lp` -- linear programs of finite MDPs:
  :func:`mdp_lp_values`, :func:`finite_horizon_lp_values`;
* :mod:`~optalloc.formulations.policies` -- the :class:`~optalloc.formulations.policies.Planner`
  protocol each family implements once, and the policies written over it
  (open loop, rolling horizon, sample-average approximation, MILP hindsight).
"""

from __future__ import annotations

from optalloc.formulations._block import FormulationData, declare_formulation
from optalloc.formulations.mdp_lp import (
    build_finite_horizon_lp,
    build_mdp_lp,
    finite_horizon_lp_values,
    mdp_lp_values,
)
from optalloc.formulations.solve import Solver, SolveResult, SolveStatus, solve

__all__ = [
    "FormulationData",
    "SolveResult",
    "SolveStatus",
    "Solver",
    "build_finite_horizon_lp",
    "build_mdp_lp",
    "declare_formulation",
    "finite_horizon_lp_values",
    "mdp_lp_values",
    "solve",
]
