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

    # the URL carries the search: reloading it shows the same hits
    assert "q=" in browser.current_url
    browser.refresh()
    wait.until(when.text_to_be_present_in_element((By.ID, "status"), "results in"))
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results .doc-id")] == shown
    assert browser.find_element(By.ID, "query").get_attribute("value") == phrase
    # the keyboard: "/" goes to the box, the arrows through the hits, Enter opens the document
    from selenium.webdriver.common.keys import Keys

    browser.find_element(By.TAG_NAME, "body").click()
    browser.find_element(By.TAG_NAME, "body").send_keys("/")
    assert browser.switch_to.active_element.get_attribute("id") == "query"
    box = browser.find_element(By.ID, "query")
    box.send_keys(Keys.ARROW_DOWN)
    opened = shown.index(name)
    for _ in range(opened):
        browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert browser.switch_to.active_element.text == name
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait.until(lambda driver: driver.execute_script("return !!document.getElementById('passage')"))
    assert f"/doc/{name}" in browser.current_url
    marked = browser.find_element(By.ID, "passage").text
    assert " ".join(phrase.split()[:5]) in " ".join(marked.split())  # the passage the phrase came from, highlighted
    assert (small_corpus / name).read_text().strip().startswith(browser.find_element(By.ID, "doc-text").text[:40])
    # back on the empty page: example queries from the clusters' labels
    browser.get(live_server + "/")
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#examples a"))
    example = browser.find_elements(By.CSS_SELECTOR, "#examples a")[0]
    words = example.text
    example.click()
    wait.until(when.text_to_be_present_in_element((By.ID, "status"), "results in"))
    assert browser.find_element(By.ID, "query").get_attribute("value") == words


def test_a_document_address_with_a_malformed_escape_says_so(browser, live_server):
    """/doc/%E0%A4%A cut a character's %-escape short: the page said nothing (an uncaught URIError
    in doc.js, issue 30); it names the problem. An unknown document's page names that too."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as when
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(live_server + "/doc/%E0%A4%A")
    wait.until(when.text_to_be_present_in_element((By.ID, "status"), "malformed %-escape"))
    assert "/doc/%E0%A4%A" in browser.find_element(By.ID, "status").text
    assert browser.find_element(By.ID, "status").get_attribute("class") == "error"
    browser.get(live_server + "/doc/" + "no%20such%20document")
    wait.until(when.text_to_be_present_in_element((By.ID, "status"), "no such document"))
    assert browser.find_element(By.ID, "doc-id").text == "no such document"


def test_the_document_view_tints_the_passages_words_by_their_share(browser, live_server, small_index):
    """Issue 33: /doc/{id}?passage=N&q=... tints each word of the passage that led there by its
    share of the passage's cosine with the query, as /explain gives it; the search page marks the
    words carrying each dense hit in its snippet."""
    import json
    import urllib.parse
    import urllib.request

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    query = "a tool for cutting wood"
    with urllib.request.urlopen(f"{live_server}/search?{urllib.parse.urlencode({'q': query, 'k': 3, 'mode': 'dense', 'explain': 'true'})}") as response:
        hits = json.load(response)
    hit = hits[0]
    assert hit["explanation"]["words"] and hit["snippet"]["semantic"]
    with urllib.request.urlopen(f"{live_server}/explain?{urllib.parse.urlencode({'q': query, 'passage_id': hit['passage_id']})}") as response:
        explanation = json.load(response)
    wait = WebDriverWait(browser, 30)
    params = urllib.parse.urlencode({"passage": hit["passage_id"], "q": query, "mode": "dense"})
    browser.get(f"{live_server}/doc/{urllib.parse.quote(hit['id'])}?{params}")
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#passage .share"))
    words = browser.find_elements(By.CSS_SELECTOR, "#passage .share")
    assert len(words) == len(explanation["words"])
    passage = hit["text"]
    assert [w.text for w in words[:5]] == [passage[a:b] for a, b, _ in explanation["words"][:5]]
    strongest = max(explanation["words"], key=lambda w: abs(w[2]))
    strengths = browser.execute_script(
        "return [...document.querySelectorAll('#passage .share')].map(e => Number(e.style.getPropertyValue('--strength')))")
    assert max(strengths) == 1 and strengths[explanation["words"].index(strongest)] == 1
    shade = browser.execute_script(  # the strongest word's background is drawn, not transparent
        "const e = [...document.querySelectorAll('#passage .share')].find(e => e.style.getPropertyValue('--strength') === '1.000');"
        "return getComputedStyle(e).backgroundColor")
    assert shade not in ("rgba(0, 0, 0, 0)", "transparent"), shade
    note = browser.find_element(By.ID, "explain-note").text
    assert f"{explanation['score']:.3f}" in note and "bias" in note
    # lexical: no tints
    browser.get(f"{live_server}/doc/{urllib.parse.quote(hit['id'])}?" + params.replace("mode=dense", "mode=lexical"))
    wait.until(lambda driver: driver.find_elements(By.ID, "passage"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#passage .share")
    # the search page marks the carrying words of a dense hit's snippet
    browser.get(f"{live_server}/?{urllib.parse.urlencode({'q': query, 'mode': 'dense'})}")
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#results .snippet mark.semantic"))
