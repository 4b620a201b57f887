"""The README's front matter is a valid Hugging Face Space card that matches requirements.txt."""

from pathlib import Path

from huggingface_hub import SpaceCard
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def test_space_card_parses_and_names_the_app_and_model():
    card = SpaceCard.load(ROOT / "README.md")
    assert card.data.sdk == "gradio" and card.data.app_file == "app.py"
    assert (ROOT / card.data.app_file).is_file()
    assert card.data.models == ["stabilityai/stable-diffusion-3.5-large-turbo"]
    assert card.data.suggested_hardware and card.data.license and card.data.short_description
    assert len(card.data.short_description) <= 60


def test_sdk_version_matches_the_pinned_gradio():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    (gradio,) = [requirement for line in lines if line.strip() and not line.startswith("#")
                 if (requirement := Requirement(line)).name == "gradio"]  # `gradio[mcp]==…`, with its extra
    (pin,) = gradio.specifier
    assert pin.operator == "==" and SpaceCard.load(ROOT / "README.md").data.sdk_version == pin.version
