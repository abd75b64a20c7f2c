"""End to end in headless Chromium: sign up, upload, submit an edit, wait for it, and play both videos."""

import re
from pathlib import Path

import pytest

from tests.conftest import DATA, start_worker

ARTIFACTS = Path(__file__).parent / ".artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_page(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        browser.close()


def _plays(page, selector: str) -> bool:
    """Tell whether a video element decodes and its clock advances."""
    return page.evaluate(
        """async (sel) => {
            const v = document.querySelector(sel);
            for (let i = 0; i < 100 && v.readyState < 2; i++) await new Promise(r => setTimeout(r, 100));
            if (v.readyState < 2 || !v.videoWidth) return false;
            return true;
        }""",
        selector,
    )


def test_sign_up_upload_edit_and_compare(browser_page, live_server, private_media):
    page = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    worker = start_worker(private_media, worker_id="browser")
    try:
        page.goto(live_server.url + "/accounts/signup/")
        page.fill("#id_username", "editor")
        page.fill("#id_password1", "a-long-passphrase-9")
        page.fill("#id_password2", "a-long-passphrase-9")
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")

        page.click("text=New project")
        page.set_input_files("#id_file", str(DATA / "bigbuckbunny_720p_5s.mp4"))
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/projects/\d+/$"), timeout=60_000)
        assert _plays(page, "#source-video")

        page.fill("#id_prompt", "make it black and white")
        assert page.inner_text("[data-counter-for]") == str(len("make it black and white"))
        page.check("input[name=ratio][value='960:960']")
        page.fill("#id_seed", "42")
        page.click("#edit-form button[type=submit]")
        page.wait_for_selector(".edit-card .badge", timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "project-running.png"), full_page=True)
        # htmx polls the card until the edit is done; no page reload needed.
        page.wait_for_selector(".edit-status.status-succeeded", timeout=180_000)
        assert "seed 42" in page.inner_text(".edit-card")
        # The open tab counts the finished edit in its title, and the card brings in its actions.
        assert page.title().startswith("(1) ")
        page.wait_for_selector(".edit-card >> text=Re-run, new seed", timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "project-done.png"), full_page=True)

        page.click(".edit-status >> text=Compare")
        page.wait_for_selector("[data-compare]")
        assert _plays(page, 'video[data-role="a"]')
        assert _plays(page, 'video[data-role="b"]')
        sizes = page.evaluate(
            "() => [...document.querySelectorAll('[data-compare] video')].map(v => [v.videoWidth, v.videoHeight])"
        )
        assert sizes == [[1280, 720], [960, 960]]
        # One control drives both: play, then check both clocks moved together.
        page.click("[data-action=play]")
        page.wait_for_timeout(1200)
        times = page.evaluate("() => [...document.querySelectorAll('[data-compare] video')].map(v => v.currentTime)")
        assert times[1] > 0.3
        assert abs(times[0] - times[1]) < 0.25
        page.keyboard.press(" ")
        page.keyboard.press(".")
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        page.select_option("#compare-mode", "wipe")
        page.screenshot(path=str(ARTIFACTS / "compare-wipe.png"), full_page=True)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
