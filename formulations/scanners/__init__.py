"""CT-scanner scheduling formulations: the :class:`ScannerSchedule` block and the family's planner.

:class:`~optalloc.formulations.scanners.planner.ScannerPlanner` is what
:meth:`ScannerScenario.planner` returns; the generic policies of
:mod:`optalloc.formulations.policies` (``milp-rolling``, ``hindsight-milp``,
``milp``, ``saa``) solve it, and
:func:`~optalloc.formulations.scanners.planner.perfect_information` is the
family's hindsight bound; :class:`~optalloc.formulations.scanners.alp.ALPPolicy` (policy ``alp``)
is the approximate linear program of the day.
"""

from __future__ import annotations

from optalloc.formulations.scanners.alp import ALPPolicy, solve_alp
from optalloc.formulations.scanners.planner import ScannerPlanner, perfect_information
from optalloc.formulations.scanners.schedule import ScannerSchedule, ScannerScheduleData
from optalloc.formulations.scanners.schedule import build_model as build_scanner_schedule_model

__all__ = ["ALPPolicy", "ScannerPlanner", "ScannerSchedule", "ScannerScheduleData", "build_scanner_schedule_model",
           "perfect_information", "solve_alp"]
