"""The rule catalogue: importing this package registers every rule family module."""

from cleanclaim.rules.catalogue import code_validity, time_units

__all__ = ["code_validity", "time_units"]
