"""`/compare` as an API client sees it stream, on both backends: every step's previews, finished
cells inline while it runs (nothing to download again and again), and every cell's PNG and the
grid at the end."""

import pytest
from gradio_client import Client

pytestmark = pytest.mark.slow  # a real server

SEEDS, STEPS = 6, 2  # two batches (the app batches 4 at most): some cells finish while others run


def is_inline(image) -> bool:
    return isinstance(image, dict) and image["path"] is None and image["url"].startswith("data:image/jpeg;base64,")


def finished(item: dict) -> bool:
    return not item["caption"].endswith((" · waiting", *(f" · step {step}/{STEPS}" for step in range(1, STEPS + 1))))


def test_compare_streams_previews_and_sends_each_finished_cell_once_as_a_file(backend_server, tmp_path):
    client = Client(backend_server.url, verbose=False, download_files=str(tmp_path))
    job = client.submit(
        prompt="a lighthouse", seeds=f"1-{SEEDS}", width=256, height=256, steps=STEPS, api_name="/compare"
    )
    outputs = [gallery for gallery, grid in job]
    assert all(isinstance(gallery, list) for gallery in outputs)  # plain values, never a component update
    *streamed, final = outputs
    captions = [[item["caption"] for item in gallery] for gallery in streamed]
    for step in range(1, STEPS + 1):  # each batch's every step reached the client with its previews
        assert any(row[0] == f"seed 1 · step {step}/{STEPS}" for row in captions), captions
        assert any(row[-1] == f"seed {SEEDS} · step {step}/{STEPS}" for row in captions), captions
    # While it runs, finished cells are inline thumbnails, not files fetched again with every step.
    mixed = [gallery for gallery in streamed if 0 < sum(map(finished, gallery)) < SEEDS]
    assert mixed, captions
    for gallery in streamed:
        assert all(is_inline(item["image"]) for item in gallery), gallery
    assert all(isinstance(item["image"], str) and item["image"].endswith(".png") for item in final), final
    assert [item["caption"] for item in final] == [f"seed {seed}" for seed in range(1, SEEDS + 1)]
    assert job.outputs()[-1][1].endswith(".png")  # the grid, once, at the end
    assert all(grid is None for _, grid in job.outputs()[:-1])
