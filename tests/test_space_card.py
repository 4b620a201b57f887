"""The README's front matter is a valid Hugging Face Space card that matches requirements.txt."""

import re
from pathlib import Path

from huggingface_hub import SpaceCard

ROOT = Path(__file__).resolve().parent.parent


def test_space_card_parses_and_names_the_app_and_model():
    card = SpaceCard.load(ROOT / "README.md")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert (ROOT / card.data.app_file).is_file()
    assert card.data.models == ["stabilityai/stable-diffusion-3.5-large-turbo"]
    assert card.data.suggested_hardware and card.data.license and card.data.short_description
    assert len(card.data.short_description) <= 60


def test_sdk_version_matches_the_pinned_gradio():
    pinned = re.search(r"^gradio==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group(1)
    assert SpaceCard.load(ROOT / "README.md").data.sdk_version == pinned
