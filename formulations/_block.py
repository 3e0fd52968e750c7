"""``declare_formulation``: custom Pyomo blocks configured by keyword arguments.

Pyomo's :func:`~pyomo.core.base.block.declare_custom_block` builds the
``Foo`` / ``ScalarFoo`` / ``IndexedFoo`` component classes from a ``FooData``
class, but ``Block.__init__`` rejects keywords it does not know. This module
adds the IDAES-style convention used by every optalloc formulation block:

* the data class derives from :class:`FormulationData` and declares its
  options in a class attribute ``CONFIG`` (a
  :class:`~pyomo.common.config.ConfigDict`);
* keyword arguments of the block constructor that are not Pyomo ``Block``
  keywords are options: they are validated when the component is created
  (so a bad option fails at ``Foo(...)``, not deep inside model
  construction) and become ``self.config`` of every block data;
* the data class may check options against each other in the class method
  :meth:`FormulationData.validate_config`.

Example
-------
>>> @declare_formulation("Foo")
... class FooData(FormulationData):
...     CONFIG = ConfigDict()
...     CONFIG.declare("size", ConfigValue(domain=PositiveInt, default=1))
...     def build(self, *args):
...         super().build(*args)
...         self.x = Var(range(self.config.size))
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np
from pyomo.common.config import ConfigDict, ConfigValue
from pyomo.core.base.block import BlockData, declare_custom_block

from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.validation import did_you_mean

__all__ = [
    "FiniteArray",
    "checked_option",
    "FormulationData",
    "component_class",
    "declare_formulation",
    "domain_phrase",
    "expected_phrase",
    "make_config",
    "require_options",
]

#: Keywords that ``Block.__init__`` itself understands; all others are options.
BLOCK_KEYWORDS = frozenset({"rule", "options", "concrete", "dense", "ctype", "doc", "name", "noruleinit"})

#: Readable phrases for Pyomo's standard config domains (used in error messages).
_DOMAIN_PHRASES = {
    "PositiveInt": "a positive integer",
    "NegativeInt": "a negative integer",
    "NonNegativeInt": "a non-negative integer",
    "NonPositiveInt": "a non-positive integer",
    "PositiveFloat": "a positive number",
    "NegativeFloat": "a negative number",
    "NonNegativeFloat": "a non-negative number",
    "NonPositiveFloat": "a non-positive number",
    "Bool": "a boolean",
    "int": "an integer",
    "float": "a number",
}

DataT = TypeVar("DataT", bound="FormulationData")


class FiniteArray:
    """Config domain: a read-only float array of ``ndim`` dimensions, finite and >= 0 (or None: not given)."""

    def __init__(self, ndim: int) -> None:
        self.ndim = ndim

    def __call__(self, data: Any) -> np.ndarray | None:
        if data is None:  # "not given": the option's default applies
            return None
        array = np.array(data, dtype=float)
        if array.ndim != self.ndim:
            raise ValueError(f"expected a {self.ndim}-D array, got {array.ndim}-D")
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise ValueError("entries must be finite and non-negative")
        array.flags.writeable = False
        return array

    def domain_name(self) -> str:
        return f"a {self.ndim}-D array of finite non-negative numbers"


class FormulationData(BlockData):
    """Base class of optalloc formulation block data.

    Attributes
    ----------
    CONFIG : ConfigDict
        Declared options of the formulation (class attribute).
    config : ConfigDict
        Validated options of this block (set by :meth:`build`).
    """

    CONFIG: ClassVar[ConfigDict] = ConfigDict()
    _formulation_name: ClassVar[str]
    config: ConfigDict

    @classmethod
    def validate_config(cls, config: ConfigDict, owner: str) -> None:
        """Check options against each other; raise ``ConfigurationError``.

        Parameters
        ----------
        config : ConfigDict
            Options after per-option domain validation.
        owner : str
            Name to use in error messages (the block class name).
        """

    def build(self, *args: Any) -> None:
        """Copy the component's validated options into ``self.config``.

        Subclasses call ``super().build(*args)`` first, then declare their
        components.
        """
        self.config = self.parent_component()._formulation_config()


def make_config(data_cls: type[FormulationData], options: Mapping[str, Any], owner: str) -> ConfigDict:
    """Validate keyword options against ``data_cls.CONFIG``.

    Parameters
    ----------
    data_cls : type
        Formulation data class whose ``CONFIG`` declares the options.
    options : mapping
        Option values given by the user.
    owner : str
        Name used in error messages.

    Returns
    -------
    ConfigDict
        A validated copy of ``data_cls.CONFIG``.

    Raises
    ------
    ConfigurationError
        For an unknown option, a value outside its domain, or options that
        do not fit together (:meth:`FormulationData.validate_config`).
    """
    config = data_cls.CONFIG()
    for key, value in options.items():
        if key not in config:
            valid = ", ".join(sorted(config.keys()))
            raise ConfigurationError(
                f"{owner} has no option {key!r}. Valid options: {valid}.{did_you_mean(key, config.keys())}"
            )
        try:
            config[key] = value
        except ValueError as err:
            raise bad_value(owner, key, expected_phrase(config.get(key)), value) from err
    data_cls.validate_config(config, owner)
    return config


def expected_phrase(config_value: ConfigValue) -> str:
    """A readable description of what a config value accepts."""
    name = config_value.domain_name()
    return _DOMAIN_PHRASES.get(name, name)


def domain_phrase(domain: Any) -> str:
    """A readable description of what a config domain (callable) accepts."""
    if hasattr(domain, "domain_name"):
        name = domain.domain_name()
    else:
        name = getattr(domain, "__name__", str(domain))
    return _DOMAIN_PHRASES.get(name, name)


def checked_option(domain: Any, data: Any, owner: str, name: str) -> Any:
    """Apply an option's config domain to a new value given after construction, with the standard error.

    ``None`` (an option's "not given") is refused too: a setter needs a value.
    """
    try:
        checked = domain(data)
    except (TypeError, ValueError) as err:
        raise bad_value(owner, name, domain_phrase(domain), data) from err
    if checked is None:
        raise bad_value(owner, name, domain_phrase(domain), data)
    return checked


def component_class(data_cls: type[FormulationData]) -> type:
    """The block component class ``declare_formulation`` created for ``data_cls``.

    Parameters
    ----------
    data_cls : type
        A data class decorated with :func:`declare_formulation`.

    Returns
    -------
    type
        The component class (``BedCapacity`` for ``BedCapacityData``).
    """
    return getattr(sys.modules[data_cls.__module__], data_cls._formulation_name)


def declare_formulation(name: str, rule: str = "build") -> Callable[[type[DataT]], type[DataT]]:
    """Class decorator: declare a custom block whose options are keywords.

    Parameters
    ----------
    name : str
        Name of the component class to create (``"BedCapacity"`` creates
        ``BedCapacity``, ``ScalarBedCapacity`` and ``IndexedBedCapacity`` in
        the data class's module).
    rule : str, default "build"
        Method of the data class that populates each block.

    Returns
    -------
    callable
        The decorator; it returns the data class unchanged.
    """

    def decorator(data_cls: type[DataT]) -> type[DataT]:
        declare_custom_block(name=name, rule=rule)(data_cls)
        component_cls = getattr(sys.modules[data_cls.__module__], name)
        block_init = component_cls.__init__

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            options = {key: kwargs.pop(key) for key in list(kwargs) if key not in BLOCK_KEYWORDS}
            self._formulation_config = make_config(data_cls, options, name)
            block_init(self, *args, **kwargs)

        __init__.__doc__ = (
            f"Create a {name} block; keyword options are validated against "
            f"{data_cls.__name__}.CONFIG."
        )
        component_cls.__init__ = __init__
        data_cls._formulation_name = name
        return data_cls

    return decorator


def require_options(config: ConfigDict, required: tuple[str, ...], owner: str) -> None:
    """Refuse a block configuration that leaves a required option (default None) unset, naming every one.

    Raises
    ------
    ConfigurationError
        ``"<owner> needs the option(s) 'a', 'b'."``
    """
    missing = [key for key in required if config[key] is None]
    if missing:
        raise ConfigurationError(f"{owner} needs the option(s) {', '.join(map(repr, missing))}.")
