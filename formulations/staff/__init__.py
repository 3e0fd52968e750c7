"""Staff formulations: the :class:`NurseRoster` block (Curtois benchmark rules) and the float-pool staffing MIPs.

:class:`~optalloc.families.staff.roster_instance.RosterInstance` (``optalloc solve staff``) builds it and
solves it through :mod:`optalloc.formulations.solve`, optionally improved by the large-neighbourhood search of
:mod:`optalloc.formulations.staff.roster_search`.
"""

from __future__ import annotations

from optalloc.formulations.staff.floatpool import (
    FloatPoolPlanner,
    FloatPoolStaffing,
    FloatPoolStaffingData,
    LookaheadPolicy,
    perfect_information,
)
from optalloc.formulations.staff.floatpool_saa import TwoStagePlanner, TwoStageSAAPolicy
from optalloc.formulations.staff.roster import NurseRoster, NurseRosterData, build_model, tighten_slacks

# The reader ``roster(block)`` stays in its module (optalloc.formulations.staff.roster): re-exported here it
# would shadow that module.
__all__ = ["FloatPoolPlanner", "FloatPoolStaffing", "FloatPoolStaffingData", "LookaheadPolicy", "NurseRoster",
           "NurseRosterData", "TwoStagePlanner", "TwoStageSAAPolicy", "build_model", "perfect_information",
           "tighten_slacks"]
