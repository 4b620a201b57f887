"""What the browser tests do with the page: open it, set sliders, run, wait, take screenshots, and
run the axe-core accessibility audit (installed by `npm ci --prefix tests`, see tests/run.sh)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from helpers.app_server import SLOW_REQUEST

TESTS = Path(__file__).resolve().parents[1]
SCREENSHOTS = TESTS.parent / "test-output" / "screenshots"
AXE = TESTS / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT_MS = 60_000
# Assertions wait this long for the page (the machine may be busy: the tiny model shares its CPUs).
expect.set_options(timeout=30_000)
PROMPT = "A lighthouse on a rocky coast at dusk"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
FINAL_IMAGE = re.compile(r"-(\d+)\.png$")  # how the app names saved images: <time>-<seed>.png
# Records every picture the result image shows, previews included, however fast they come.
RECORD_RESULT_IMAGES = """() => {
    window.resultImages = [];
    const record = () => {
        const image = document.querySelector('#result-image img');
        if (image && image.src && window.resultImages.at(-1) !== image.src) window.resultImages.push(image.src);
    };
    new MutationObserver(record).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def open_page(browser: Browser, url: str, viewport: dict = DESKTOP, color_scheme: str = "light") -> Page:
    """A fresh page (a new browser context: its own session and storage) with the app loaded."""
    context = browser.new_context(viewport=viewport, color_scheme=color_scheme)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    expect(page.locator("#prompt textarea")).to_be_visible()
    expect(page.locator('#aspect [role="radiogroup"]')).to_have_count(1)  # assets/page.js has run
    return page


def screenshot(page: Page, name: str, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover colours (after their transition)
    page.wait_for_timeout(300)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)


def set_slider(page: Page, label: str, value: int | float) -> None:
    """Type into a slider's number box (again if a component mounting late resets it)."""
    box = page.get_by_label(f"number input for {label}")
    for _ in range(3):
        box.fill(str(value))
        box.press("Enter")
        try:
            expect(box).to_have_value(str(value), timeout=1000)
            return
        except AssertionError:
            continue
    expect(box).to_have_value(str(value))


def small_images(page: Page, size: int = 256, steps: int = 4) -> None:
    set_slider(page, "Width", size)
    set_slider(page, "Height", size)
    set_slider(page, "Steps", steps)


def slow_settings(page: Page) -> None:
    """The settings of `SLOW_REQUEST` (1536², 12 steps, guidance 5): seconds of work, slow enough to stop."""
    small_images(page, size=SLOW_REQUEST["width"], steps=SLOW_REQUEST["steps"])
    page.get_by_text("Advanced").click()
    set_slider(page, "Guidance scale", SLOW_REQUEST["guidance_scale"])


def generate(page: Page, prompt: str = PROMPT) -> None:
    page.locator("#prompt textarea").fill(prompt)
    page.evaluate("window.shownBefore = document.querySelector('#result-image img')?.src")  # see below
    page.locator("#generate-button").click()


def wait_for_final_image(page: Page) -> str:
    """The URL of the finished image once the result shows one (not the one shown before `generate`)."""
    page.wait_for_function(
        """() => {
            const source = document.querySelector('#result-image img')?.src ?? '';
            return /-\\d+\\.png$/.test(source) && source !== window.shownBefore;
        }""",
        timeout=TIMEOUT_MS,
    )
    expect(page.locator("#generate-button")).to_be_visible()
    return page.locator("#result-image img").get_attribute("src")


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute("aria-selected", "true")


def overflow(page: Page) -> int:
    """By how many pixels the page is wider than the window (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of those impacts on the page as it is, one line each."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests` (tests/run.sh does).")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{violation['impact']} {violation['id']}: {violation['help']} at "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in violations
        if violation["impact"] in impacts
    ]


def status(page, selector: str = "#status"):
    """The run status line of the tab whose line is `selector` (Generate's by default)."""
    return page.locator(f"{selector} .run-status")
