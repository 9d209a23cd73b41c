"""The Mesh page in a real browser: Debian's headless Chromium, driven through its chromedriver.

It logs in to Airflow as a person does, opens the page from Airflow's navigation, sees the
six example domains with the states the API reports, opens physician and finds its failed
checks. The screenshot is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from tests.api.conftest import PASSWORDS, Served
from tests.helpers import REPO

pytestmark = pytest.mark.e2e

ARTIFACTS = REPO / "test-artifacts"


def system_program(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        f"{names[0]} is not installed: `make browser` installs Debian's chromium and chromium-driver"
    )


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = system_program("chromium", "chromium-browser")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(system_program("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: WebDriver, url: str, user: str) -> None:
    driver.get(f"{url}/plugin/mesh")
    wait = WebDriverWait(driver, 60)
    wait.until(ready.presence_of_element_located((By.NAME, "username"))).send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(PASSWORDS[user])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/" not in d.current_url)


def test_the_mesh_page_shows_every_domain_in_its_state_and_a_domains_failed_checks(
    served: Served, browser: WebDriver
) -> None:
    log_in(browser, served.url, "admin")
    browser.get(f"{served.url}/plugin/mesh")  # the page as Airflow's navigation opens it
    wait = WebDriverWait(browser, 60)
    wait.until(ready.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "g.domain")) == 6)

    shown = {
        g.get_attribute("data-domain"): g.get_attribute("data-state")
        for g in browser.find_elements(By.CSS_SELECTOR, "g.domain")
    }
    expected = {d["name"]: d["state"] for d in served.get("/domains")[1]["items"]}
    assert shown == expected
    assert shown["physician"] == "failed"

    browser.find_element(By.CSS_SELECTOR, "g.domain[data-domain=physician]").click()
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "[data-selected=physician]")))
    checks = browser.find_element(By.CSS_SELECTOR, "[data-checks]").text
    build = served.get(f"/builds/{served.failed_build}")[1]
    for check in build["checks"]:
        if check["status"] == "fail":
            assert check["test_id"] in checks and check["observed"] in checks
    assert browser.find_elements(By.CSS_SELECTOR, "[data-port=physician]")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, ".links a")}
    assert links["DAG in Airflow"] == f"{served.url}/dags/physician"

    browser.switch_to.default_content()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "mesh-page.png"
    assert browser.save_screenshot(str(screenshot))
    assert Path(screenshot).stat().st_size > 10_000


def test_a_user_sees_only_the_domains_they_may_read(served: Served, browser: WebDriver) -> None:
    log_in(browser, served.url, "analyst")
    browser.get(f"{served.url}/plugin/mesh")
    wait = WebDriverWait(browser, 60)
    wait.until(ready.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "g.domain"))
    assert {g.get_attribute("data-domain") for g in browser.find_elements(By.CSS_SELECTOR, "g.domain")} == {
        "product",
        "payer",
        "payer_dw",
    }
