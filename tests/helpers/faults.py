"""Faults injected into a running app: a hook on the engine's transformer, and a failing disk.

    with transformer_hook(engine, Steps(delay=0.02, fail_at=3, error=torch.OutOfMemoryError("..."))) as steps:
        ...  # each transformer call sleeps 20 ms; the third raises
    steps.calls  # how many transformer calls were made

    with failing_disk(folder, errno.ENOSPC, after_bytes=1000):
        ...  # files written under `folder` fail once 1000 bytes are written: a full disk
"""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline import Engine


@dataclass
class Steps:
    """Counts transformer calls (one per step without guidance), slows each, and can fail one.

    With a `gate`, every call waits until the gate is set: the engine is held mid-generation.
    """

    delay: float = 0.0
    gate: threading.Event | None = None
    fail_at: int | None = None
    error: BaseException | None = None
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, module, args, kwargs) -> None:
        with self._lock:
            self.calls += 1
            call = self.calls
        if self.gate is not None:
            self.gate.wait(timeout=120)
        if self.delay:
            time.sleep(self.delay)
        if call == self.fail_at:
            raise self.error

    def reset(self) -> None:
        with self._lock:
            self.calls = 0


@contextmanager
def transformer_hook(engine: Engine, steps: Steps) -> Iterator[Steps]:
    """Run `steps` before every transformer forward pass of `engine` until the block ends."""
    handle = engine.pipeline.transformer.register_forward_pre_hook(steps, with_kwargs=True)
    try:
        yield steps
    finally:
        handle.remove()


class _FillingFile:
    """A file open for writing that raises `OSError(code)` once `room` more bytes were written."""

    def __init__(self, file, room: int, code: int):
        self._file, self._room, self._code = file, room, code

    def write(self, data) -> int:
        data = bytes(data)
        written = self._file.write(data[: self._room])
        self._room -= written
        if written < len(data):
            raise OSError(self._code, os.strerror(self._code))
        return written

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def __getattr__(self, name):
        return getattr(self._file, name)


@contextmanager
def failing_disk(folder: Path, code: int, after_bytes: int | None = None) -> Iterator[None]:
    """Make writes under `folder` fail with `code` (errno): when opening (`after_bytes` None, a
    read-only folder) or once `after_bytes` bytes are written (a full disk). Patches `open`,
    which both `save_png_atomically` and PIL's `Image.save` use; reads are untouched."""
    real_open = builtins.open
    folder = Path(folder).resolve()

    def open_(file, mode="r", *args, **kwargs):
        writing = isinstance(file, (str, os.PathLike)) and any(flag in mode for flag in "wxa+")
        if not writing or folder not in Path(file).resolve().parents:
            return real_open(file, mode, *args, **kwargs)
        if after_bytes is None:
            raise OSError(code, os.strerror(code), str(file))
        return _FillingFile(real_open(file, mode, *args, **kwargs), after_bytes, code)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", open_)
        yield
