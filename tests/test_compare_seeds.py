"""`/compare_seeds`, kept for existing clients, gives what `/compare` with no axis gives."""

import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

pytestmark = pytest.mark.slow  # a real server

SIZE = 256
PROMPT = "a red fox in fresh snow"


@pytest.fixture(scope="module")
def client(backend_server) -> Client:
    return Client(backend_server.url, verbose=False, download_files=True)


def pixels(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_compare_seeds_gives_the_images_and_seeds_of_compare(client):
    shape = {"prompt": PROMPT, "seeds": "3, 5-6", "width": SIZE, "height": SIZE, "steps": 2, "guidance_scale": 0.0}
    old = client.predict(**shape, api_name="/compare_seeds")
    new, _ = client.predict(**shape, axis="none", api_name="/compare")
    assert [item["caption"] for item in old] == ["seed 3", "seed 5", "seed 6"]
    assert [item["caption"] for item in old] == [item["caption"] for item in new]
    for before, now in zip(old, new):
        assert np.array_equal(pixels(before["image"]), pixels(now["image"])), before["caption"]
