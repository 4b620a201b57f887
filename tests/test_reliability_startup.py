"""Start-up failures: each model-load failure ends with its clear message, a non-zero exit and
no traceback. `python app.py` is run against a fake Hugging Face hub on 127.0.0.1 (the real
download code, real HTTP, the real environment variables); the failures that need no hub run
`app.main` in this process (a subprocess is mostly imports: ~10 s of CPU each); and the loader
is driven through more hub answers in this process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import constants as hub_constants

import app
from helpers.fake_hub import TOKEN_WITH_ACCESS, TOKEN_WITHOUT_ACCESS, FakeHub, repo_files
from helpers.server_process import REPO, free_port
from pipeline import Engine, GenerationRequest, LoadOptions, loader
from pipeline.errors import ModelLoadError

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

HUB_MODEL = loader.DEFAULT_MODEL
BAD_TOKEN = "hf_badTokenThatMustNeverBePrinted0123"
NOT_LOADED = "Turbo Studio could not load the model."
OFFLINE = "is not in the local Hugging Face cache and the hub cannot be reached"
APP_STARTS = ("gated-no-token", "bad-token")


@pytest.fixture(scope="module")
def model_without_vae(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny SD3 with its `vae/` folder missing."""
    folder = tmp_path_factory.mktemp("broken") / "no-vae"
    shutil.copytree(tiny_model_dir, folder)
    shutil.rmtree(folder / "vae")
    return folder


@dataclass
class Start:
    """One `python app.py` start that must fail: its arguments, environment and expected message."""

    args: list[str]
    message: str
    env: dict[str, str] = field(default_factory=dict)
    hub: FakeHub | None = None


def run_start(start: Start, home: Path) -> subprocess.CompletedProcess:
    """Run app.py with an empty Hugging Face home (nothing cached, no stored token)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("HF_")}
    env.update({"HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "0", **start.env})
    if start.hub:
        env["HF_ENDPOINT"] = start.hub.url
    command = [sys.executable, "app.py", *start.args, "--no-warmup", "--port", str(free_port())]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def starts(tiny_model_dir, tmp_path_factory) -> dict[str, tuple[Start, subprocess.CompletedProcess]]:
    """The failing starts that need the hub, run side by side."""
    with FakeHub(tiny_model_dir, gated=True) as hub:
        cases = {
            "gated-no-token": Start(["--model", HUB_MODEL], f"{HUB_MODEL} is gated and no token was given", hub=hub),
            "bad-token": Start(
                ["--model", HUB_MODEL], f"The hub refused the token for {HUB_MODEL} (HTTP 401)",
                env={"HF_TOKEN": BAD_TOKEN}, hub=hub,
            ),
        }
        assert tuple(cases) == APP_STARTS
        with ThreadPoolExecutor(max_workers=len(cases)) as pool:
            results = pool.map(lambda name: run_start(cases[name], tmp_path_factory.mktemp(name)), cases)
            return {name: (cases[name], result) for name, result in zip(cases, results)}


def assert_failed_start(status: int, stderr: str, output: str, message: str) -> None:
    """Exit status 1, the message on stderr, no traceback, no token."""
    assert status == 1, output[-3000:]
    assert NOT_LOADED in stderr and message in stderr, output[-3000:]
    assert "Traceback" not in output and BAD_TOKEN not in output


@pytest.mark.parametrize("name", APP_STARTS)
def test_a_failed_download_exits_with_its_message_and_no_traceback(starts, name):
    start, result = starts[name]
    assert_failed_start(result.returncode, result.stderr, result.stdout + result.stderr, start.message)


@pytest.fixture
def empty_hub_cache(monkeypatch, tmp_path):
    """Nothing in the Hugging Face cache (HF_HUB_OFFLINE=1 is the test session's setting)."""
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))


@pytest.mark.parametrize("case", ["offline-nothing-cached", "folder-missing-a-component"])
def test_a_failed_load_makes_main_return_1_with_its_message(empty_hub_cache, model_without_vae, capfd, case):
    model, message = {
        "offline-nothing-cached": (HUB_MODEL, f"{HUB_MODEL} {OFFLINE}"),
        "folder-missing-a-component": (str(model_without_vae), f"{model_without_vae} lacks the `vae` component"),
    }[case]
    status = app.main(["--model", model, "--no-warmup"])
    captured = capfd.readouterr()
    assert_failed_start(status, captured.err, captured.out + captured.err, message)


def test_the_fake_hub_saw_the_bad_token_and_the_gated_download_attempt(starts):
    """The starts really went through the download code to the hub (not a shortcut)."""
    hub = starts["bad-token"][0].hub
    assert any(request.authorization == f"Bearer {BAD_TOKEN}" for request in hub.received)
    assert any("/resolve/" in request.path and request.authorization is None for request in hub.received)


@pytest.fixture
def hub_download(monkeypatch, tmp_path):
    """Point the loader's downloads at a hub URL (set `.url` first), online, with an empty cache."""

    class Download:
        url: str

        def __call__(self, *args, **kwargs):
            return huggingface_hub.snapshot_download(*args, endpoint=self.url, cache_dir=tmp_path / "cache", **kwargs)

    download = Download()
    monkeypatch.setattr(loader, "snapshot_download", download)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(tmp_path / "no-stored-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return download


def load_error(download, hub: FakeHub) -> str:
    download.url = hub.url
    with hub, pytest.raises(ModelLoadError) as raised:
        loader.resolve_model_folder(HUB_MODEL)
    return str(raised.value)


@pytest.mark.parametrize(
    ("hub_options", "token", "expected"),
    [
        pytest.param({"gated": True}, None, "is gated and no token was given: accept the", id="gated-no-token"),
        pytest.param(
            {"gated": True}, TOKEN_WITHOUT_ACCESS, "is gated and this token has no access to it", id="gated-no-access"
        ),
        pytest.param({"gated": True}, BAD_TOKEN, f"refused the token for {HUB_MODEL} (HTTP 401)", id="bad-token"),
        pytest.param(
            {"fail_with": 403}, TOKEN_WITH_ACCESS, f"The hub refused the token for {HUB_MODEL} (HTTP 403)",
            id="token-without-read-permission",
        ),
        pytest.param({"fail_with": 503}, None, "not in the local Hugging Face cache and the hub answered HTTP 503",
                     id="hub-down"),
        pytest.param({"folder": None}, None, "was not found, or it is private and no valid token was given",
                     id="no-such-repo"),
    ],
)
def test_each_hub_answer_gets_its_own_message(hub_download, monkeypatch, tiny_model_dir, hub_options, token, expected):
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    message = load_error(hub_download, FakeHub(**{"folder": tiny_model_dir, **hub_options}))
    assert expected in message
    assert BAD_TOKEN not in message and TOKEN_WITH_ACCESS not in message


def test_an_unreachable_hub_reads_as_offline(hub_download):
    hub_download.url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ModelLoadError, match=OFFLINE):
        loader.resolve_model_folder(HUB_MODEL)


def test_a_downloaded_repo_missing_a_component(hub_download, model_without_vae):
    assert "lacks the `vae` component (no vae/ folder)" in load_error(hub_download, FakeHub(model_without_vae))


# Files of the real repo that the pipeline does not need: a single-file checkpoint, other tools' encoders, fp16 copies.
UNNEEDED = (
    "sd3.5_large_turbo.safetensors", "text_encoders/clip_g.safetensors", "README.md", "transformer/x.fp16.safetensors"
)


def test_the_token_with_access_downloads_only_what_it_needs(hub_download, monkeypatch, tiny_model_dir, tmp_path):
    """The success path through the same fake hub: needed files only, then a working engine."""
    repo = tmp_path / "repo"
    shutil.copytree(tiny_model_dir, repo)
    for extra in UNNEEDED:
        (repo / extra).parent.mkdir(exist_ok=True)
        (repo / extra).write_bytes(b"not needed")
    monkeypatch.setenv("HF_TOKEN", TOKEN_WITH_ACCESS)
    hub = FakeHub(repo, gated=True)
    hub_download.url = hub.url
    with hub:
        engine = Engine.load(LoadOptions(model=HUB_MODEL, warmup=False, preview_decoder=""))
    assert hub.requested_files() == {str(path) for path in repo_files(tiny_model_dir)}
    image = engine.generate_images(GenerationRequest.create(prompt="a cat", seed=1, width=256, height=256, steps=1))[0]
    assert image.image.size == (256, 256)


NOISE = ("Failed to load", "torchao", "[transformers]", "is an Enum subclass")


def test_startup_prints_only_the_apps_lines_unless_verbose(tmp_path):
    """By default the libraries' import warnings are hidden; TURBO_STUDIO_VERBOSE=1 shows them."""
    missing = Start(["--model", str(tmp_path / "missing")], "is neither an existing folder nor a hub id")
    verbose = Start(missing.args, missing.message, env={"TURBO_STUDIO_VERBOSE": "1"})
    with ThreadPoolExecutor(max_workers=2) as pool:
        quiet_run, verbose_run = pool.map(lambda start: run_start(start, tmp_path / "home"), (missing, verbose))
    for result in (quiet_run, verbose_run):
        assert result.returncode == 1 and missing.message in result.stderr, result.stderr
    lines = (quiet_run.stdout + quiet_run.stderr).strip().splitlines()
    assert lines[0] == NOT_LOADED and len(lines) == 3, f"start-up noise before the app's message:\n{quiet_run.stderr}"
    assert any(noise in verbose_run.stderr for noise in NOISE), f"--verbose hid the warnings:\n{verbose_run.stderr}"


@pytest.mark.parametrize(
    "argv, environ, verbose",
    [([], {}, False), (["--verbose"], {}, True), ([], {"TURBO_STUDIO_VERBOSE": "yes"}, True),
     (["--no-verbose"], {"TURBO_STUDIO_VERBOSE": "1"}, False), (["--model", "tiny", "--verbose"], {}, True)],
)
def test_verbose_requested_reads_the_flag_then_the_environment(argv, environ, verbose):
    """The early check agrees with cli.py's switch: the flag wins over the environment variable."""
    from startup_noise import verbose_requested

    assert verbose_requested(argv, environ) is verbose
    assert app.parse_args([*argv, "--model", "tiny"], environ) is not None
