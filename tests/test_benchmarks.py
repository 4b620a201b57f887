"""Smoke runs of the benchmark scripts, so they cannot rot: each runs in its quickest mode as a
subprocess and must print its table and write every figure as a number. No timing is asserted."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.compilation import compile_cache_dir

pytestmark = [pytest.mark.slow, pytest.mark.apart]  # benchmark runs, each in processes of its own

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 600
# gpu.py --all --dry-run compiles the tiny SD3 from an empty cache (C++ kernels, one by one on 2
# cores) and starts three processes with --compile: ~5 min on an idle 2-core VM, far more when loaded.
GPU_DRY_RUN_TIMEOUT_S = 2400

ENGINE_FIGURES = [*(f"1{c}" for c in "abcdef"), "2a", "2b", "2c", "3a", "3b", "6a", "6b", *(f"7{c}" for c in "abcdefg")]
SERVER_FIGURES = ["4a", "4b", "4e", "4f", "4c", "5a", "5b", "7h", "7i"]
SCALE_FIGURES = ["8a", "8b", "8c", "8d", "8e", "8f"]
FIXED_COST_FIGURES = [f"9{c}" for c in "abcdefghijkl"]
GPU_ALL_MODES = ["gpu", "no-t5", "compile", "fp8-compile"]  # what gpu.py --all runs
GPU_TIMES = ["text_s", "steps_s", "decode_s", "to_pil_s", "per_image_s", "engine_s", "engine_previews_s", "png_s"]


def run_benchmark(script: str, *args: str, timeout: float = TIMEOUT_S) -> str:
    """Run `benchmarks/<script> ARGS` from the repository root; its standard output."""
    completed = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert completed.returncode == 0, f"{script} failed:\n{completed.stderr[-4000:]}"
    return completed.stdout


def check_report(stdout: str, report: dict, expected: list[str]) -> dict[str, dict]:
    """Every expected figure is in the printed table and in the JSON, as a finite number or n/a with a reason."""
    figures = {figure["key"]: figure for figure in report["figures"]}
    assert list(figures) == expected
    for key, figure in figures.items():
        assert f"| {key} | {figure['name']} |" in stdout
        if figure["value"] is None:
            assert figure["note"].startswith("not available"), figure
        else:
            assert math.isfinite(figure["value"]), figure
        if figure["target"]:
            assert figure["met"] in (True, False)
    assert report["samples_s"] and all(values for values in report["samples_s"].values())
    return figures


def test_engine_benchmark_quick(tmp_path):
    output = tmp_path / "engine.json"
    stdout = run_benchmark("engine_cpu.py", "--quick", "--json", str(output))
    figures = check_report(stdout, json.loads(output.read_text()), ENGINE_FIGURES)
    for ratio in ("1a", "1b", "1c", "1d", "3a", "3b", "6a", "6b", "7g"):
        assert figures[ratio]["unit"] == "×" and figures[ratio]["value"] > 0
    # The engine makes diffusers' image exactly, given the same embeddings or the same prompt.
    assert "max pixel difference 0/255" in figures["1a"]["note"]
    assert "max pixel difference 0/255" in figures["1c"]["note"]
    assert "Machine: " in stdout and "torch" in stdout


def test_server_benchmark_quick(tmp_path):
    output = tmp_path / "server.json"
    stdout = run_benchmark("server_cpu.py", "--quick", "--json", str(output))
    figures = check_report(stdout, json.loads(output.read_text()), SERVER_FIGURES)
    assert figures["5a"]["value"] > 0 and figures["5b"]["value"] > 0
    assert figures["7h"]["value"] > 0


def test_fixed_cost_benchmark_quick(tmp_path):
    output = tmp_path / "fixed.json"
    stdout = run_benchmark("fixed_costs.py", "--quick", "--json", str(output))
    report = json.loads(output.read_text())
    figures = check_report(stdout, report, FIXED_COST_FIGURES)
    assert all(figure["unit"] == "ms" and figure["value"] is not None for figure in figures.values())
    # Each way's median and its paired difference from bare diffusers, in milliseconds.
    for key in ("9a", "9b", "9c"):
        assert " − bare diffusers" in figures[key]["name"] and figures[key]["note"].startswith("medians ")
    assert figures["9e"]["value"] > 0 and figures["9f"]["value"] > 0  # a preview arrives after its step
    # Gradio's floor: the app with no model sends the same messages, and costs something.
    assert figures["9i"]["value"] > 0 and "no model" in figures["9i"]["name"]
    ways = ("bare pipe(prompt=...)", "engine.generate, previews on", "/generate as the page runs it",
            "/generate through gradio_client", "Gradio's floor: the same messages, no model")
    for way in ways:
        assert len(report["samples_s"][way]) == 3 and len(report["samples_s"]["CPU: " + way]) == 3
        assert f"| {way} |" in stdout
    assert "256×256" in report["settings"]


def test_fixed_cost_benchmark_says_what_it_does():
    stdout = run_benchmark("fixed_costs.py", "--help")
    assert "--size" in stdout and "--quick" in stdout and "--json" in stdout


@pytest.mark.minutes
def test_scale_benchmark_quick(tmp_path):
    output = tmp_path / "scale.json"
    stdout = run_benchmark("scale_cpu.py", "--quick", "--json", str(output))
    figures = check_report(stdout, json.loads(output.read_text()), SCALE_FIGURES)
    assert all(figure["value"] > 0 for figure in figures.values()) and figures["8e"]["unit"] == "ms"
    assert "max pixel difference 0/255" in figures["8b"]["note"]  # through Ray, the local engine's exact image


@pytest.mark.minutes
@pytest.mark.compiles
def test_gpu_benchmark_dry_run_of_all_writes_its_own_folder(tmp_path):
    # Its cold start fills the session's compile cache when that is still empty, so that
    # tests/test_compile.py, which runs after it, reads its graphs instead of compiling them again.
    cache = compile_cache_dir()
    if any(cache.glob("*")):
        cache = tmp_path / "torch-compile"
    stdout = run_benchmark(
        "gpu.py", "--all", "--dry-run", "--peak-tflops", "1", "--output", str(tmp_path), "--compile-cache", str(cache),
        timeout=GPU_DRY_RUN_TIMEOUT_S,
    )
    document = json.loads((tmp_path / "gpu.json").read_text())
    assert (tmp_path / "gpu.md").read_text() in stdout
    assert "TFLOP/s (--peak-tflops)" in stdout and "counted by torch" in stdout
    assert document["floor"]["floor_s"] > 0
    rows = document["results"]
    assert sorted({row["mode"] for row in rows}, key=GPU_ALL_MODES.index) == GPU_ALL_MODES
    measured = [row for row in rows if row["status"] == "ok"]
    assert {row["mode"] for row in measured} == {"gpu", "no-t5", "compile"}  # what a CPU can run
    assert {row["batch"] for row in rows if row["mode"] == "compile"} == {1, 2}  # --all's 1 and 4, 4 -> 2 dry
    # Start with --compile, cold then warm (reading the cold one's cache), and /generate through app.py.
    cold, warm = document["start"]["cold"], document["start"]["warm"]
    assert cold["status"] == warm["status"] == "ok" and cold["cache_misses"] > 0
    assert warm["cache_misses"] == 0 and warm["cache_hits"] == cold["cache_misses"]
    served = document["served"]
    assert served["compile"]["status"] == "ok" and served["compile"]["served_s"] > 0
    assert served["fp8-compile"]["status"] == "skipped: needs a CUDA GPU"
    targets = stdout[stdout.index("### Targets"):]
    for figure in ("engine − bare, per image", "/generate as the page runs it, compile", "peak memory with T5",
                   "warm start with --compile"):
        assert figure in targets
    for row in measured:
        for field in GPU_TIMES:
            assert math.isfinite(row[field]) and row[field] > 0, (row["mode"], field)
        assert row["x_floor"] > 0
    for row in rows:
        assert row["status"] == "ok" or row["status"].startswith(("skipped: ", "failed")), row
        assert f"| {row['mode']} | {row['batch']} |" in stdout
