"""Bed capacity expansion formulations: the :class:`BedCapacity` block and the family's planner.

:class:`~optalloc.formulations.beds.planner.BedPlanner` is what
:meth:`BedScenario.planner` returns; the generic policies of
:mod:`optalloc.formulations.policies` (``milp``, ``milp-rolling``, ``saa``,
``hindsight-milp``) solve it.
"""

from __future__ import annotations

from optalloc.formulations.beds.capacity import BedCapacity, BedCapacityData
from optalloc.formulations.beds.capacity import build_model as build_bed_capacity_model
from optalloc.formulations.beds.planner import BedPlanner

__all__ = ["BedCapacity", "BedCapacityData", "BedPlanner", "build_bed_capacity_model"]
