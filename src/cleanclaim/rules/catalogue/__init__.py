"""The rule catalogue: one module per rule family. Importing this package imports every module in it, and each
module's ``@register`` decorators add its rules to the registry, so a new family needs no list to update."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
