"""The real app in headless Chromium (Debian's package, driven by Playwright for Python).

Each test has a fresh page (a new Gradio session). Screenshots of the main screens go to
`test-output/screenshots/`; the README's copies in `assets/screenshots/` are chosen from them.
"""

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from helpers.app_server import SLOW_REQUEST, full_queue
from helpers.pages import (
    FINAL_IMAGE,
    PROMPT,
    RECORD_RESULT_IMAGES,
    generate,
    screenshot,
    set_slider,
    small_images,
    wait_for_final_image,
)
from pipeline.grid import read_grid
from pipeline.metadata import read_request

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_generate_shows_previews_then_the_final_image(page):
    small_images(page, size=512, steps=6)
    expect(page.locator("#aspect")).to_contain_text("Custom")
    page.evaluate(RECORD_RESULT_IMAGES)
    page.locator("#prompt textarea").fill(PROMPT)
    page.locator("#prompt textarea").press("Enter")  # Enter generates
    final = wait_for_final_image(page)

    shown = page.evaluate("window.resultImages")
    previews = [source for source in shown[:-1] if not FINAL_IMAGE.search(source)]
    assert previews, f"no preview was shown before the final image: {shown}"
    assert shown[-1] == final
    seed = FINAL_IMAGE.search(final)[1]
    expect(page.locator("#status")).to_contain_text(re.compile(rf"Done in \d+\.\d s · seed {seed} · 512×512 · 6 steps"))
    expect(page.locator("#seed input")).to_have_value(seed)
    expect(page.locator("#history img")).to_have_count(1)
    screenshot(page, "generate")


def test_aspect_presets_set_the_size_and_the_history_restores_settings(page):
    page.get_by_label("16:9").check()
    expect(page.get_by_label("number input for Width")).to_have_value("1344")
    expect(page.get_by_label("number input for Height")).to_have_value("768")
    small_images(page, steps=3)
    generate(page, "first prompt")
    seed = FINAL_IMAGE.search(wait_for_final_image(page))[1]
    page.locator("#prompt textarea").fill("something else")
    set_slider(page, "Steps", 5)

    page.locator("#history img").first.click()
    expect(page.locator("#prompt textarea")).to_have_value("first prompt")
    expect(page.locator("#seed input")).to_have_value(seed)
    expect(page.get_by_label("number input for Steps")).to_have_value("3")
    expect(page.locator("#status")).to_contain_text(f"Settings of seed {seed} restored")


def test_stop_cancels_the_generation_and_the_app_stays_usable(page, app_server):
    small_images(page, size=SLOW_REQUEST["width"], steps=SLOW_REQUEST["steps"])
    page.get_by_text("Advanced").click()
    set_slider(page, "Guidance scale", SLOW_REQUEST["guidance_scale"])
    page.evaluate(RECORD_RESULT_IMAGES)
    generate(page, "a slow one to stop")
    page.wait_for_function("() => window.resultImages.length >= 2")
    expect(page.locator("#status .run-status [role=progressbar]")).to_be_visible()
    expect(page.locator("#status")).to_contain_text(re.compile(r"Step \d+ of 12 · \d+\.\d s left"))
    screenshot(page, "generating")
    page.locator("#stop-button").click()

    expect(page.locator("#generate-button")).to_be_visible()
    page.wait_for_timeout(1500)
    assert not any(FINAL_IMAGE.search(source) for source in page.evaluate("window.resultImages"))
    seed = page.locator("#seed input").input_value()
    assert not list(app_server.output_dir.glob(f"*-{seed}.png")), "the stopped image was finished anyway"

    small_images(page)
    generate(page, "a quick one after stopping")
    assert FINAL_IMAGE.search(wait_for_final_image(page))


def test_a_full_queue_says_the_app_is_busy(page, app_server):
    small_images(page)
    with full_queue(app_server.url):
        generate(page, "one too many")
        toast = page.get_by_test_id("toast-body").filter(has_text="This application is currently busy")
        expect(toast).to_have_css("opacity", "1")
        screenshot(page, "busy", full_page=False)
    expect(page.locator("#generate-button")).to_be_visible()


def test_compare_four_seeds_then_send_one_to_generate_and_explore_around_it(page):
    small_images(page, steps=2)
    page.locator("#prompt textarea").fill(PROMPT)
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.locator("#compare-seeds textarea").fill("100-103")
    page.locator("#compare-button").click()

    captions = page.locator("#comparison .caption-label")
    expect(captions).to_have_text(["seed 100", "seed 101", "seed 102", "seed 103"])
    expect(page.locator("#comparison img")).to_have_count(4)
    expect(page.locator("#compare-status")).to_contain_text("4 images")
    screenshot(page, "compare-seeds")
    with page.expect_download() as download:
        page.locator("#grid-file a").first.click()
    with Image.open(download.value.path()) as grid:  # 2 x 2 cells of 256 px, with captions and a heading
        assert grid.format == "PNG" and grid.width >= 2 * 256 and grid.height > 2 * 256
    assert [request.seed for request in read_grid(download.value.path()).comparison.requests] == [100, 101, 102, 103]

    page.locator("#comparison img").nth(2).click()
    expect(page.get_by_role("tab", name="Generate", exact=True)).to_have_attribute("aria-selected", "true")
    expect(page.locator("#seed input")).to_have_value("102")
    expect(page.locator("#randomize input")).not_to_be_checked()
    expect(page.get_by_label("number input for Steps")).to_have_value("2")
    # Explore now explores around the cell on show in Generate, not around the last image generated.
    page.locator("#explore-button").click()
    expected = [f"seed 102 · variation seed {102 + offset}" for offset in range(1, 9)]
    expect(captions).to_have_text(expected, timeout=120_000)


def test_png_info_reads_back_a_generated_image_and_sends_it_to_generate(page, app_server):
    small_images(page)
    generate(page, "a red fox in fresh snow")
    seed = FINAL_IMAGE.search(wait_for_final_image(page))[1]
    (saved,) = app_server.output_dir.glob(f"*-{seed}.png")
    assert read_request(saved)[0].prompt == "a red fox in fresh snow"

    page.reload()
    page.get_by_role("tab", name="PNG info").click()
    page.locator("#png-info-image input[type=file]").set_input_files(saved)
    parameters = page.locator("#png-info-parameters textarea")
    expect(parameters).to_have_value(re.compile(rf"^a red fox in fresh snow\nSteps: 4, .*Seed: {seed}, Size: 256x256"))
    screenshot(page, "png-info")

    page.locator("#png-info-send").click()
    expect(page.locator("#prompt textarea")).to_have_value("a red fox in fresh snow")
    expect(page.locator("#seed input")).to_have_value(seed)
    expect(page.get_by_label("number input for Width")).to_have_value("256")


def test_explore_around_an_image_compares_eight_variation_seeds_at_the_chosen_strength(page):
    small_images(page, steps=2)
    expect(page.locator("#explore-button")).to_be_disabled()  # nothing to explore yet
    generate(page, "a red fox in fresh snow")
    seed = int(FINAL_IMAGE.search(wait_for_final_image(page))[1])
    set_slider(page, "Explore strength", 0.3)
    page.locator("#explore-button").click()

    expect(page.get_by_role("tab", name="Compare", exact=True)).to_have_attribute("aria-selected", "true")
    captions = page.locator("#comparison .caption-label")
    expected = [f"seed {seed} · variation seed {seed + offset}" for offset in range(1, 9)]
    expect(captions).to_have_text(expected, timeout=120_000)
    expect(page.locator("#compare-status")).to_contain_text("8 images")
    with page.expect_download() as download:
        page.locator("#grid-file a").first.click()
    cells = read_grid(download.value.path()).comparison.requests
    assert {(cell.seed, cell.variation_strength) for cell in cells} == {(seed, 0.3)}
    assert [cell.variation_seed for cell in cells] == list(range(seed + 1, seed + 9))


def test_ab_slides_between_two_history_images_with_their_settings(page):
    small_images(page, steps=1)
    seeds = []
    for prompt in ("a red fox in fresh snow", "an owl at night"):
        generate(page, prompt)
        seeds.append(FINAL_IMAGE.search(wait_for_final_image(page))[1])
        expect(page.locator("#history img")).to_have_count(len(seeds))
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.get_by_text("A/B: slide between two images").click()

    first, second = page.locator("#ab-first-settings textarea"), page.locator("#ab-second-settings textarea")
    expect(first).to_have_value(re.compile(rf"^a red fox.*Seed: {seeds[0]}", re.S))
    expect(second).to_have_value(re.compile(rf"^an owl.*Seed: {seeds[1]}", re.S))
    expect(page.locator("#ab-slider img")).to_have_count(2)
    screenshot(page, "ab")
