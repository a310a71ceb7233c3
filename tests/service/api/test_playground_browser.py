"""The playground in a real browser: Debian's Chromium, driven by Selenium, against a real server.

A person's path: open the server's address, draw a digit, see it classified; type a
sentence, see its language and the attention heatmap; with an API key, be asked for it.
No request may leave for another origin, and the copied snippets must redo the request.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from scripts import browser
from scripts.launcher import PROJECT_ROOT, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))]
REPOSITORY = PROJECT_ROOT / "models" / "repository"
KEY = "playground-test-key"


@pytest.fixture(scope="module")
def server():
    with ServerProcess(REPOSITORY) as proc:
        yield proc


@pytest.fixture(scope="module")
def driver():
    with browser.chromium() as d:
        yield d


@pytest.fixture
def page(driver, server):
    browser.requested_urls(driver)  # forget what came before this test
    yield driver
    urls = browser.network_urls(driver)
    foreign = [u for u in urls if not u.startswith(server.url + "/")]
    assert urls and not foreign, f"requests that left {server.url}: {foreign}"


def wait_for(driver, css: str, timeout: float = 20.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def draw_one(driver):
    """A vertical stroke down the middle of the pad, as a person draws a 1."""
    from selenium.webdriver.common.action_chains import ActionChains

    pad = wait_for(driver, "canvas.pad")
    chain = ActionChains(driver).move_to_element_with_offset(pad, 0, -80).click_and_hold()
    for _ in range(4):
        chain = chain.move_by_offset(0, 40)
    chain.release().perform()
    return wait_for(driver, "[data-result=image] .bars").get_attribute("data-label")


def logged(driver, path: str) -> dict[str, str]:
    """The snippets the request log offers for the newest request to `path`."""
    from selenium.webdriver.common.by import By

    entry = wait_for(driver, f"#request-log li[data-path='{path}']")
    return {pre.get_attribute("data-snippet"): pre.get_attribute("textContent")
            for pre in entry.find_elements(By.CSS_SELECTOR, "pre[data-snippet]")}


def test_a_drawn_stroke_is_classified(page, server):
    page.get(server.url + "/")  # a newcomer opens the server's address
    assert page.current_url == server.url + "/ui"
    assert draw_one(page) == "1"
    grid = wait_for(page, "[data-result=image] canvas.grid")
    assert grid.get_attribute("width") == str(8 * 24)  # the 8x8 input the model got, 24 px a cell


def test_copied_curl_and_tritonclient_redo_the_request(page, server, tmp_path):
    page.get(server.url + "/ui#digits_lenet")
    draw_one(page)
    shown = json.loads(wait_for(page, "[data-result=image] .bars").get_attribute("data-label"))
    snippets = logged(page, "/v2/models/digits_lenet/predict")
    heredoc, command = snippets["perf_analyzer"].split("\nEOF\n")
    (item,) = json.loads(heredoc.split("\n", 1)[1])["data"]  # perf_analyzer's --input-data: one item, no batch axis
    assert item["image"]["shape"] == [1, 8, 8] and len(item["image"]["content"]) == 64
    assert command.startswith("perf_analyzer -m digits_lenet ") and "-b 1" in command
    curl = subprocess.run(["bash", "-c", snippets["curl"]], capture_output=True, text=True, timeout=30, check=True)
    answer = json.loads(curl.stdout)["predictions"][0]
    assert int(answer["label"]) == shown
    script = tmp_path / "client.py"
    script.write_text(snippets["tritonclient"])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    name, values = done.stdout.split(" ", 1)
    assert name == "probabilities"
    np.testing.assert_allclose(json.loads(values)[0], list(answer["probabilities"].values()), rtol=1e-5, atol=1e-7)


def test_a_sentence_gets_its_language_and_a_heatmap(page, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    page.get(server.url + "/ui#langid_transformer")
    box = wait_for(page, "textarea.text-input")
    wait_for(page, "h3.answer[data-language]")
    box.clear()
    sentence = "Je voudrais un café, s'il vous plaît."
    box.send_keys(sentence)
    wait_for(page, "h3.answer[data-language='fr']")
    heatmap = wait_for(page, "canvas.heatmap")
    assert heatmap.get_attribute("data-size") == str(len(sentence))  # one row per character
    inked = page.execute_script(
        "const c = arguments[0]; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 200) n++; return n;", heatmap)
    assert inked > 1000, "the heatmap drew no cells"
    ActionChains(page).move_to_element_with_offset(heatmap, 20, 20).perform()
    tooltip = wait_for(page, "#tooltip:not([hidden])")
    assert tooltip.text.startswith("query ") and "→ key " in tooltip.text
    Select(wait_for(page, "select[aria-label=layer]")).select_by_value("rollout")
    assert not wait_for(page, "select[aria-label=head]").is_enabled()


def test_multi_hot_encodes_and_decodes_against_the_models_labels(page, server):
    from selenium.webdriver.common.by import By

    page.get(server.url + "/ui#langid_transformer")
    wait_for(page, "details.encoding summary").click()
    labels = wait_for(page, "input[aria-label=labels]")
    labels.clear()
    labels.send_keys("ru, bg")
    page.find_element(By.XPATH, "//button[text()='Encode']").click()
    wait_for(page, "[data-result=encoding]")
    page.find_element(By.XPATH, "//button[text()='Decode']").click()
    out = wait_for(page, "[data-result=encoding]")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, 10).until(lambda d: out.text.startswith("decoded:"))
    assert out.text == 'decoded: [["bg","ru"]]'  # in the model's label order
    vector = json.loads(wait_for(page, "textarea[aria-label=vector]").get_attribute("value"))
    assert len(vector) == 40 and sum(vector) == 2


def test_a_held_out_utterance_is_plotted_and_identified(page, server):
    from selenium.webdriver.support.ui import Select

    page.get(server.url + "/ui#vowels_lstm")
    Select(wait_for(page, "select[aria-label='held-out utterance']")).select_by_index(1)
    answer = wait_for(page, "[data-result=sequence] h3.answer").text
    assert answer.startswith("speaker_1 ") and answer.endswith("truth: speaker_1")
    wait_for(page, "[data-result=sequence] canvas.plot")


def test_live_panel_shows_the_servers_own_numbers(page, server):
    from selenium.webdriver.support.ui import WebDriverWait

    page.get(server.url + "/ui#digits_lenet")
    draw_one(page)
    # The panel redraws its rows every 3 s: read the cells in one step, never hold a row element.
    read = ("const row = document.querySelector('#live-table tr[data-model=digits_lenet]');"
            "return row ? [...row.cells].map((td) => td.textContent) : null;")
    cells = WebDriverWait(page, 10).until(lambda d: (c := d.execute_script(read)) and int(c[5]) >= 1 and c)
    stats = json.loads(subprocess.run(["curl", "-sS", f"{server.url}/v2/models/digits_lenet/stats"],
                                      capture_output=True, text=True, check=True).stdout)
    assert int(cells[5]) <= stats["model_stats"][0]["inference_stats"]["success"]["count"]
    assert float(cells[2]) > 0 and float(cells[4]) >= 1.0  # p50 in ms, mean batch size


def test_with_an_api_key_the_page_asks_and_keeps_it_in_the_tab(tmp_path):
    with ServerProcess(REPOSITORY, env={"ORTSERVE_API_KEY": KEY}) as keyed, browser.chromium() as driver:
        browser.requested_urls(driver)
        driver.get(keyed.url + "/ui")
        wait_for(driver, "dialog#key-dialog[open]")
        wait_for(driver, "#key-input").send_keys(KEY + "\n")
        assert draw_one(driver) == "1"
        stored = driver.execute_script(
            "return [sessionStorage.getItem('ortserve.apiKey'), localStorage.length, document.cookie]")
        assert stored == [KEY, 0, ""]
        assert KEY not in logged(driver, "/v2/models/digits_lenet/predict")["curl"]  # snippets read $ORTSERVE_API_KEY
        urls = browser.network_urls(driver)
        assert urls and all(u.startswith(keyed.url + "/") for u in urls), urls
