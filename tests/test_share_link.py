"""Share a setup (issue 15): a link's settings fill the page without running anything, Copy link
builds the link of the values shown now, and a value out of range gets a note naming it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from helpers.pages import open_page, open_tab, screenshot, set_slider

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SETUP = (
    "?prompt=a+cat+in+a+hat&negative=blurry&seed=7&width=1216&height=832&steps=6&guidance=1.5"
    "&variation_seed=3&variation_strength=0.2&seeds=1-2&axis=steps&values=2,4"
)


def number(page: Page, label: str):
    return page.get_by_label(f"number input for {label}")


def assert_nothing_ran(page: Page) -> None:
    page.wait_for_timeout(1500)  # time enough for a run to have started, had the link started one
    expect(page.locator("#status .run-status")).to_contain_text("Ready")
    expect(page.locator("#result-image img")).to_have_count(0)
    expect(page.locator("#generate-button")).to_be_visible()


def test_a_link_fills_the_page_and_starts_nothing(browser, app_server):
    page = open_page(browser, app_server.url + SETUP)
    expect(page.locator("#share-note")).to_contain_text("Filled from the link")
    expect(page.locator("#prompt textarea")).to_have_value("a cat in a hat")
    expect(page.locator("#seed input")).to_have_value("7")
    expect(page.locator("#randomize input")).not_to_be_checked()
    page.get_by_text("Advanced").click()
    for label, value in [("Width", "1216"), ("Height", "832"), ("Steps", "6"), ("Guidance scale", "1.5"),
                         ("Variation strength", "0.2")]:
        expect(number(page, label)).to_have_value(value)
    expect(page.locator("#negative-prompt textarea")).to_have_value("blurry")
    expect(page.locator("#variation-seed input")).to_have_value("3")
    expect(page.locator("#aspect input[value='3:2']")).to_be_checked()
    assert_nothing_ran(page)
    open_tab(page, "Compare")
    expect(page.locator("#compare-seeds textarea")).to_have_value("1-2")
    expect(page.locator("#compare-axis input")).to_have_value("Steps")
    expect(page.locator("#compare-values textarea")).to_have_value("2,4")
    expect(page.locator("#compare-values textarea")).to_be_editable()
    expect(page.locator("#compare-status .run-status")).to_contain_text("Choose the seeds")
    page.context.close()


def test_a_value_out_of_range_is_named_and_the_rest_filled(browser, app_server):
    page = open_page(browser, app_server.url + "?prompt=owl&steps=50&seed=9&width=1000&axis=sideways")
    note = page.locator("#share-note")
    expect(note).to_contain_text("steps=50 was not used: Steps must be between 1 and 12, got 50.")
    expect(note).to_contain_text("width=1000 was not used: Width must be a multiple of 16 from 256 to 1536")
    expect(note).to_contain_text("axis=sideways was not used: choose one of none, steps")
    expect(page.locator("#prompt textarea")).to_have_value("owl")
    expect(page.locator("#seed input")).to_have_value("9")
    expect(number(page, "Steps")).to_have_value("4")
    expect(number(page, "Width")).to_have_value("1024")
    assert_nothing_ran(page)
    page.context.close()


def test_copy_link_carries_the_values_shown_now_and_restores_them(browser, app_server):
    page = open_page(browser, app_server.url + "?prompt=first&steps=2")
    expect(page.locator("#prompt textarea")).to_have_value("first")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("#prompt textarea").fill("a fox & a hound")
    set_slider(page, "Steps", 8)
    page.locator("#randomize input").uncheck()
    page.locator("#seed input").fill("42")
    page.locator("#seed input").press("Enter")
    open_tab(page, "Compare")
    page.locator("#compare-seeds textarea").fill("5, 6")
    page.locator("#copy-link").click()
    box = page.locator("#share-link textarea")
    expect(box).not_to_have_value("")
    link = box.input_value()
    assert page.evaluate("navigator.clipboard.readText()") == link
    query = parse_qs(urlsplit(link).query)
    assert query["prompt"] == ["a fox & a hound"] and query["steps"] == ["8"] and query["seed"] == ["42"]
    assert query["seeds"] == ["5, 6"] and "axis" not in query and "variation_seed" not in query
    screenshot(page, "share-link-copied")
    page.context.close()

    restored = open_page(browser, link)
    expect(restored.locator("#prompt textarea")).to_have_value("a fox & a hound")
    expect(number(restored, "Steps")).to_have_value("8")
    expect(restored.locator("#seed input")).to_have_value("42")
    assert_nothing_ran(restored)
    restored.context.close()


def test_copy_link_is_in_the_settings_column(page):
    expect(page.locator("#settings #share-row #copy-link")).to_be_visible()
    expect(page.locator("#settings #share-note")).to_have_count(1)


# Records every text the share note shows while the page opens (innerText: what is rendered).
RECORD_NOTE = """() => {
    window.noteTexts = [];
    new MutationObserver(() => {
        const text = document.querySelector("#share-note")?.innerText.trim();
        if (text && window.noteTexts.at(-1) !== text) window.noteTexts.push(text);
    }).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def test_the_share_note_shows_no_timer_while_the_page_opens(browser, app_server):
    context = browser.new_context()
    context.add_init_script(f"({RECORD_NOTE})()")
    page = context.new_page()
    page.goto(app_server.url + "?steps=2")
    expect(page.locator("#share-note")).to_contain_text("Filled from the link: steps.")
    texts = page.evaluate("window.noteTexts")
    context.close()
    assert [text for text in texts if re.search(r"\d\.\ds", text)] == []  # Gradio's "0.1s" of the load
    assert texts[-1] == "Filled from the link: steps. Press Generate or Compare to run it."
