"""End to end in a browser: headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium; nothing is downloaded) opens the search page, types a query, and sees the
document it was copied from among the results and the map drawn. Saves a screenshot."""

import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs vecsearch[serve]")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs vecsearch[test] (selenium)")

from .conftest import phrase_from  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOT = Path(os.environ.get("VECSEARCH_SCREENSHOT", Path(tempfile.gettempdir()) / "vecsearch_serve_screenshot.png"))


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: chromium or chromedriver is missing")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver); "
                    "scripts/test.sh installs them in CI")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_typing_a_query_shows_its_document_and_the_map(browser, live_server, small_corpus):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as when
    from selenium.webdriver.support.ui import WebDriverWait

    name = sorted(p.name for p in small_corpus.glob("*.txt"))[11]
    phrase = phrase_from((small_corpus / name).read_text(), 10, random.Random(11))
    browser.get(live_server + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(when.text_to_be_present_in_element((By.ID, "index-info"), "80 documents"))
    wait.until(lambda driver: driver.execute_script("return document.querySelectorAll('#legend span').length") > 0)
    browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=hybrid]").click()
    box = browser.find_element(By.ID, "query")
    box.send_keys(phrase)
    browser.find_element(By.CSS_SELECTOR, "#search-form button").click()
    wait.until(when.text_to_be_present_in_element((By.ID, "status"), "results in"))
    shown = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "#results .doc-id")]
    assert name in shown, shown
    painted = browser.execute_script(
        "const c = document.getElementById('map'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
    assert painted > 500  # the passages, the query and its hits are drawn
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    print(f"screenshot: {SCREENSHOT}")
