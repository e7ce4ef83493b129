# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Registers the Bi-CPL classes with transformers' Auto classes and pipeline factory when transformers loads those.

Every Auto module of transformers imports torch (`configuration_auto` too, through `configuration_utils`), which
`import bicpl_hf` must not do. So each registration waits for the transformers module it extends and runs right after
that module has been imported, by anyone (at once when it already has been): after a plain `import bicpl_hf`,
`AutoConfig` / `AutoModel` / `AutoImageProcessor` / `AutoProcessor.from_pretrained(folder)` and
`pipeline("zero-shot-ear-diagnosis", model=folder)` find the Bi-CPL classes without `trust_remote_code`. Likewise
`publishing.hub`, whose import adds the prototypes, model card and pipeline code to the model's and processor's
`save_pretrained` / `push_to_hub`, is imported as soon as the model is.

A meta path finder wraps the loaders of those transformers modules and of every `bicpl_hf` module. When one of them
has run, the registrations whose modules are all imported are done, unless a `bicpl_hf` module is still half-way
through its import (as `configuration_bicpl` is when its own `from transformers import AutoConfig` loads
`configuration_auto`): importing it again would fail, and its own completion does them instead.

The model is never imported just to be registered (that would load MONAI whenever anyone uses `AutoModel`): a
`BiCPLConfig` checks its backbone when it is built, which imports `modeling_bicpl_backbones`, and loading that module
loads `modeling_bicpl`, which is then registered. `AutoModel.from_pretrained` / `from_config` and `pipeline()` build
the config before they look the model up.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

PACKAGE_PREFIX = "bicpl_hf."


def _register_configs() -> None:
    from transformers import AutoConfig

    from .modeling.configuration_bicpl import BiCPLConfig, BiCPLVisionConfig

    AutoConfig.register(BiCPLConfig.model_type, BiCPLConfig, exist_ok=True)
    AutoConfig.register(BiCPLVisionConfig.model_type, BiCPLVisionConfig, exist_ok=True)


def _register_image_processor() -> None:
    from transformers import AutoImageProcessor

    from .modeling.configuration_bicpl import BiCPLConfig
    from .processing.image_processing_bicpl import BiCPLVolumeProcessor

    AutoImageProcessor.register(BiCPLConfig, image_processor_classes={"pil": BiCPLVolumeProcessor}, exist_ok=True)


def _register_processor() -> None:
    from transformers import AutoProcessor

    from .modeling.configuration_bicpl import BiCPLConfig
    from .processing.processing_bicpl import BiCPLProcessor

    AutoProcessor.register(BiCPLConfig, BiCPLProcessor, exist_ok=True)


def _load_model() -> None:
    importlib.import_module(".modeling.modeling_bicpl", __package__)


def _register_model() -> None:
    from transformers import AutoModel

    from .modeling.configuration_bicpl import BiCPLConfig
    from .modeling.modeling_bicpl import BiCPLModel

    AutoModel.register(BiCPLConfig, BiCPLModel, exist_ok=True)


def _install_publishing() -> None:
    # The flat classes (also shipped as remote code) only leave hooks; this module fills them when imported.
    importlib.import_module(".publishing.hub", __package__)


def _register_pipeline() -> None:
    from .zero_shot.pipeline import register_pipeline

    register_pipeline()


@dataclass(frozen=True)
class Registration:
    """`run` once every module of `after` is completely imported."""

    after: tuple[str, ...]
    run: Callable[[], None]


REGISTRATIONS = (
    Registration(("transformers.models.auto.configuration_auto",), _register_configs),
    Registration(("transformers.models.auto.image_processing_auto",), _register_image_processor),
    Registration(("transformers.models.auto.processing_auto",), _register_processor),
    Registration(("bicpl_hf.modeling.modeling_bicpl_backbones",), _load_model),  # a config was built: see above
    Registration(("transformers.models.auto.modeling_auto", "bicpl_hf.modeling.modeling_bicpl"), _register_model),
    Registration(("bicpl_hf.modeling.modeling_bicpl",), _install_publishing),
    Registration(("transformers.pipelines",), _register_pipeline),
)


class _NotifyingLoader:
    """The module's own loader, then the registrations its completion makes possible."""

    def __init__(self, loader, registrar: AutoRegistrar) -> None:
        self._loader = loader
        self._registrar = registrar

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        name = module.__spec__.name
        self._registrar.started(name)
        try:
            self._loader.exec_module(module)
        finally:
            self._registrar.finished(name)
        self._registrar.run_ready()

    def __getattr__(self, name: str):  # get_source, get_resource_reader, is_package, ... of the real loader
        if name in ("_loader", "_registrar"):  # not yet set (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self._loader, name)


class AutoRegistrar:
    """Meta path finder that runs each of `REGISTRATIONS` once its modules are imported."""

    def __init__(self) -> None:
        self.pending = list(REGISTRATIONS)
        self.executing: set[str] = set()  # watched modules whose code is running now
        self._watched = {name for registration in REGISTRATIONS for name in registration.after}
        self._lock = threading.Lock()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._watched and not fullname.startswith(PACKAGE_PREFIX):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        # No origin: an old name of a moved module (`_moved_modules`), whose own module is watched under its name.
        if spec.loader is None or spec.origin is None:
            return None
        spec.loader = _NotifyingLoader(spec.loader, self)
        return spec

    def started(self, name: str) -> None:
        with self._lock:
            self.executing.add(name)

    def finished(self, name: str) -> None:
        with self._lock:
            self.executing.discard(name)

    def _imported(self, name: str) -> bool:
        return name in sys.modules and name not in self.executing

    def run_ready(self) -> None:
        """Run the registrations whose modules are all imported, unless a `bicpl_hf` module is mid-import."""
        while True:
            with self._lock:  # never held while registering: that imports, and imports take their own locks
                if any(name.startswith(PACKAGE_PREFIX) for name in self.executing):
                    return
                ready = next((r for r in self.pending if all(map(self._imported, r.after))), None)
                if ready is None:
                    return
                self.pending.remove(ready)
            try:
                ready.run()
            except BaseException:
                with self._lock:
                    self.pending.append(ready)
                raise


def install() -> AutoRegistrar:
    """Put the registrar first on `sys.meta_path` (idempotent) and run what transformers is already ready for."""
    registrar = next((finder for finder in sys.meta_path if isinstance(finder, AutoRegistrar)), None)
    if registrar is None:
        registrar = AutoRegistrar()
        sys.meta_path.insert(0, registrar)
    registrar.run_ready()
    return registrar


def register_all() -> None:
    """Every registration now, importing what each needs (idempotent)."""
    for registration in REGISTRATIONS:
        registration.run()


__all__ = ["REGISTRATIONS", "AutoRegistrar", "Registration", "install", "register_all"]
