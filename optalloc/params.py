"""Keyword hyperparameters in the scikit-learn manner, shared by policies and forecasters."""

from __future__ import annotations

import inspect
from typing import Any, Self

from optalloc.checks import check_finite_params
from optalloc.exceptions import bad_value


class HyperParams:
    """``get_params`` / ``set_params`` / ``repr`` from the signature of ``__init__``.

    Subclasses store every ``__init__`` keyword verbatim as an attribute of
    the same name and do no work there; validation happens when fitting.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set hyperparameters (validated at the next fit)."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise bad_value(type(self).__name__, key, f"one of {valid}", key)
            setattr(self, key, value)
        return self

    def validate_params(self) -> None:
        """Raise :class:`~optalloc.exceptions.ConfigurationError` for invalid hyperparameters.

        Checks what holds for every hyperparameter (no infinite or NaN number),
        then the subclass's own rules (:meth:`_validate_params`). Called by
        ``fit``, and by :func:`optalloc.evaluate` before any long fit.
        """
        check_finite_params(type(self).__name__, self.get_params())
        self._validate_params()

    def _validate_params(self) -> None:
        """Subclass hook: raise :class:`ConfigurationError` for invalid hyperparameters."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
