"""Turbo Studio: a web app for Stable Diffusion 3.5 Large Turbo.

    python app.py                 # the real model (needs a GPU and access to the gated repo)
    python app.py --model tiny    # a tiny random SD3: the whole app, offline, on a CPU
    python app.py --help          # every option, and the environment variable that also sets it
"""

import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

# isort: off
from ui import zerogpu  # noqa: F401  (first: on ZeroGPU, `spaces` must patch torch before it loads)

from startup_noise import quiet_libraries, verbose_requested

if not verbose_requested(sys.argv[1:], os.environ):
    quiet_libraries()
# isort: on
from cli import AppOptions, parse_args
from pipeline import Engine
from pipeline.errors import ModelLoadError
from ui.studio import build_app, launch


def start_engine(options: AppOptions):
    """The embedded engine, or a remote one over Ray Serve replicas: the UI cannot tell them apart."""
    backend = options.backend
    if backend.kind == "local":
        return Engine.load(options.load)
    from pipeline.serve import connect  # imports Ray only now: the local backend never needs it

    return connect(
        options.load, backend.replicas, address=backend.ray_address, min_replicas=backend.min_replicas,
        max_replicas=backend.max_replicas,
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the options, load the model, serve the app; 1 when the model cannot load."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    options = parse_args(argv)
    try:
        engine = start_engine(options)
    except ModelLoadError as error:
        print(
            f"Turbo Studio could not load the model.\n{error}\n"
            "To try the interface without a GPU or a download: python app.py --model tiny",
            file=sys.stderr,
        )
        return 1
    # Gradio's cache of served files gets a folder of its own, which the app prunes (ui/store.py).
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "turbo-studio-gradio"))
    # A stop from docker, systemd or a Space restart closes the server like Ctrl-C: temporary files go.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    launch(build_app(engine, options.studio), options.server, engine.concurrency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
