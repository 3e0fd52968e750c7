"""KPI specs: the unit, display format and direction of every KPI a scenario reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class KPISpec:
    """How to read one KPI of :meth:`Scenario.kpis`.

    Attributes
    ----------
    unit : str
        Unit of the per-episode value (``"patient-days"``, ``"patients"``, ``"hours"``).
    description : str
        What the value is, in a few words (table headers, plot labels).
    fmt : str
        ``str.format`` pattern of one value.
    direction : {"min", "max"}
        Whether lower (``min``) or higher (``max``) values are better.
    """

    unit: str
    description: str = ""
    fmt: str = "{:,.1f}"
    direction: Literal["min", "max"] = "min"

    def format(self, value: float) -> str:
        """``value`` with :attr:`fmt`, followed by the unit."""
        return f"{self.fmt.format(value)} {self.unit}".strip()

    @property
    def label(self) -> str:
        """``"description [unit]"`` for axes and headers."""
        return f"{self.description} [{self.unit}]" if self.unit else self.description


__all__ = ["KPISpec"]
