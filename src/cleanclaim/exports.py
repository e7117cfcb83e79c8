"""A package's public names, imported from their home modules the first time they are asked for (PEP 562).

Importing ``cleanclaim.<anything>`` runs ``cleanclaim/__init__`` and the ``__init__`` of every package on the way, so
an ``__init__`` that imported its API eagerly would make the CLI's ``--help`` (and every submodule) pay for Polars,
pydantic and the rule engine. `cleanclaim`, `cleanclaim.refdata` and `cleanclaim.sampling` export lazily through
`lazy_exports` instead; this module imports nothing heavy, since it runs before them all.

Each package still imports its names under ``TYPE_CHECKING`` (so mypy knows their types) and builds its
``__getattr__`` under ``if not TYPE_CHECKING:``: a module-level ``__getattr__`` returning ``Any`` would make mypy
accept any misspelled name from the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, namespace: MutableMapping[str, Any],
                 homes: Mapping[str, Iterable[str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose module dict is ``namespace``.

    ``homes`` maps each home module to the public names it holds. The homes that are the package's own modules are
    given as attributes too: an eager ``__init__`` made them attributes of the package as a side effect (``import
    cleanclaim.refdata as r; r.lookups``), and a lazy one must import them when asked, or that code breaks. A name,
    once imported, is stored in the namespace, so ``__getattr__`` runs once per name.
    """
    home_of = {name: home for home, names in homes.items() for name in names}
    own = frozenset(home.removeprefix(f"{package}.") for home in homes
                    if home.startswith(f"{package}.") and "." not in home.removeprefix(f"{package}."))

    def __getattr__(name: str) -> Any:  # noqa: N807 (the module hook's own name)
        """A public name or submodule, imported the first time it is asked for."""
        home = home_of.get(name)
        if home is not None:
            value = getattr(importlib.import_module(home), name)
        elif name in own:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807
        """The module's names with the public ones and submodules not imported yet, for ``dir()`` and completion."""
        return sorted({*namespace, *home_of, *own})

    return __getattr__, __dir__
