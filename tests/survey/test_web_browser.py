"""The rater page in a real headless browser (Debian's chromium through its chromedriver,
driven by Selenium; nothing is downloaded): keys, saved state, reload and resume, submit
with confirmation, and the database behind it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import uvicorn  # noqa: E402, F401 - hard dependencies: a broken install fails, never skips
from _ci import missing_system_tool
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from survey_support import paper_answer  # noqa: E402

from backend import survey as sv  # noqa: E402
from backend.survey.links import issue_link, link_url  # noqa: E402
from backend.web import ServeConfig, running_server  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
APT = "apt-get install -y chromium chromium-driver"


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        missing_system_tool(f"{', '.join(missing)} not installed ({APT})")


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    # an explicit driver path: Selenium Manager (which would download a driver) never runs
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def keys(driver, *pressed: str) -> None:
    ActionChains(driver).send_keys(*pressed).perform()


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def wait_for(driver, what: str, condition, timeout: float = 15) -> None:
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(), message=what)


def all_saved(driver) -> bool:
    states = driver.execute_script("return [...document.querySelectorAll('#strip li')].map(li => li.dataset.state)")
    return "saving" not in states and "failed" not in states


def pictures_loaded(driver) -> bool:
    return driver.execute_script(
        "return ['image', 'mask'].every(id => document.getElementById(id).complete"
        " && document.getElementById(id).naturalWidth === 64)"
    )


ANSWERS = [("1", "4", "7"), ("2", "5", "8"), ("3", "6", "8")]
STORED = [
    paper_answer("good", "good", "real"),
    paper_answer("moderate", "moderate", "fake"),
    paper_answer("poor", "poor", "fake"),
]


def answer_items(driver, first: int, count: int) -> None:
    for n in range(first, first + count):
        wait_for(driver, f"item {n + 1} shown", lambda n=n: text(driver, "progress").startswith(f"{n + 1} / "))
        wait_for(driver, f"pictures of item {n + 1}", lambda: pictures_loaded(driver))
        keys(driver, *ANSWERS[n % 3], Keys.ARROW_RIGHT)


def test_rating_in_a_real_browser(ws, browser):
    survey = sv.create_survey(ws, sv.SurveyConfig("browser", {"real": 3, "inpainted": 2, "styled": 1}))
    rater = sv.add_rater(ws, survey, "dr-browser")
    order = sv.rater_order(ws, survey, rater)
    with running_server(ws, survey, ServeConfig("127.0.0.1", 0)) as base:
        browser.get(link_url(issue_link(ws, rater), base))
        wait_for(browser, "the first item", lambda: text(browser, "progress") == "1 / 6")
        assert text(browser, "rater") == "Rater: dr-browser" and browser.title == "Blinded review"
        keys(browser, "1", Keys.ARROW_RIGHT)  # incomplete: stays and says so
        wait_for(browser, "the hint", lambda: "Answer every question first" in text(browser, "message"))
        assert text(browser, "progress") == "1 / 6"
        keys(browser, "4", "7")
        wait_for(browser, "item 1 saved", lambda: text(browser, "saved") == "Saved" and all_saved(browser))
        assert sv.answers_of(ws, rater)[order[0]] == STORED[0]  # stored before the page said "saved"
        keys(browser, Keys.ARROW_RIGHT)
        answer_items(browser, 1, 1)
        wait_for(browser, "item 3", lambda: text(browser, "progress") == "3 / 6")
        keys(browser, "c", "blurry rim", Keys.ENTER)  # C: into the comment box; Enter saves and leaves it
        keys(browser, *ANSWERS[2])
        wait_for(browser, "item 3 saved", lambda: all_saved(browser) and text(browser, "answered") == "3 answered")
        assert sv.answers_of(ws, rater)[order[2]] == paper_answer("poor", "poor", "fake", "blurry rim")

        browser.refresh()  # a reload resumes at the first unanswered item
        wait_for(browser, "resumed", lambda: text(browser, "progress") == "4 / 6")
        keys(browser, Keys.ARROW_LEFT)
        wait_for(browser, "back to item 3", lambda: text(browser, "progress") == "3 / 6")
        pressed = browser.execute_script(
            "return [...document.querySelectorAll('button[aria-pressed=true]')].map(b => b.dataset.q + '=' + b.dataset.v)"
        )
        assert sorted(pressed) == ["image_quality=poor", "mask_quality=poor", "real_fake=fake"]
        assert browser.find_element(By.ID, "comment").get_attribute("value") == "blurry rim"
        keys(browser, "2")  # change an answer after the reload
        wait_for(
            browser,
            "the change saved",
            lambda: all_saved(browser) and sv.answers_of(ws, rater)[order[2]].values.get("image_quality") == "moderate",
        )
        keys(browser, Keys.ARROW_RIGHT)
        wait_for(browser, "item 4 shown", lambda: text(browser, "progress") == "4 / 6" and pictures_loaded(browser))
    # the server goes away (a dropped connection): the page says so and keeps the answers
    keys(browser, *ANSWERS[0])
    wait_for(browser, "not saved", lambda: text(browser, "saved") == "Not saved: retrying\u2026")
    assert order[3] not in sv.answers_of(ws, rater)
    port = int(base.rsplit(":", 1)[1])
    with running_server(ws, survey, ServeConfig("127.0.0.1", port)):  # back: the page sends them again
        wait_for(browser, "item 4 saved after the outage", lambda: all_saved(browser), timeout=30)
        assert sv.answers_of(ws, rater)[order[3]] == STORED[0]
        keys(browser, Keys.ARROW_RIGHT)
        answer_items(browser, 4, 2)
        wait_for(browser, "all answered", lambda: "All 6 items are answered" in text(browser, "done"))
        assert not browser.find_element(By.ID, "pictures").is_displayed()

        keys(browser, "s")  # submit asks first: N says no
        wait_for(browser, "the dialog", lambda: browser.find_element(By.ID, "confirm").is_displayed())
        keys(browser, "n")
        wait_for(browser, "the dialog closed", lambda: not browser.find_element(By.ID, "confirm").is_displayed())
        assert sv.get_rater(ws, survey, "dr-browser").submitted_at is None
        keys(browser, "s")
        wait_for(browser, "the dialog again", lambda: browser.find_element(By.ID, "confirm").is_displayed())
        keys(browser, Keys.ENTER)  # Enter (or Y) confirms
        wait_for(browser, "submitted", lambda: "submitted" in text(browser, "done"))
    assert sv.get_rater(ws, survey, "dr-browser").submitted_at is not None
    stored = sv.answers_of(ws, rater)
    assert [stored[i] for i in order] == [
        STORED[0],
        STORED[1],
        paper_answer("moderate", "poor", "fake", "blurry rim"),
        STORED[0],
        STORED[1],
        STORED[2],
    ]


def test_a_typed_comment_is_saved_without_enter(ws, browser):
    """Typing alone saves the comment (after a short pause); before, it was lost on a reload
    or a closed tab while the page said "Saved" (issue 32 item 9)."""
    survey = sv.create_survey(ws, sv.SurveyConfig("typed", {"real": 2, "inpainted": 1}))
    rater = sv.add_rater(ws, survey, "dr-typist")
    first = sv.rater_order(ws, survey, rater)[0]
    with running_server(ws, survey, ServeConfig("127.0.0.1", 0)) as base:
        browser.get(link_url(issue_link(ws, rater), base))
        wait_for(browser, "the first item", lambda: text(browser, "progress") == "1 / 3")
        keys(browser, "1", "c", "small polyp, sharp rim")  # no Enter, no leaving the box
        wait_for(browser, "the comment stored", lambda: sv.answers_of(ws, rater).get(first, sv.Answer()).comment != "", 10)
        assert sv.answers_of(ws, rater)[first] == paper_answer("good", None, None, "small polyp, sharp rim")
        browser.refresh()
        wait_for(browser, "reloaded", lambda: text(browser, "progress") == "1 / 3")
        assert browser.find_element(By.ID, "comment").get_attribute("value") == "small polyp, sharp rim"


def picture_state(driver) -> dict:
    """What the page shows of the current item: sizes on screen, rendering, the scale line."""
    return driver.execute_script(
        """
        const img = document.getElementById("image"), canvas = document.getElementById("overlay");
        return {natural: img.naturalWidth, width: img.getBoundingClientRect().width,
                mask_width: document.getElementById("mask").getBoundingClientRect().width,
                rendering: getComputedStyle(img).imageRendering, scale: document.getElementById("scale").textContent,
                overlay_shown: !canvas.hidden, overlay_width: canvas.getBoundingClientRect().width,
                opacity: canvas.style.opacity};
        """
    )


def choose_zoom(driver, value: str) -> None:
    driver.execute_script(
        "const z = document.getElementById('zoom'); z.value = arguments[0]; z.dispatchEvent(new Event('change'));", value
    )


def test_pictures_native_size_zoom_and_mask_overlay(ws, browser):
    """Issue 32 item 8 on the web page: 32 px items were drawn at the page's width with no word
    of their size; now a whole factor with nearest neighbour (or 1x, or a zoom), a line that
    says which and says "downscaled" when a large item is shrunk, and the mask over the image
    at a chosen opacity, drawn from the mask already fetched (no request more)."""
    import cv2

    small = sv.create_survey(ws, sv.SurveyConfig("small", {"real": 2, "inpainted": 1}, size=32))
    rater = sv.add_rater(ws, small, "dr-view")
    first = sv.RaterSession.open(ws, "small", "dr-view").items[0]
    with running_server(ws, small, ServeConfig("127.0.0.1", 0)) as base:
        browser.get(link_url(issue_link(ws, rater), base))
        wait_for(browser, "the first item", lambda: picture_state(browser)["natural"] == 32)
        wait_for(browser, "the overlay drawn", lambda: picture_state(browser)["overlay_shown"])
        shown = picture_state(browser)
        factor = round(shown["width"] / 32)
        assert factor >= 4 and shown["width"] == 32 * factor == shown["mask_width"] == shown["overlay_width"]
        assert shown["rendering"] == "pixelated"
        assert shown["scale"] == f"Items are 32 × 32 px, enlarged {factor}× pixel for pixel (nearest neighbour)."
        choose_zoom(browser, "1")
        assert picture_state(browser)["width"] == 32 and "shown at native resolution (1×)" in picture_state(browser)["scale"]
        choose_zoom(browser, "16")
        assert picture_state(browser)["width"] == 512 and picture_state(browser)["rendering"] == "pixelated"
        scrolled = "return [...document.querySelectorAll('.frame')].map(f => [f.scrollTop, f.scrollHeight - f.clientHeight])"
        (top, room), (mask_top, _) = browser.execute_script(scrolled)
        assert room > 0 and abs(top - room / 2) <= 1 and mask_top == top  # opens on the middle, both alike
        browser.execute_script("document.querySelector('.frame').scrollTop = 0;")
        wait_for(browser, "the mask follows", lambda: browser.execute_script(scrolled)[1][0] == 0)

        assert shown["opacity"] == "0"  # the image alone until the rater asks for the mask over it
        browser.execute_script("const o = document.getElementById('opacity'); o.value = 60; o.dispatchEvent(new Event('input'));")
        assert picture_state(browser)["opacity"] == "0.6" and text(browser, "opacity-value") == "60%"
        drawn = browser.execute_script(
            "const c = document.getElementById('overlay');"
            "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);"
        )
        rgba = np.array(drawn, dtype=np.uint8).reshape(32, 32, 4)
        mask = cv2.imread(str(first.mask_path), cv2.IMREAD_GRAYSCALE)
        assert mask.max() == 255 and mask.min() == 0  # the check below sees both parts
        assert (rgba[..., 3] == mask).all() and (rgba[mask > 0][:, :3] == (0, 255, 110)).all()
        fetched = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname.split('/').slice(3, 4)[0])"
        )
        assert fetched.count("image") == fetched.count("mask") == 1  # the overlay asked for nothing more

    large = sv.create_survey(ws, sv.SurveyConfig("large", {"real": 2}, size=512))
    rater = sv.add_rater(ws, large, "dr-view")
    browser.set_window_size(800, 700)
    with running_server(ws, large, ServeConfig("127.0.0.1", 0)) as base:
        browser.get(link_url(issue_link(ws, rater), base))
        wait_for(browser, "the large item", lambda: picture_state(browser)["natural"] == 512)
        shown = picture_state(browser)
        assert shown["width"] < 512 and shown["rendering"] == "auto"
        assert shown["scale"].startswith("Items are 512 × 512 px, downscaled to ") and "choose 1×" in shown["scale"]


def test_a_survey_asks_its_templates_questions_in_a_real_browser(ws, browser):
    """Issue 32 item 10 on the web page: the buttons, the hint and the keys are the template's."""
    template = Path(__file__).resolve().parents[2] / "docs" / "survey-questions.toml"
    survey = sv.create_survey(ws, sv.SurveyConfig("cemis", {"real": 2, "inpainted": 2}, questions=str(template)))
    rater = sv.add_rater(ws, survey, "dr-likert")
    order = sv.rater_order(ws, survey, rater)
    with running_server(ws, survey, ServeConfig("127.0.0.1", 0)) as base:
        browser.get(link_url(issue_link(ws, rater), base))
        wait_for(browser, "the first item", lambda: text(browser, "progress") == "1 / 4")
        titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".question .title")]
        assert titles == ["How realistic is the image?", "Clinically useful (e.g. for training)?", "Real or synthetic?"]
        assert "A/D real or synthetic" in browser.find_element(By.CLASS_NAME, "hint").text
        keys(browser, "4", "0", Keys.ARROW_RIGHT)
        wait_for(browser, "the hint", lambda: "Answer every question first" in text(browser, "message"))
        keys(browser, "d", Keys.ARROW_RIGHT)
        wait_for(browser, "item 2", lambda: text(browser, "progress") == "2 / 4" and all_saved(browser))
        assert sv.answers_of(ws, rater)[order[0]] == sv.Answer({"realism": "4", "clinical_utility": "5", "real_fake": "fake"})
        browser.find_element(By.CSS_SELECTOR, 'button[data-q="clinical_utility"][data-v="2"]').click()
        wait_for(
            browser,
            "a click saved",
            lambda: sv.answers_of(ws, rater).get(order[1], sv.Answer()).values == {"clinical_utility": "2"},
        )
