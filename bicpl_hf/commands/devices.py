"""Shared setup of the commands (not a command): the `--device` check and what `--quiet` silences.

`bicpl` runs both right after parsing, before any model loads, for every command that has the option:

    >>> check_device("cpu")  # fine; "cuda" on a CPU build of torch raises CommandError (one `error:` line, status 2)
    >>> quiet_libraries()  # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["check_device", "quiet_libraries"]

# devices that need no check: the CPU, and "auto" (`bicpl pretrain-text`: whatever the Trainer finds)
_ALWAYS_THERE = frozenset({"", "cpu", "auto"})


def check_device(device: str | None, option: str = "--device") -> None:
    """Fail like a tool (a `CommandError`, exit status 2) when torch cannot use `device`.

    Args:
        device: the option's value, e.g. "cuda", "cuda:1", "mps" or "cpu"; None is no choice (the command's default).
        option: the option's name, for the message.

    Raises:
        CommandError: not a torch device, or a CUDA/MPS device this torch build or machine lacks.
    """
    from .errors import CommandError

    if device is None or device.strip().lower() in _ALWAYS_THERE:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise CommandError(f"{option} {device}: not a torch device; use e.g. cpu, cuda or cuda:0") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = (f"this torch {torch.__version__} is a CPU build" if torch.version.cuda is None
                     else f"this torch {torch.__version__} is built for CUDA {torch.version.cuda} but finds no GPU")
            raise CommandError(f"{option} {device}: torch sees no CUDA device ({build}); use {option} cpu, or install "
                               "the CUDA build of torch: make TORCH_SPEC=\"torch==... --index-url "
                               "https://download.pytorch.org/whl/cu128\" (see the Makefile)")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise CommandError(f"{option} {device}: torch sees {count} CUDA device(s), numbered 0 to {count - 1}")
    elif parsed.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise CommandError(f"{option} {device}: torch sees no MPS device (Apple silicon only); use {option} cpu")


def quiet_libraries() -> None:
    """`--quiet`: no logging below errors, no progress bars and no Python warnings from transformers, datasets and
    huggingface_hub. A command's own `error:` line and final summary are printed with print(), so they remain."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("transformers", "datasets", "huggingface_hub", "accelerate", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass
    try:
        from datasets.utils import logging as datasets_logging

        datasets_logging.set_verbosity_error()
        datasets_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - datasets is a dependency
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:  # pragma: no cover
        pass
