"""What the interface and its server are asked for, besides the engine: set by app.py's command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.seeds import DEFAULT_MAX_SEEDS
from ui.store import DEFAULT_MAX_CACHE_MB

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_QUEUE_SIZE = 20


@dataclass(frozen=True)
class ServerOptions:
    """How the web server listens: address, sharing, password, queue bound, and the MCP server for agents."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    share: bool = False
    auth: tuple[str, str] | None = None
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    mcp: bool = False


@dataclass(frozen=True)
class StudioOptions:
    """What the interface needs besides the engine."""

    max_seeds: int = DEFAULT_MAX_SEEDS
    output_dir: Path | None = None
    max_cache_mb: int = DEFAULT_MAX_CACHE_MB  # the most Gradio's cache of served images keeps
