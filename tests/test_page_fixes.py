"""What a new user tripped over in the browser (issue 15): exploring changing Generate's settings,
presets not fixing a size out of bounds, captions of cells a Stop left, repeated seeds and a
refused Generate's error shown twice."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from helpers.pages import generate, open_tab, set_slider, small_images, status, wait_for_final_image

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_exploring_leaves_generates_settings_as_they_were_and_a_variation_is_named(page):
    small_images(page, steps=1)
    page.get_by_text("Advanced").click()  # the variation's settings
    generate(page, "a red fox in fresh snow")
    wait_for_final_image(page)
    strength = page.get_by_label("number input for Variation strength")
    expect(strength).to_have_value("0")
    page.locator("#explore-button").click()
    expected = [re.compile(r"variation seed \d+$")] * 8
    expect(page.locator("#comparison .caption-label")).to_have_text(expected, timeout=120_000)
    expect(strength).to_have_value("0")  # the comparison ran at 0.15; Generate still makes the image explored

    open_tab(page, "Generate")
    page.locator("#variation-seed input").fill("5")
    set_slider(page, "Variation strength", 0.15)
    generate(page, "a red fox in fresh snow")
    wait_for_final_image(page)
    expect(status(page)).to_contain_text("· variation of seed 5 at 0.15")


def test_a_preset_sets_the_size_even_when_a_size_out_of_bounds_was_typed(page):
    width = page.get_by_label("number input for Width")
    width.fill("5000")
    width.press("Tab")
    page.locator("#aspect").get_by_text("4:3", exact=True).click()
    expect(width).to_have_value("1152")
    expect(page.get_by_label("number input for Height")).to_have_value("896")


def test_a_refused_generate_says_its_error_once_in_the_status_line(page):
    generate(page, "   ")
    expect(status(page)).to_have_text("Prompt is empty: describe the image you want.")
    expect(status(page)).to_have_attribute("data-state", "failed")
    page.wait_for_timeout(3000)  # the toast it had came with the line, and stayed for seconds
    expect(page.get_by_test_id("toast-body")).to_have_count(0)


def test_a_seed_listed_twice_is_named_in_the_status_line(page):
    small_images(page, steps=1)
    page.locator("#prompt textarea").fill("a red fox in fresh snow")
    open_tab(page, "Compare")
    page.locator("#compare-seeds textarea").fill("1, 2, 2")
    page.locator("#compare-button").click()
    expect(status(page, "#compare-status")).to_contain_text(
        "2 images. Seed 2 was listed more than once: made once.", timeout=120_000
    )
