"""What a new user tripped over in the browser (issue 15): exploring changing Generate's settings,
presets not fixing a size out of bounds, captions of cells a Stop left, repeated seeds, a refused
Generate's error shown twice, the wait in line, Stop out of reach on a phone, small tap targets, the
Explore button's look, the variation strength's width and History's gap and label."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from helpers.pages import (
    DESKTOP,
    PHONE,
    generate,
    open_page,
    open_tab,
    set_slider,
    slow_settings,
    small_images,
    status,
    wait_for_final_image,
)

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


# Records the text of every toast that appears from now on, however briefly.
RECORD_TOASTS = """() => {
    window.toasts = [];
    new MutationObserver(() => {
        for (const toast of document.querySelectorAll('[data-testid="toast-body"]:not([data-recorded])')) {
            toast.dataset.recorded = "true";
            window.toasts.push(toast.innerText);
        }
    }).observe(document.body, {subtree: true, childList: true});
}"""


def test_a_refused_generate_says_its_error_once_in_the_status_line(page):
    page.evaluate(RECORD_TOASTS)
    generate(page, "   ")
    expect(status(page)).to_have_text("Prompt is empty: describe the image you want.")
    expect(status(page)).to_have_attribute("data-state", "failed")
    # Stop goes once the page has handled the run's error: a toast would have come with it.
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#generate-button")).to_be_visible()
    assert page.evaluate("window.toasts") == []


def test_a_seed_listed_twice_is_named_in_the_status_line(page):
    small_images(page, steps=1)
    page.locator("#prompt textarea").fill("a red fox in fresh snow")
    open_tab(page, "Compare")
    page.locator("#compare-seeds textarea").fill("1, 2, 2")
    page.locator("#compare-button").click()
    expect(status(page, "#compare-status")).to_contain_text(
        "2 images. Seed 2 was listed more than once: made once.", timeout=120_000
    )


# Every control of the settings column a finger or pointer aims at: radios and checkboxes by their label.
TAP_TARGETS = """() => [...document.querySelectorAll(
        '#settings :is(button, input:not([type=radio]):not([type=checkbox]), textarea, select, label:has(> input))')]
    .filter((element) => element.getClientRects().length > 0)
    .map((element) => {
        const box = element.getBoundingClientRect();
        const name = element.getAttribute("aria-label") || element.id || element.textContent.trim().slice(0, 30);
        return {name, width: box.width, height: box.height};
    })"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_tap_target_in_the_settings_is_at_least_24_px(browser, app_server, viewport):
    page = open_page(browser, app_server.url, viewport)
    page.get_by_text("Advanced").click()
    expect(page.locator("#variation-strength")).to_be_visible()
    targets = page.evaluate(TAP_TARGETS)
    assert len(targets) > 30  # the sliders' boxes and ↺ buttons, the presets, the seed's buttons...
    small = [target for target in targets if target["width"] < 24 or target["height"] < 24]
    assert small == []


def luminance(rgb: str) -> float:
    """WCAG's relative luminance of a CSS `rgb(r, g, b)` colour."""
    channels = [int(part) / 255 for part in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# The colour behind an element: its nearest ancestor's background that is not transparent.
BEHIND = """(element) => {
    for (let parent = element.parentElement; parent; parent = parent.parentElement) {
        const colour = getComputedStyle(parent).backgroundColor;
        if (!colour.endsWith(", 0)") && colour !== "transparent") return colour;
    }
    return "rgb(255, 255, 255)";
}"""


def test_the_enabled_explore_button_looks_like_a_button_in_light_mode(page):
    small_images(page, steps=1)
    generate(page)
    wait_for_final_image(page)
    button = page.locator("#explore-button")
    expect(button).to_be_enabled()
    # Enabling fades its border in: read the colour the fade ends at, not one on the way (under load
    # the read came mid-fade and failed on the old and the new code alike).
    button.evaluate("(element) => Promise.all(element.getAnimations().map((animation) => animation.finished))")
    style = button.evaluate("(element) => getComputedStyle(element)")
    page_colour = button.evaluate(BEHIND)
    # An outline that shows against the page (WCAG 1.4.11 asks 3:1 of a control's boundary).
    assert float(style["borderTopWidth"].removesuffix("px")) >= 1
    assert contrast(style["borderTopColor"], page_colour) >= 3


def test_the_variation_strength_has_room_for_its_label_and_note(page):
    page.get_by_text("Advanced").click()
    label = page.locator("#variation-strength .head label")
    expect(label).to_be_visible()
    # Beside the variation seed at equal widths its label and note had a 91 px column (65 px elsewhere).
    assert label.bounding_box()["width"] >= 140


def test_history_is_as_tall_as_its_thumbnails_and_its_label_covers_none(page):
    history = page.locator("#history")
    expect(history).to_be_visible()
    assert history.bounding_box()["height"] <= 120  # empty: 450 px of nothing above Explore
    small_images(page, steps=1)
    generate(page)
    wait_for_final_image(page)
    thumbnail = page.locator("#history .thumbnail-item").first
    expect(thumbnail).to_be_visible()
    label, first, block = (
        locator.bounding_box() for locator in (history.locator('[data-testid="block-label"]'), thumbnail, history)
    )
    assert label["y"] + label["height"] <= first["y"]  # the label ended 2 px below the thumbnail's top
    assert block["y"] + block["height"] - (first["y"] + first["height"]) <= 24  # 300 px were left empty below


RUNS = {  # per tab: the button that starts its run, its Stop, its status line
    "Generate": ("#generate-button", "#stop-button", "#status"),
    "Compare": ("#compare-button", "#compare-stop-button", "#compare-status"),
}
IN_VIEW = """(selector) => { const box = document.querySelector(selector).getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight; }"""


@pytest.mark.parametrize("tab", RUNS)
def test_on_a_phone_stop_is_in_reach_while_a_run_goes(browser, app_server, tab):
    start, stop, line = RUNS[tab]
    page = open_page(browser, app_server.url, PHONE)
    slow_settings(page)
    page.locator("#prompt textarea").fill("a slow one to stop on a phone")
    if tab == "Compare":
        open_tab(page, "Compare")
        page.locator("#compare-seeds textarea").fill("1")
    page.locator(start).click()
    expect(status(page, line)).to_contain_text(re.compile(r"Step \d+ of 12"))
    page.wait_for_function(IN_VIEW, arg=line)  # the page has scrolled down to the status line
    box = page.locator(stop).bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box  # it was 1,060 px above
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 24, box
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('button')?.id", middle) == stop[1:]
    page.mouse.click(*middle)  # a tap where it is, without scrolling
    expect(status(page, line)).to_contain_text("Stopped")
    expect(page.locator(stop)).to_be_hidden()
    page.context.close()


def test_the_wait_in_line_is_the_running_runs_own_time_left(browser, app_server):
    first, second = open_page(browser, app_server.url), open_page(browser, app_server.url)
    small_images(second, steps=1)
    generate(second, "a quick one first")  # Gradio's estimate, the average past run, is now this quick run's
    wait_for_final_image(second)
    slow_settings(first)  # 1536², 12 steps, guidance 5
    generate(first, "a long run ahead")
    running = re.compile(r"^Step \d+ of 12 · ([\d.]+) s left$")
    expect(status(first)).to_have_text(running)
    generate(second, "waiting behind it")
    waiting = re.compile(r"^In line: 1st · starts in about (\d+) s$")
    expect(status(second)).to_have_text(waiting)
    shown = int(waiting.match(status(second).inner_text())[1])
    left = float(running.match(status(first).inner_text())[1])
    # The first run's own estimate, a second or a step apart (Gradio's said "about 1 s", then nothing).
    assert abs(shown - left) <= max(3, 0.3 * left), (shown, left)
    # It counts down with the run, and stays said.
    second.wait_for_function(
        """(shown) => { const match = document.querySelector('#status .run-status').textContent
            .match(/^In line: 1st · starts in about (\\d+) s$/); return match && Number(match[1]) < shown; }""",
        arg=shown,
    )
    first.locator("#stop-button").click()
    expect(status(second)).to_contain_text(re.compile(r"Done in \d+\.\d s"))
    first.context.close()
    second.context.close()


def test_values_typed_for_an_axis_survive_its_dropdown_firing_again_on_a_slow_server(page):
    """The axis dropdown fires again (chosen again, or as it loses focus) after values were typed,
    while the server holds its answers, as a busy one does: the typed values stay (the server's
    answer used to put the example back, and a comparison of 8 ran instead of 4). Another example,
    or an empty box, still gives way to the chosen axis's example."""
    values = page.locator("#compare-values textarea")
    open_tab(page, "Compare")

    def choose(axis: str) -> None:
        page.locator("#compare-axis input").click()
        page.get_by_role("option", name=axis, exact=True).click()

    choose("Steps")
    expect(values).to_have_value("1, 2, 4, 8")
    values.fill("1, 2")
    held = []
    page.route("**/gradio_api/run/**", lambda route: held.append(route))  # the page-only answers, held
    choose("Steps")
    expect(values).to_have_value("1, 2")
    assert held, "no answer was held"
    for route in held:
        route.continue_()
    page.unroute("**/gradio_api/run/**")
    page.wait_for_timeout(1000)  # the held answers arrive
    expect(values).to_have_value("1, 2")
    values.fill("")
    choose("Guidance scale")
    expect(values).to_have_value("0, 1.5, 3")
