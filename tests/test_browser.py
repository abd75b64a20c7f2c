"""End to end in headless Chromium: sign up, upload, submit an edit, wait for it, and play both videos."""

import re
from pathlib import Path

import pytest

from editor.models import Edit
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


def _administrator_logs_in(page, live_server, name: str) -> None:
    """Make the first account (an administrator, unlimited) and log in as it."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(name, password="a-long-passphrase-9")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", name)
    page.fill("#id_password", "a-long-passphrase-9")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")


def _new_project(page) -> None:
    """Upload the 5 s test clip as a new project and wait for its page."""
    page.click("text=New project")
    page.set_input_files("#id_file", str(DATA / "bigbuckbunny_720p_5s.mp4"))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/projects/\d+/$"), timeout=60_000)


def test_sign_up_upload_edit_and_compare(browser_page, live_server, private_media, monkeypatch, settings):
    page = browser_page
    settings.ALEPH_SIGNUP = "open"
    # Playwright's sync API runs an event loop in this thread; the checks below read the database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
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

        requests: list[str] = []
        finishing: list[int] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("response", lambda r: finishing.append(len(requests)) if r.status == 286 else None)
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
        page.wait_for_selector(".edit-card >> text=Re-run, new seed", timeout=10_000)
        assert page.title().startswith("(1) ")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "project-done.png"), full_page=True)
        # Finishing took one request: the poll that found the edit done brought its whole card, and
        # nothing of the edit was fetched after it (its poster image aside).
        assert len(finishing) == 1, finishing
        after = [u for u in requests[finishing[0]:] if "/edits/" in u]
        assert after == [], after
        assert not any("/card/" in u for u in requests)

        # "Copy settings" fills the form with every setting of the edit.
        page.click(".edit-card >> text=Copy settings")
        page.wait_for_selector("#edit-form")
        assert page.input_value("#id_prompt") == "make it black and white"
        assert page.input_value("#id_seed") == "42"
        assert page.is_checked("input[name=ratio][value='960:960']")

        page.click(".edit-status >> text=Compare")
        page.wait_for_selector("[data-compare]")
        assert _plays(page, 'video[data-role="a"]')
        assert _plays(page, 'video[data-role="b"]')
        sizes = page.evaluate(
            # The two players (a measured change map adds its heatmap as a third, hidden video).
            "() => [...document.querySelectorAll('[data-compare] video[data-role=a], [data-compare] video[data-role=b]')]"
            ".map(v => [v.videoWidth, v.videoHeight])"
        )
        assert sizes == [[1280, 720], [960, 960]]
        # One control drives both: play, then check both clocks moved together.
        page.click("[data-action=play]")
        page.wait_for_timeout(1200)
        times = page.evaluate(
            "() => [...document.querySelectorAll('[data-compare] video[data-role=a], [data-compare] video[data-role=b]')]"
            ".map(v => v.currentTime)"
        )
        assert times[1] > 0.3
        assert abs(times[0] - times[1]) < 0.25
        page.keyboard.press(" ")
        page.keyboard.press(".")
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        page.select_option("#compare-mode", "wipe")
        page.screenshot(path=str(ARTIFACTS / "compare-wipe.png"), full_page=True)

        # A painted mask travels with the form as a PNG file, and the removal runs on it.
        page.go_back()
        page.wait_for_selector("#edit-form")
        page.click("[data-mask-painter] summary")
        canvas = page.locator("[data-mask-view]").bounding_box()
        page.mouse.move(canvas["x"] + canvas["width"] * 0.7, canvas["y"] + canvas["height"] * 0.2)
        page.mouse.down()
        page.mouse.move(canvas["x"] + canvas["width"] * 0.8, canvas["y"] + canvas["height"] * 0.3, steps=8)
        page.mouse.up()
        page.wait_for_function("() => document.querySelector('[data-mask-input]').files.length === 1")
        page.fill("#id_prompt", "remove the painted object")
        page.click("#edit-form button[type=submit]")
        page.wait_for_function("() => document.querySelectorAll('.edit-status.status-succeeded').length === 2", timeout=180_000)
        removal = Edit.objects.latest("created_at")
        assert removal.mask.startswith("masks/") and removal.summary.startswith("remove")
        page.screenshot(path=str(ARTIFACTS / "project-removal.png"), full_page=True)

        # Share the first result and open the public page.
        first = page.locator(f"#edit-{removal.pk - 1}")
        first.locator("details.share summary").click()
        first.locator("text=Create link").click()
        message = page.inner_text(".messages")
        share_url = re.search(r"(http://\S+/s/\S+/)", message).group(1)
        page.goto(share_url)
        assert _plays(page, "video.shared-video")
        page.screenshot(path=str(ARTIFACTS / "share.png"), full_page=True)
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_an_administrator_sets_an_allowance_and_the_edit_form_shows_what_is_left(
    browser_page, live_server, private_media, monkeypatch, settings
):
    from tests.fakes import FakeProvider
    from tests.fakes.studio import RUNWAY_TEST_KEY, use_fake

    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    settings.ALEPH_SIGNUP = "invite"
    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        use_fake(settings, fake)
        _administrator_logs_in(page, live_server, "admin")

        # The staff page: the administrator gives themselves a monthly allowance and makes an invitation.
        page.click("text=Staff")
        page.wait_for_selector(".staff-members")
        row = page.locator("tr", has_text="admin")
        row.locator("input[name=unlimited]").uncheck()
        row.locator("input[name=monthly_credits]").fill("500")
        row.locator("text=Save").click()
        page.wait_for_selector("text=allowance is saved")
        page.fill("#id_note", "for the colourist")
        page.click("text=Create an invitation link")
        assert "invite=" in page.inner_text(".messages")
        page.screenshot(path=str(ARTIFACTS / "staff.png"), full_page=True)

        page.click("text=New project")
        page.set_input_files("#id_file", str(DATA / "bigbuckbunny_720p_5s.mp4"))
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/projects/\d+/$"), timeout=60_000)
        page.select_option("#id_engine", "runway")
        page.wait_for_selector("[data-allowance] >> text=500 of 500 credits left this month")
        # aleph2 is the default model: 5.28 s of the clip, 6 whole seconds at 28 credits.
        assert "Estimated cost: $1.68" in page.inner_text("#edit-estimate")
        page.screenshot(path=str(ARTIFACTS / "allowance.png"), full_page=True)


def test_aleph2_outpaints_with_keyframes_delivers_prores_and_gemini_runs_too(
    browser_page, live_server, private_media, monkeypatch, settings
):
    """A new user's aleph2 edit against the fake Runway: two keyframes in edit windows, outpainted to
    9:16, delivered as ProRes; it plays as a proxy beside the original, downloads as .mov and shows
    the estimated and charged credits. A gemini_omni_flash edit of the same clip runs too."""
    from editor.models import Reference
    from tests.fakes import FakeProvider, TaskPlan
    from tests.fakes.studio import RUNWAY_TEST_KEY, use_fake, worker_settings_env

    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        use_fake(settings, fake)
        fake.default_plan = TaskPlan(steps=(("RUNNING", 0.5),))
        worker = start_worker(private_media, worker_id="remote-browser", extra_env=worker_settings_env(fake))
        try:
            _administrator_logs_in(page, live_server, "director")
            _new_project(page)
            project_url = page.url
            for _ in range(2):
                page.set_input_files("#id_image", str(DATA / "chelsea_cat.png"))
                page.click("form[action$='/references/'] button[type=submit]")
                page.wait_for_load_state()
            first, second = Reference.objects.order_by("pk")

            page.select_option("#id_engine", "runway")
            assert page.input_value("#id_model") == "aleph2"
            # Only aleph2's controls show: its framings, output formats; no length or resolution.
            assert page.is_visible("[data-model-control=formats]") and not page.is_visible("[data-model-control=durations]")
            page.select_option("#id_framing", "outpaint")
            assert not page.is_visible("[data-ratio='1280:720']")
            page.check("input[name=ratio][value='9:16']")
            page.select_option("#id_output_format", "prores")
            page.wait_for_selector("#edit-estimate >> text=ProRes (.mov) adds 5 a second")
            assert "(198 credits)" in page.inner_text("#edit-estimate")
            page.fill("#id_prompt", "turn the sky violet at dusk")
            # The first keyframe is pinned where the source player stands ("here"), the second by position.
            page.evaluate("""() => new Promise(done => { const v = document.getElementById('source-video');
                v.addEventListener('seeked', done, { once: true }); v.currentTime = 1.0; })""")
            page.click(f"[data-keyframe-here='{first.pk}']")
            assert page.input_value(f"input[name=keyframe_at_{first.pk}]") == "1.00"
            assert page.is_checked(f"input[name=references][value='{first.pk}']")
            page.check(f"input[name=references][value='{second.pk}']")
            page.select_option(f"select[name=keyframe_pin_{second.pk}]", "at")
            page.fill(f"input[name=keyframe_at_{second.pk}]", "0.8")
            for reference, (start, end) in ((first, ("0", "2")), (second, ("3", "5"))):
                page.fill(f"input[name=keyframe_from_{reference.pk}]", start)
                page.fill(f"input[name=keyframe_to_{reference.pk}]", end)
            # Both keyframes and their windows are drawn on the trim bar.
            assert page.locator("[data-keyframe-marks] .mark").count() == 2
            assert page.locator("[data-keyframe-marks] .window").count() == 2
            page.screenshot(path=str(ARTIFACTS / "aleph2-form.png"), full_page=True)
            page.click("#edit-form button[type=submit]")
            page.wait_for_selector(".edit-status.status-succeeded", timeout=180_000)
            page.wait_for_selector(".edit-card >> text=charged 140 credits", timeout=10_000)
            card = page.inner_text(".edit-card")
            assert "outpaint 9:16" in card and "est. $1.98 (198 credits)" in card and "provider's estimate 140 credits" in card
            body = fake.creates[0].json
            assert body["targetAspectRatio"] == "9:16" and body["outputFormat"] == "prores"
            assert [k.get("range") for k in body["keyframes"]] == [
                {"start_seconds": 0, "end_seconds": 2},
                {"start_seconds": 3, "end_seconds": 5},
            ]
            page.screenshot(path=str(ARTIFACTS / "aleph2-done.png"), full_page=True)

            # The master downloads as the .mov it came as; the players show the H.264 proxy.
            download = page.locator("[data-master-download]")
            assert "ProRes 4444" in download.inner_text()
            reply = page.request.get(live_server.url + download.get_attribute("href"))
            assert reply.headers["content-type"] == "video/quicktime"
            assert re.search(r'filename="edit-\d+\.mov"', reply.headers["content-disposition"])
            assert reply.body() == fake.master_bytes("prores")
            page.click(".edit-card >> text=Compare")
            page.wait_for_selector("video")
            assert _plays(page, "video[data-role=a]") and _plays(page, "video[data-role=b]")
            page.screenshot(path=str(ARTIFACTS / "aleph2-compare.png"), full_page=True)

            # gemini_omni_flash on the same clip: a prompt only, no seed or ratio controls.
            page.goto(project_url)
            page.select_option("#id_engine", "runway")
            page.select_option("#id_model", "gemini_omni_flash")
            assert not page.is_visible("[data-model-control=seed]") and not page.is_visible("[data-ratio-picker]")
            page.wait_for_selector("#edit-estimate >> text=no published price")
            page.fill("#id_prompt", "make it a rainy night")
            page.click("#edit-form button[type=submit]")
            page.wait_for_function("document.querySelectorAll('.edit-status.status-succeeded').length == 2", timeout=180_000)
            assert fake.creates[1].json["model"] == "gemini_omni_flash"
            assert set(fake.creates[1].json) == {"model", "videoUri", "promptText"}
            assert Edit.objects.filter(model="gemini_omni_flash", charged_credits=100).exists()
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "gemini-done.png"), full_page=True)
        finally:
            worker.terminate()
            worker.wait(timeout=20)


def test_a_batch_of_seeds_and_prompts_is_counted_before_it_is_sent(browser_page, live_server, private_media, monkeypatch):
    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    _administrator_logs_in(page, live_server, "explorer")
    _new_project(page)
    page.click("text=Explore: several seeds")
    page.fill("#id_prompt", "make it black and white\nrelight this as golden hour")
    page.check("#id_prompt_per_line")
    page.fill("#id_seed_count", "4")
    page.fill("#id_seed", "10")
    page.locator("#id_seed").dispatch_event("change")
    page.wait_for_selector("[data-batch-total] >> text=8 edits")
    page.screenshot(path=str(ARTIFACTS / "batch-form.png"), full_page=True)
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector("[data-batch] >> text=8 edits")
    assert page.locator(".edit-card").count() == 8
    assert sorted(Edit.objects.values_list("seed", flat=True)) == [10, 10, 11, 11, 12, 12, 13, 13]
    page.screenshot(path=str(ARTIFACTS / "batch-queued.png"), full_page=True)


def test_a_batch_fills_its_contact_sheet_plays_together_and_opens_an_ab_compare(
    browser_page, live_server, private_media, monkeypatch
):
    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    worker = start_worker(private_media, worker_id="sheet")
    try:
        _administrator_logs_in(page, live_server, "explorer")
        _new_project(page)
        page.click("text=Explore: several seeds")
        page.fill("#id_prompt", "make it black and white\nrelight this as golden hour")
        page.check("#id_prompt_per_line")
        page.fill("#id_seed_count", "4")
        page.fill("#id_seed", "10")
        page.check("input[name=ratio][value='848:480']")
        page.click("#edit-form button[type=submit]")
        page.click("[data-batch] a")
        page.wait_for_selector("[data-sheet]")
        page.screenshot(path=str(ARTIFACTS / "sheet-filling.png"), full_page=True)
        page.wait_for_function(
            "document.querySelectorAll('[data-cell][data-status=succeeded]').length == 8", timeout=300_000
        )
        page.wait_for_timeout(500)
        labels = page.locator(".cell-label").all_inner_texts()
        assert "seed 10 · “make it black and white”" in labels and "seed 13 · “relight this as golden hour”" in labels

        # One transport plays every cell together.
        page.click("[data-sheet] [data-action=play]")
        page.wait_for_timeout(1500)
        times = page.evaluate("Array.from(document.querySelectorAll('[data-sheet] video')).map(v => v.currentTime)")
        assert len(times) == 9 and min(times) > 0.3 and max(times) - min(times) < 0.3, times
        page.click("[data-sheet] [data-action=play]")
        page.screenshot(path=str(ARTIFACTS / "sheet.png"), full_page=True)

        # Keys: arrows move between cells, S stars, 1 and 2 pick an A/B compare.
        page.locator("[data-cell][data-number='0']").focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("s")
        page.wait_for_function("document.querySelector('[data-cell][data-number=\"1\"] [data-star]').textContent.trim() == '★'")
        assert Edit.objects.filter(starred=True).count() == 1
        page.keyboard.press("1")
        page.keyboard.press("2")
        page.wait_for_url(re.compile(r".*/compare/\?against=\d+$"))
        assert _plays(page, "video[data-role=a]") and _plays(page, "video[data-role=b]")
        page.screenshot(path=str(ARTIFACTS / "sheet-ab.png"), full_page=True)

        # On a phone the cells stack.
        page.set_viewport_size({"width": 390, "height": 844})
        page.go_back()
        page.wait_for_selector("[data-sheet]")
        boxes = [page.locator("[data-cell]").nth(i).bounding_box() for i in range(2)]
        assert boxes[1]["y"] > boxes[0]["y"] + boxes[0]["height"] - 1
        page.screenshot(path=str(ARTIFACTS / "sheet-phone.png"), full_page=True)

        # The change map: the compare view waits for it, then H lays the heatmap over the result.
        page.set_viewport_size({"width": 1400, "height": 1000})
        first = Edit.objects.order_by("pk").first()
        page.goto(live_server.url + f"/edits/{first.pk}/compare/")
        page.wait_for_selector("[data-change][data-changed]", timeout=180_000)
        page.reload()
        page.wait_for_selector("video[data-role=heat]", state="attached")
        page.keyboard.press("h")
        assert page.is_visible("video[data-role=heat]") and _plays(page, "video[data-role=heat]")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "heatmap.png"), full_page=True)
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_a_comment_pinned_to_a_frame_brings_the_player_back_to_it(browser_page, live_server, private_media, monkeypatch):
    from editor.models import Comment, Project
    from tests.conftest import make_finished_edit

    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    _administrator_logs_in(page, live_server, "reviewer")
    _new_project(page)
    edit = make_finished_edit(Project.objects.get())
    page.goto(live_server.url + f"/edits/{edit.pk}/compare/")
    assert _plays(page, "video[data-role=b]")
    page.evaluate("""() => new Promise(done => { const v = document.querySelector('video[data-role=b]');
        v.addEventListener('seeked', done, { once: true });
        document.querySelector('[data-compare]').dispatchEvent(new CustomEvent('studio:seek', { detail: 2.0 })); })""")
    page.wait_for_selector("[data-comment-at] >> text=00:02.00")
    page.fill("#comment-body", "The sky flickers here")
    page.click("[data-comment-form] button[type=submit]")
    page.wait_for_selector("[data-comment] >> text=The sky flickers here")
    comment = Comment.objects.get()
    assert comment.seconds == 2.0 and comment.frame == 50
    # Elsewhere on the timeline, then back to the comment's frame by its timecode.
    page.evaluate("document.querySelector('[data-compare]').dispatchEvent(new CustomEvent('studio:seek', { detail: 0.5 }))")
    page.click("[data-comment] .timecode-link")
    page.wait_for_function("Math.abs(document.querySelector('video[data-role=b]').currentTime - 2.0) < 0.05")
    page.select_option("#review-state", "changes_requested")
    page.wait_for_selector("[data-review-by] >> text=by reviewer")
    page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)


def test_a_guest_behind_a_password_comments_and_approves_and_the_owner_lands_on_the_frame(
    browser_page, live_server, private_media, monkeypatch
):
    from editor.models import Project
    from editor.services import sharing
    from tests.conftest import make_finished_edit

    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    _administrator_logs_in(page, live_server, "director")
    _new_project(page)
    edit = make_finished_edit(Project.objects.get())
    _, token = sharing.create_share_link(
        edit, expiry="7d", show_original=False, password="client-review", allow_comments=True, allow_approval=True
    )
    guest = page.context.browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    guest.goto(live_server.url + f"/s/{token}/")
    guest.fill("#share-password", "client-review")
    guest.click("button[type=submit]")
    guest.wait_for_selector("video.shared-video")
    assert _plays(guest, "video.shared-video")
    guest.evaluate("""() => new Promise(done => { const v = document.querySelector('video.shared-video');
        v.addEventListener('seeked', done, { once: true }); v.currentTime = 2.0; })""")
    guest.wait_for_selector("[data-comment-at] >> text=00:02.00")
    guest.fill("#guest-name", "Dana from the agency")
    guest.fill("#guest-body", "Can the logo be smaller here?")
    # A box drawn on the paused frame.
    guest.click("[data-draw-toggle]")
    guest.click("[data-tool=box]")
    guest.locator("video.shared-video").scroll_into_view_if_needed()
    box = guest.locator("[data-draw-layer]").bounding_box()
    guest.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
    guest.mouse.down()
    guest.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.6 * box["height"], steps=5)
    guest.mouse.up()
    guest.wait_for_function("document.querySelector('[data-draw-layer]').dataset.shapes === '1'")
    guest.click("[data-comment-form] button[type=submit]")
    guest.wait_for_selector("[data-comment] >> text=Can the logo be smaller here?")
    from editor.models import Comment

    [shape] = Comment.objects.get().drawing
    assert shape["tool"] == "box" and abs(shape["points"][0][0] - 0.2) < 0.03 and abs(shape["points"][1][1] - 0.6) < 0.03
    guest.select_option("#guest-review-state", "approved")
    guest.click("[data-guest-review] button[type=submit]")
    guest.wait_for_selector("[data-review] >> text=Approved")
    guest.screenshot(path=str(ARTIFACTS / "guest-review.png"), full_page=True)

    # The owner: the unread count, the list, then the comment's own frame.
    page.goto(live_server.url + "/")
    assert page.inner_text("[data-notifications] .unread") == "2"
    page.click("[data-notifications]")
    page.click("text=Dana from the agency (guest) commented")
    page.wait_for_selector("[data-comment] >> text=Can the logo be smaller here?")
    page.click("[data-comment] .timecode-link")
    page.wait_for_function("Math.abs(document.querySelector('video[data-role=b]').currentTime - 2.0) < 0.05")
    assert "Approved" in page.inner_text("#review-state")
    # On that frame the guest's box is drawn over the result: its left edge is painted, its middle not.
    page.wait_for_timeout(300)
    painted = page.evaluate("""() => { const c = document.querySelector('[data-draw-layer]'); const g = c.getContext('2d');
        const at = (x, y) => g.getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data[3];
        return [at(0.2, 0.4), at(0.4, 0.4)]; }""")
    assert painted[0] > 0 and painted[1] == 0, painted
    page.screenshot(path=str(ARTIFACTS / "owner-review.png"), full_page=True)


def test_a_watermarked_review_playlist_is_stepped_through_compared_and_a_guest_hears_of_a_reply(
    browser_page, live_server, private_media, monkeypatch, settings, tmp_path
):
    from django.core import mail

    from editor.models import Project, ShareLink
    from tests.conftest import make_finished_edit

    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    worker = start_worker(private_media, worker_id="shares")
    try:
        _administrator_logs_in(page, live_server, "producer")
        _new_project(page)
        project = Project.objects.get()
        first = make_finished_edit(project, prompt="warm grade")
        second = make_finished_edit(project, prompt="cool grade", seed=2)
        page.reload()
        # The owner ticks both versions, sets a watermark and allows comments.
        page.click("#review-playlist summary")
        page.check(f"[data-playlist-form] input[name=versions][value='{first.pk}']")
        page.check(f"[data-playlist-form] input[name=versions][value='{second.pk}']")
        page.check("[data-playlist-form] input[name=allow_comments]")
        page.fill(f"#playlist-{project.pk}-watermark", "DRAFT · for Acme")
        page.select_option("[data-playlist-form] select[name=watermark_position]", "top-left")
        page.fill(f"#playlist-{project.pk}-opacity", "80")
        page.locator("#review-playlist").screenshot(path=str(ARTIFACTS / "playlist-form.png"))
        page.click("[data-playlist-form] button[type=submit]")
        message = page.inner_text(".messages")
        url = re.search(r"https?://\S+/s/[A-Za-z0-9_-]+/", message).group(0)
        assert "2 versions" in message
        link = ShareLink.objects.get()
        assert (link.watermark_text, link.watermark_position, link.watermark_opacity) == ("DRAFT · for Acme", "top-left", 80)

        guest = page.context.browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        guest.goto(url)
        # The worker burns the watermark; the page reloads itself until the copy is there.
        guest.wait_for_selector("video.shared-video", timeout=60_000)
        assert _plays(guest, "video.shared-video")
        assert "Version 1 of 2" in guest.inner_text("[data-share-playlist]")
        # What the guest's player is given carries the watermark in its top-left corner; the result does not.
        src = guest.evaluate("document.querySelector('video.shared-video').currentSrc")
        served = tmp_path / "served.mp4"
        served.write_bytes(guest.context.request.get(src).body())
        from editor.storage import local_copy
        from tests.media_factory import frame_at

        with local_copy(first.result.file) as clean:
            change = abs(frame_at(served, 10).astype(int) - frame_at(clean, 10).astype(int))
        assert change[:90, :420].mean() > 10 and change[360:].mean() < 3, (change[:90, :420].mean(), change[360:].mean())
        guest.screenshot(path=str(ARTIFACTS / "playlist-version-1.png"), full_page=True)
        # ] steps to the next version.
        guest.keyboard.press("]")
        guest.wait_for_selector("text=Version 2 of 2")
        guest.wait_for_selector("video.shared-video")
        assert "cool grade" in guest.inner_text("h1")
        guest.fill("#guest-name", "Ola")
        guest.fill("#guest-email", "ola@example.com")
        guest.fill("#guest-body", "Prefer this one, but less blue")
        guest.click("[data-comment-form] button[type=submit]")
        guest.wait_for_selector("[data-comment] >> text=Prefer this one")
        # Any two in the A/B compare.
        guest.select_option("#compare-a", "1")
        guest.select_option("#compare-b", "2")
        guest.click("[data-playlist-compare] button[type=submit]")
        guest.wait_for_selector("[data-compare]")
        assert _plays(guest, "video[data-role=a]") and _plays(guest, "video[data-role=b]")
        guest.screenshot(path=str(ARTIFACTS / "playlist-compare.png"), full_page=True)

        # The owner answers in the studio; the guest is emailed the reply.
        mail.outbox.clear()
        page.goto(live_server.url + f"/edits/{second.pk}/compare/")
        page.click("[data-comment] .reply-form summary")
        page.fill("[data-comment] .reply-form textarea[name=body]", "Less blue coming up")
        page.click("[data-comment] .reply-form button[type=submit]")
        page.wait_for_selector("text=Less blue coming up")
        assert [m.to for m in mail.outbox] == [["ola@example.com"]]
        assert "Less blue coming up" in mail.outbox[0].body
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_a_background_is_replaced_with_a_reference_after_a_preview_on_the_paused_frame(
    browser_page, live_server, private_media, monkeypatch, tmp_path
):
    """The studio's people edit end to end: a clip of a person, a reference image for the new
    background, a preview on a paused frame, then the edit itself; both are checked against the
    reference, and the screenshots are kept."""
    import numpy as np
    from PIL import Image

    from editor.engines.local import people
    from editor.storage import local_copy
    from tests.media_factory import make_person_clip, read_frames

    page = browser_page
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    clip = make_person_clip(tmp_path / "interview.mp4", frames=50, size=(640, 360), step=3)
    reference = DATA / "chelsea_cat.png"
    expected = people.fill(np.asarray(Image.open(reference).convert("RGB")), 1280, 720).astype(float)
    corner = expected[:60, :60].mean(axis=(0, 1))
    worker = start_worker(private_media, worker_id="browser-people")
    try:
        _administrator_logs_in(page, live_server, "compositor")
        page.click("text=New project")
        page.set_input_files("#id_file", str(clip))
        page.click("#upload-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/projects/\d+/$"), timeout=60_000)
        page.set_input_files("#id_image", str(reference))
        page.click("button:text-is('Attach')")
        page.wait_for_selector(".reference-pick input[name=references]")
        page.check(".reference-pick input[name=references]")
        page.fill("#id_prompt", "replace the background with the reference")
        page.check("input[name=ratio][value='1280:720']")

        # Pause the source at 1 s and ask for the preview with the editors' key.
        page.evaluate(
            """() => new Promise(done => { const v = document.getElementById('source-video');
                 v.addEventListener('seeked', done, { once: true }); v.pause(); v.currentTime = 1.0; })"""
        )
        page.click("h2#references")
        page.keyboard.press("p")
        page.wait_for_selector("[data-preview][data-state=done]", timeout=30_000)
        status = page.inner_text("[data-preview-status]")
        assert status.startswith("At 1.00 s") and "People:" in status
        shown = page.evaluate(
            """() => { const img = document.querySelector('[data-preview-image]');
                 const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
                 const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                 const d = g.getImageData(0, 0, 60, 60).data; const m = [0, 0, 0];
                 for (let i = 0; i < d.length; i += 4) { m[0] += d[i]; m[1] += d[i + 1]; m[2] += d[i + 2]; }
                 return { size: [img.naturalWidth, img.naturalHeight], corner: m.map(v => v / (d.length / 4)) }; }"""
        )
        assert shown["size"] == [1280, 720]
        # The preview's corner is the reference's, not the clip's gradient.
        assert np.abs(np.array(shown["corner"]) - corner).max() < 12
        page.locator("[data-preview]").screenshot(path=str(ARTIFACTS / "people-preview.png"))

        page.click("#edit-form button[type=submit]")
        page.wait_for_selector(".edit-status.status-succeeded", timeout=180_000)
        edit = Edit.objects.latest("created_at")
        assert "background replaced by the reference" in edit.summary
        assert "People: 1 person, in 100% of frames." in edit.notes
        page.screenshot(path=str(ARTIFACTS / "people-result.png"), full_page=True)
        with local_copy(edit.result.file) as path:
            frame = list(read_frames(path))[25]
        Image.fromarray(frame).save(ARTIFACTS / "people-result-frame.png")
        assert np.abs(frame[:60, :60].astype(float).mean(axis=(0, 1)) - corner).max() < 12
        # The result plays beside the original, with the wipe.
        page.click(f"#edit-{edit.pk} .edit-status >> text=Compare")
        page.wait_for_selector("[data-compare]")
        assert _plays(page, 'video[data-role="a"]') and _plays(page, 'video[data-role="b"]')
        page.select_option("#compare-mode", "wipe")
        page.evaluate("() => document.querySelectorAll('[data-compare] video').forEach(v => { v.currentTime = 1.0; })")
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "people-compare-wipe.png"), full_page=True)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
