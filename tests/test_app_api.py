"""The real server (`python app.py --model tiny`) driven through its API with gradio_client, on
each backend: embedded, and Ray Serve with two replicas (`backend_server` in tests/conftest.py)."""

import base64
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError, Status
from PIL import Image

from cli import parse_args
from helpers.app_server import (
    MAX_SEEDS,
    SLOW_REQUEST,
    cancel,
    full_queue,
    run_app,
    slow_jobs,
    wait_until,
)
from pipeline import GenerationRequest
from pipeline.grid import read_grid
from pipeline.metadata import read_request
from ui import compare_tab, mcp_tools, zerogpu
from ui.settings import CUSTOM, PRESETS, preset_for, preset_size
from ui.studio import build_app

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

REPO = Path(__file__).resolve().parent.parent
SIZE = 256
PROMPT = "a red fox in fresh snow"


@pytest.fixture(scope="module")
def client(backend_server) -> Client:
    return Client(backend_server.url, verbose=False, download_files=True)


def generate(client: Client, seed: int, **values):
    """Submit /generate for a small image with a fixed seed; the job."""
    arguments = {
        "prompt": PROMPT, "negative_prompt": "", "seed": seed, "randomize_seed": False, "width": SIZE,
        "height": SIZE, "steps": 4, "guidance_scale": 0.0, **values,
    }
    return client.submit(**arguments, api_name="/generate")


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_api_lists_exactly_the_documented_endpoints(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(endpoints) == {"/generate", "/compare", "/compare_seeds"}
    names = [parameter["parameter_name"] for parameter in endpoints["/generate"]["parameters"]]
    assert names == [
        "prompt", "negative_prompt", "seed", "randomize_seed", "width", "height", "steps", "guidance_scale",
        "variation_seed", "variation_strength", "max_sequence_length",
    ]
    assert [value["label"] for value in endpoints["/generate"]["returns"]] == ["Image", "Seed"]
    names = [parameter["parameter_name"] for parameter in endpoints["/compare"]["parameters"]]
    assert names == [
        "prompt", "negative_prompt", "seeds", "axis", "axis_values", "width", "height", "steps", "guidance_scale",
        "variation_seed", "variation_strength", "max_sequence_length",
    ]
    assert len(endpoints["/compare"]["returns"]) == 2  # the gallery and the grid file
    names = [parameter["parameter_name"] for parameter in endpoints["/compare_seeds"]["parameters"]]
    assert names == ["prompt", "seeds", "width", "height", "steps", "guidance_scale"]


def test_generate_streams_previews_then_the_final_png_with_metadata(client, backend_server):
    job = generate(client, seed=11)
    final_path, seed = job.result(timeout=60)
    outputs = job.outputs()

    assert seed == 11
    assert outputs[0] == (None, 11)  # the seed comes first, before the engine starts
    previews = [preview for preview, _ in outputs[1:-1]]
    assert len(previews) >= 1, "no preview before the final image"
    for preview in previews:  # inline, as a JPEG data URL: no file to fetch
        header, _, data = preview["url"].partition(",")
        assert header == "data:image/jpeg;base64" and preview["path"] is None
        assert Image.open(io.BytesIO(base64.b64decode(data))).size == (SIZE // 8, SIZE // 8)
    with Image.open(final_path) as final:
        assert (final.format, final.size) == ("PNG", (SIZE, SIZE))
    request, model = read_request(final_path)
    assert request == GenerationRequest(prompt=PROMPT, seed=11, width=SIZE, height=SIZE, steps=4)
    assert model == "tiny (random SD3)"
    saved = [path for path in backend_server.output_dir.glob("*.png") if path.stem.endswith("-11")]
    assert len(saved) == 1 and saved[0].read_bytes() == open(final_path, "rb").read()


def test_same_seed_gives_the_same_image_and_another_seed_another(client):
    first, again, other = (generate(client, seed=seed).result(timeout=60)[0] for seed in (21, 21, 22))
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_random_seed_is_reported_and_reproducible(client):
    path, seed = generate(client, seed=0, randomize_seed=True).result(timeout=60)
    assert read_request(path)[0].seed == seed
    again, _ = generate(client, seed=seed).result(timeout=60)
    assert np.array_equal(pixels(path), pixels(again))


def test_progress_is_told_in_words_and_a_long_prompt_warns_no_one(client):
    """The job's progress reads as the page's status line does; the words a long prompt loses are
    noted on the page, not sent as a warning to the client."""
    job = generate(client, seed=41, prompt="a fox in the snow " * 40, width=512, height=512, steps=6)
    assert job.result(timeout=60)[1] == 41
    # Every message the client received, in order (polling `job.status()` sees only the latest
    # one at each poll, and missed the step messages on a loaded machine).
    told, logs = set(), set()
    while not job.communicator.updates.empty():
        update = job.communicator.updates.get_nowait()
        if update.type == "status":
            told.update(unit.desc for unit in update.progress_data or ())
            logs.add(update.log)
    assert any(re.fullmatch(r"Step [1-5] of 6 · \d+\.\d s left", text or "") for text in told), told
    assert logs == {None}


@pytest.mark.parametrize(
    ("axis", "values", "captions", "settings"),
    [
        ("none", "", ["seed 3", "seed 5"], [{}, {}]),
        ("steps", "1, 2", ["seed 3 · 1 step", "seed 3 · 2 steps"], [{"steps": 1}, {"steps": 2}]),
        ("guidance_scale", "0, 1.5", ["seed 3 · guidance 0", "seed 3 · guidance 1.5"],
         [{"guidance_scale": 0.0}, {"guidance_scale": 1.5}]),
        ("prompt_sr", "fox, owl", ["seed 3 · fox", "seed 3 · owl"], [{}, {"prompt": PROMPT.replace("fox", "owl")}]),
    ],
)
def test_compare_gives_each_cell_the_image_generate_gives_it(client, axis, values, captions, settings):
    gallery, grid = client.predict(
        prompt=PROMPT, seeds="3, 5", axis=axis, axis_values=values, width=SIZE, height=SIZE, steps=2,
        negative_prompt="blur", api_name="/compare",
    )
    assert [item["caption"] for item in gallery][: len(captions)] == captions
    for item, extra in zip(gallery, settings + settings):  # the second row (seed 5) like the first
        request, _ = read_request(item["image"])
        assert all(getattr(request, name) == value for name, value in extra.items()), item["caption"]
        fields = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale")
        single, _ = generate(client, **{name: getattr(request, name) for name in fields}).result(timeout=60)
        # Batched and single runs differ by float rounding only (as in the engine's own test).
        difference = np.abs(pixels(item["image"]).astype(int) - pixels(single).astype(int)).max()
        assert difference <= 2, f"{item['caption']} differs from /generate by {difference}"
        assert read_request(single)[0] == request
    cells = read_grid(grid).comparison.requests  # the grid file lists every cell's exact request
    assert list(cells) == [read_request(item["image"])[0] for item in gallery]
    assert {request.seed for request in cells} == {3, 5}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"prompt": "   "}, "Prompt is empty"),
        ({"width": 260}, "the nearest valid width is 256 or 272"),
        ({"steps": 40}, "Steps must be between 1 and 12, got 40"),
        ({"seed": -1}, "Seed must be between 0 and 4294967295, got -1; ask for a random seed"),
        ({"width": "wide"}, "Width must be a whole number, got 'wide'"),
    ],
)
def test_invalid_requests_fail_with_the_engine_message(client, values, message):
    with pytest.raises(AppError, match=re.escape(message)):
        generate(client, **{"seed": 1, **values}).result(timeout=60)


def test_compare_refuses_more_images_than_the_cap(client):
    with pytest.raises(AppError, match=f"at most {MAX_SEEDS}"):
        client.predict(prompt=PROMPT, seeds="1-100", width=SIZE, height=SIZE, steps=1, api_name="/compare")
    with pytest.raises(AppError, match=f"at most {MAX_SEEDS} are allowed per comparison"):
        client.predict(prompt=PROMPT, seeds=f"1-{MAX_SEEDS}", axis="steps", axis_values="1, 2", api_name="/compare")


def test_cancel_stops_the_generation_and_frees_the_slot_at_once(client, backend_server):
    # Every other slot (on Ray, the other replica) busy with a slow job, so the quick job below
    # can only run in the slot that the cancelled one frees.
    with slow_jobs(backend_server.url, backend_server.slots - 1, first_seed=33) as others:
        slow = client.submit(prompt=PROMPT, seed=31, **SLOW_REQUEST, api_name="/generate")
        wait_until(lambda: len(slow.outputs()) >= 2, what="two previews")
        started = time.monotonic()
        wait_until(lambda: len(slow.outputs()) >= 3, what="a third preview")
        step_seconds = time.monotonic() - started
        cancelled = time.monotonic()
        cancel(slow)

        quick, _ = generate(client, seed=32).result(timeout=60)
        waited = time.monotonic() - cancelled
        assert not [job for job in others if job.done()], "the quick job waited for another slot"

    assert slow.status().code == Status.CANCELLED
    assert Image.open(quick).size == (SIZE, SIZE)
    # The slow job had 9 steps and a large decode left; the quick one waited for about one step.
    assert waited < 9 * step_seconds, f"waited {waited:.1f} s with {step_seconds:.2f} s per slow step"
    assert not [path for path in backend_server.output_dir.glob("*.png") if path.stem.endswith("-31")]


def test_a_client_that_disconnects_frees_the_slot_at_once(backend_server, tmp_path):
    script = tmp_path / "disconnecting_client.py"
    script.write_text(
        "import sys, time\n"
        "from gradio_client import Client\n"
        f"job = Client({backend_server.url!r}, verbose=False).submit("
        f"prompt='abandoned', seed=71, **{SLOW_REQUEST!r}, api_name='/generate')\n"
        "while not job.outputs():\n    time.sleep(0.02)\n"
        "print('previewing', flush=True)\n"
        "time.sleep(600)\n"
    )
    client_process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert client_process.stdout.readline().strip() == "previewing"
        # Every other slot busy, so the quick job below can only run in the abandoned job's.
        with slow_jobs(backend_server.url, backend_server.slots - 1, first_seed=73) as others:
            client_process.kill()
            client_process.wait()
            path, _ = generate(Client(backend_server.url, verbose=False), seed=72).result(timeout=60)
            assert not [job for job in others if job.done()], "the quick job waited for another slot"
    finally:
        client_process.kill()
        client_process.wait()
    assert Image.open(path).size == (SIZE, SIZE)
    # Had the abandoned job kept its slot, it would have finished before the quick one started.
    assert not list(backend_server.output_dir.glob("*-71.png")), "the abandoned image was finished anyway"


def test_cancelling_a_job_leaves_other_sessions_jobs_running(client, backend_server):
    other_session = Client(backend_server.url, verbose=False)
    theirs = other_session.submit(PROMPT, "", 61, False, 1024, 1024, 4, 0.0, api_name="/generate")
    wait_until(lambda: theirs.outputs(), what="the other session's first preview")
    mine = generate(client, seed=62)
    mine.cancel()

    path, seed = theirs.result(timeout=60)
    assert (seed, Image.open(path).size) == (61, (1024, 1024))
    assert mine.status().code == Status.CANCELLED


def test_a_full_queue_answers_busy_and_recovers(client, backend_server):
    with full_queue(backend_server.url, backend_server.slots):
        with pytest.raises(QueueError, match="Queue is full"):
            generate(client, seed=50).result(timeout=60)
    path, _ = generate(client, seed=51).result(timeout=60)
    assert Image.open(path).size == (SIZE, SIZE)


def test_a_model_that_cannot_load_stops_with_its_message_and_a_hint():
    result = run_app("--model", "/nonexistent/model-folder", "--no-warmup")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "/nonexistent/model-folder" in result.stderr
    assert "python app.py --model tiny" in result.stderr


def test_every_option_reads_its_environment_variable():
    environ = {
        "TURBO_STUDIO_MODEL": "tiny", "TURBO_STUDIO_MEMORY_MODE": "model-offload",
        "TURBO_STUDIO_TEXT_ENCODER_3": "false",
        "TURBO_STUDIO_QUANTIZATION": "nf4", "TURBO_STUDIO_COMPILE": "true", "TURBO_STUDIO_WARMUP": "0",
        "TURBO_STUDIO_MAX_BATCH_SIZE": "2", "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7000",
        "TURBO_STUDIO_SHARE": "yes", "TURBO_STUDIO_AUTH": "ada:secret:42", "TURBO_STUDIO_MAX_QUEUE_SIZE": "3",
        "TURBO_STUDIO_MAX_SEEDS": "9", "TURBO_STUDIO_OUTPUT_DIR": "/tmp/out",
    }
    options = parse_args([], environ)
    load, server, studio = options.load, options.server, options.studio
    assert (load.model, load.memory_mode) == ("tiny", "model-offload")
    assert (load.text_encoder_3, load.quantization) == (False, "nf4")
    assert (load.compile, load.warmup, load.max_batch_size) == (True, False, 2)
    assert (server.host, server.port, server.share, server.auth, server.max_queue_size) == (
        "0.0.0.0", 7000, True, ("ada", "secret:42"), 3
    )
    assert (studio.max_seeds, str(studio.output_dir)) == (9, "/tmp/out")
    assert load.zero_gpu is False  # set from Hugging Face's SPACES_ZERO_GPU, not from a variable of ours
    # The command line wins over the environment.
    options = parse_args(["--model", "other/model", "--warmup", "--host", "127.0.0.1"], environ)
    assert (options.load.model, options.load.warmup, options.server.host) == ("other/model", True, "127.0.0.1")


def test_defaults_are_local_and_private():
    options = parse_args([], {})
    assert (options.server.host, options.server.share, options.server.auth) == ("127.0.0.1", False, None)
    assert options.studio.output_dir is None


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--auth", "nopassword"], {}), ([], {"TURBO_STUDIO_SHARE": "maybe"}), (["--max-seeds", "0"], {}),
        ([], {"TURBO_STUDIO_COMPILE": "maybe"}), ([], {"TURBO_STUDIO_MEMORY_MODE": "fast"}),
        ([], {"TURBO_STUDIO_MAX_BATCH_SIZE": "0"}),
    ],
)
def test_bad_options_are_usage_errors(argv, environ, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv, environ)
    assert exit_info.value.code == 2
    assert any(text in capsys.readouterr().err for text in (*environ.values(), *argv))  # it names the bad value


# Pieces of the app that need no server.


def test_presets_are_about_one_megapixel_in_multiples_of_64():
    for preset in PRESETS:
        assert preset.width % 64 == 0 and preset.height % 64 == 0
        assert 0.9 <= preset.width * preset.height / 2**20 <= 1.05
        assert preset_for(preset.width, preset.height) == preset.ratio
        assert preset_size(preset.ratio, 1, 1) == (preset.width, preset.height)
    assert preset_for(1000, 1000) == CUSTOM
    assert preset_size(CUSTOM, 512, 768) == (512, 768)


def test_on_zerogpu_each_run_holds_the_gpu_for_its_requests_and_a_comparison_is_planned_once(engine, monkeypatch):
    """Every endpoint that runs the engine asks ZeroGPU (`spaces.GPU`) for its requests' estimated
    seconds when it runs; a comparison is planned once, in its handler before the GPU is held (the
    duration reads the plan's requests instead of planning again)."""
    asked = []  # the seconds each run asked ZeroGPU for, in order

    def gpu(duration):
        def hold(function):
            def held(*args, **kwargs):
                asked.append(duration(*args, **kwargs))
                return function(*args, **kwargs)

            return held

        return hold

    plans = []

    def counted(plan):
        def planning(*args, **kwargs):
            plans.append(args[1])  # the seeds
            return plan(*args, **kwargs)

        return planning

    monkeypatch.setattr(zerogpu, "ON_ZEROGPU", True)
    monkeypatch.setattr(zerogpu, "spaces", SimpleNamespace(GPU=gpu), raising=False)
    monkeypatch.setattr(compare_tab, "plan_comparison", counted(compare_tab.plan_comparison))
    monkeypatch.setattr(mcp_tools, "plan_comparison", counted(mcp_tools.plan_comparison))
    app = build_app(engine)

    # Each endpoint called as its client would, with a prompt and the other inputs' initial values
    # (1024², 4 steps, seeds 0-3), to its last result.
    runs = {}
    for block_fn in app.fns.values():
        if block_fn.api_name in ("generate", "compare", "compare_seeds", "mcp_generate", "mcp_compare"):
            asked.clear(), plans.clear()
            for _ in block_fn.fn(PROMPT, *(component.value for component in block_fn.inputs[1:])):
                pass
            runs[block_fn.api_name] = (list(asked), len(plans))
    fixed, per_megapixel_step = zerogpu.SECONDS_FIXED, zerogpu.SECONDS_PER_MEGAPIXEL_STEP
    one, four = round(fixed + 4 * per_megapixel_step), round(fixed + 4 * 4 * per_megapixel_step)
    assert runs == {
        "generate": ([one], 0),  # one 1024x1024 image, 4 steps
        "compare": ([four], 1),  # four seeds by default, planned once
        "compare_seeds": ([four], 1),
        "mcp_generate": ([one], 0),  # the MCP tools, at the same defaults
        "mcp_compare": ([four], 1),
    }


def test_on_zerogpu_spaces_is_imported_before_torch_diffusers_and_the_hub(tmp_path):
    # A stand-in `spaces` notes which heavy packages were already imported when it was.
    (tmp_path / "spaces.py").write_text(
        "import sys\n"
        "BEFORE = sorted(name for name in ('torch', 'diffusers', 'huggingface_hub', 'gradio') if name in sys.modules)\n"
        "def GPU(duration=None):\n    return lambda handler: handler\n"
    )
    environ = {**os.environ, "SPACES_ZERO_GPU": "true", "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    result = subprocess.run(
        [sys.executable, "-c", "import app, spaces; print(spaces.BEFORE)"],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_off_zerogpu_handlers_are_left_as_they_are():
    def handler():
        pass

    assert not zerogpu.ON_ZEROGPU
    assert zerogpu.on_gpu(lambda: 1)(handler) is handler
    guided = GenerationRequest(prompt="a cat", guidance_scale=3.0)
    assert zerogpu.estimated_seconds([guided, guided]) == round(
        zerogpu.SECONDS_FIXED + 2 * 4 * 2 * zerogpu.SECONDS_PER_MEGAPIXEL_STEP
    )
