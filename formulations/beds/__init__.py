"""Bed capacity expansion formulations: the :class:`BedCapacity` block and the MILP policies built on it."""

from __future__ import annotations

from optalloc.formulations.beds.capacity import BedCapacity, BedCapacityData
from optalloc.formulations.beds.capacity import build_model as build_bed_capacity_model

__all__ = ["BedCapacity", "BedCapacityData", "build_bed_capacity_model"]
