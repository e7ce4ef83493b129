"""Old import paths of modules that moved into the layered subpackages keep working.

`import bicpl_hf.evaluation` imports `bicpl_hf.training.evaluation` and registers the very same module object under
the old name (so `monkeypatch.setattr(bicpl_hf.evaluation, ...)` patches the real module), with one `FutureWarning`
that names the new path. One table, one finder; installed by `bicpl_hf/__init__.py` before anything else is imported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# Old module -> new module. Kept until the old paths have been announced as removed in a release.
MOVED_MODULES = {
    "bicpl_hf.calibration": "bicpl_hf.training.calibration",
    "bicpl_hf.cli": "bicpl_hf.commands.cli",
    "bicpl_hf.demo": "bicpl_hf.commands.demo",
    "bicpl_hf.evaluation": "bicpl_hf.training.evaluation",
    "bicpl_hf.experiments": "bicpl_hf.training.experiments",
    "bicpl_hf.hub": "bicpl_hf.publishing.hub",
    "bicpl_hf.hub_cli": "bicpl_hf.commands.push",
    "bicpl_hf.lora": "bicpl_hf.text.lora",
    "bicpl_hf.prototypes": "bicpl_hf.zero_shot.prototypes",
    "bicpl_hf.reporting": "bicpl_hf.publishing.results_page",
    "bicpl_hf.tokenization": "bicpl_hf.text.tokenization",
    "bicpl_hf.visualization": "bicpl_hf.publishing.visualization",
}
# Same module under a second name, without a warning: modeling's configuration imports the class table with a
# same-folder import (`from .ear_classes import ...`) so that it works in the flat remote-code copy, where
# processing's `ear_classes.py` sits beside it; inside the package that name resolves to processing's one module.
SHARED_MODULES = {
    "bicpl_hf.modeling.ear_classes": "bicpl_hf.processing.ear_classes",
}


def _importer_stacklevel() -> int:
    """`stacklevel` of the frame that wrote the import statement. `warnings` does not count the import machinery's
    frames, so only the frames of this file are stepped over."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_code.co_filename == __file__):
        level += frame.f_code.co_filename == __file__
        frame = frame.f_back
    return level


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names of `MOVED_MODULES` / `SHARED_MODULES` and loads them as their new module."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES and fullname not in SHARED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new_name = MOVED_MODULES.get(spec.name) or SHARED_MODULES[spec.name]
        if spec.name in MOVED_MODULES:
            warnings.warn(f"`{spec.name}` moved to `{new_name}`; import it from there (the old path will be removed)",
                          FutureWarning, stacklevel=_importer_stacklevel())
        module = importlib.import_module(new_name)
        self._specs[spec.name] = module.__spec__  # the import system overwrites `__spec__`; put it back
        return module

    def exec_module(self, module):
        module.__spec__ = self._specs.pop(module.__spec__.name)


def install() -> MovedModuleFinder:
    """Put the finder first on `sys.meta_path` (idempotent) and return it."""
    for finder in sys.meta_path:
        if isinstance(finder, MovedModuleFinder):
            return finder
    finder = MovedModuleFinder()
    sys.meta_path.insert(0, finder)
    return finder


__all__ = ["MOVED_MODULES", "SHARED_MODULES", "MovedModuleFinder", "install"]
