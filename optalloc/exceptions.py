"""Exception hierarchy of optalloc.

Every user-facing error says what object and parameter is wrong, what was
expected and what was given, so the command line can print it as one line.
"""

from __future__ import annotations


class OptallocError(Exception):
    """Base class of every error optalloc raises on purpose."""


class ConfigurationError(ValueError, OptallocError):
    """A parameter, option or input file has an invalid value."""


class NotFittedError(ValueError, AttributeError, OptallocError):
    """A policy was used before ``fit`` was called."""


class UnknownIdError(KeyError, OptallocError):
    """A scenario or policy id is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class UnsupportedScenarioError(ConfigurationError):
    """A policy was fitted on a scenario family it does not support."""


class DependencyNotInstalled(ImportError, OptallocError):
    """An optional dependency (torch, a solver) is missing."""


class InfeasibleFormulation(OptallocError):
    """A mathematical program was infeasible or could not be solved."""


class InfeasibleActionError(OptallocError):
    """A policy returned an action outside the action space or its mask."""


class CheckpointError(OptallocError):
    """A saved policy file is unreadable, corrupt or of a foreign kind."""


class ResourceLimitError(ConfigurationError):
    """A request whose memory or running time would be far beyond what the machine allows."""


class OutputPathError(ConfigurationError):
    """An output path cannot be written (missing or read-only folder, a folder, a path under a file)."""


class PolicyScenarioMismatch(ConfigurationError):
    """A fitted policy cannot act on the scenario it is asked to act on."""


class OptallocWarning(UserWarning):
    """Something a user should know about a result that is not an error (e.g. a policy fitted elsewhere)."""


def bad_value(owner: str, parameter: str, expected: str, got: object) -> ConfigurationError:
    """Build the standard "bad parameter" error.

    Parameters
    ----------
    owner : str
        The object the parameter belongs to (``"RigidPolicy"``, ``"scenario beds/seed002-v0"``).
    parameter : str
        Parameter name.
    expected : str
        What would have been accepted.
    got : object
        The value that was given.
    """
    return ConfigurationError(
        f"The {parameter!r} parameter of {owner} must be {expected}. Got {got!r} instead."
    )


class TrainingDivergedError(OptallocError):
    """Training produced a non-finite loss, gradient, reward or weight; the policy is left unfitted."""
