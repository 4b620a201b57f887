"""Session-wide set-up: offline, no telemetry, and one tiny SD3 built and loaded per session."""

import os
import tempfile
from pathlib import Path

os.environ.update(
    HF_HUB_OFFLINE="1",
    HF_HUB_DISABLE_TELEMETRY="1",
    GRADIO_ANALYTICS_ENABLED="False",
)
# Subprocesses started by the tests (`app.py --model tiny`) reuse the session's tiny model.
os.environ.setdefault("TURBO_STUDIO_TINY_DIR", str(Path(tempfile.mkdtemp(prefix="turbo-studio-")) / "tiny-sd3"))

import pytest  # noqa: E402

from pipeline import Engine, LoadOptions  # noqa: E402
from pipeline.random_model import ensure_tiny_model  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny random SD3, saved with `save_pretrained` once per test session."""
    return ensure_tiny_model()


@pytest.fixture(scope="session")
def engine(tiny_model_dir) -> Engine:
    """An engine over the tiny SD3, loaded through the real loading code, without warm-up."""
    return Engine.load(LoadOptions(model=str(tiny_model_dir), warmup=False, preview_decoder=""))
