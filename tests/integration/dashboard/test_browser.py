"""A person using the dashboard in Debian's Chromium (Playwright drives /usr/bin/chromium; Playwright's own
browser download is never used): sign in, submit, watch, play, find, cancel; hostile titles stay text."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from .conftest import StackDashboard
from .harness import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.services, pytest.mark.ffmpeg, pytest.mark.browser]

HOSTILE = [
    'She said "it\'s fine" & left',
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">',
    "%{pts} %{localtime} {{ 7*7 }} ${HOME}",
    "مرحبا بالعالم \u202eevil\u202c end",
    "🎬 Fin 👋🏽",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, stack: StackDashboard) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.dashboard.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    problems: list[str] = []
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert problems == [], problems  # no script ran that we did not write, and the CSP never had to block one


def sign_in(page: Page, token: str) -> None:
    page.goto("/")
    assert page.url.endswith("/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def submit_title(page: Page, text: str, preset: str) -> str:
    page.goto("/")
    page.check("input[name=source_kind][value=title]")
    page.fill("#text", text)
    page.select_option("#preset", preset)
    page.click("form.submit button[type=submit]")
    page.wait_for_load_state()
    errors = page.locator("[data-testid=submit-error]")
    assert errors.count() == 0, errors.inner_text()
    page.wait_for_url("**/jobs/vj-*")
    return page.url.rsplit("/", 1)[-1]


# long: the acceptance walk-through, in the order a person does it
def test_sign_in_submit_watch_play_find_and_cancel(page: Page, stack: StackDashboard, stalling_server: str) -> None:
    shots = Path(stack.dashboard.log).parent / "screenshots"
    shots.mkdir(exist_ok=True)
    page.goto("/login")
    page.screenshot(path=shots / "login.png")
    sign_in(page, stack.token)

    title = " | ".join(HOSTILE)
    job_id = submit_title(page, title, "steady")
    assert page.inner_text("[data-testid=job-title]") == title
    seen: list[float] = []
    deadline = time.monotonic() + 240
    while page.locator("video").count() == 0:
        assert time.monotonic() < deadline, f"the job did not finish; progress seen: {seen}"
        try:
            value = float(page.eval_on_selector(".progress progress", "e => e.value"))
        except PlaywrightError:  # the page reloads itself when the job ends
            continue
        seen.append(value)
        if 0 < value < 100 and not (shots / "job-running.png").exists():
            page.screenshot(path=shots / "job-running.png")
        page.wait_for_timeout(250)
    moving = [v for v in seen if 0 < v < 100]
    assert moving, f"the progress bar never showed a value between 0 and 100: {seen}"
    assert seen == sorted(seen) or seen.index(moving[0]) < len(seen)
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); return v.readyState >= 2 && v.duration > 0 }"
    )
    duration = page.eval_on_selector("video", "v => v.duration")
    assert 59 <= duration <= 61
    assert page.eval_on_selector("img.sprite", "i => i.complete && i.naturalWidth > 0")
    downloads = page.locator(".downloads a").all_inner_texts()
    assert "video.mp4" in downloads
    page.screenshot(path=shots / "job-done.png", full_page=True)

    # The other hostile titles, each its own job, then all of them in history exactly as typed.
    with httpx.Client(base_url=stack.dashboard.url, headers={"Authorization": f"Bearer {stack.token}"}) as api:
        for text in HOSTILE:
            assert (
                api.post("/api/jobs", json={"preset": "tiny", "source": {"kind": "title", "text": text}}).status_code
                == 202
            )

    # History is written by the recorder from the VideoJob watch, a moment after the API answered 202.
    def listed() -> list[str] | None:
        page.goto("/")
        titles = page.locator("[data-testid=job-row] .title").all_inner_texts()
        return titles if set(HOSTILE) | {title} <= set(titles) else None

    wait_for("every submitted title in the history list", listed, 30)
    page.fill("input[name=q]", "Fin 👋🏽")
    page.click(".filters button")
    assert sorted(page.locator("[data-testid=job-row] .title").all_inner_texts()) == sorted([title, "🎬 Fin 👋🏽"])
    page.goto("/")
    page.screenshot(path=shots / "jobs.png", full_page=True)
    assert page.evaluate("() => window.__pwned") is None

    # Cancel another job: one whose source never answers, so it stays running until cancelled.
    page.check("input[name=source_kind][value=url]")
    page.fill("#url", stalling_server)
    page.select_option("#preset", "tiny")
    page.click("form.submit button[type=submit]")
    page.wait_for_url("**/jobs/vj-*")
    wait_for("the stalled job to run", lambda: page.reload() or "Running" in page.inner_text(".phase"), timeout=120)
    page.click("button.danger")
    wait_for("Cancelled", lambda: page.reload() or page.inner_text(".phase") == "Cancelled", timeout=120)

    page.goto("/usage")
    assert page.locator("[data-testid=usage-chart] rect.bar").count() == 30
    page.screenshot(path=shots / "usage.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    page.screenshot(path=shots / "jobs-phone.png", full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.goto(f"/jobs/{job_id}")
    page.screenshot(path=shots / "job-phone.png", full_page=True)
    assert sorted(p.name for p in shots.iterdir()) == [
        "job-done.png", "job-phone.png", "job-running.png", "jobs-phone.png", "jobs.png", "login.png", "usage.png",
    ]  # fmt: skip


def test_forms_without_the_csrf_token_are_refused(page: Page, stack: StackDashboard) -> None:
    sign_in(page, stack.token)
    r = page.request.post("/submit", form={"csrf": "forged", "preset": "tiny", "text": "x"})
    assert r.status == 403 and "form expired" in r.text()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["oma_session"]["httpOnly"] and cookies["oma_session"]["sameSite"] == "Strict"
