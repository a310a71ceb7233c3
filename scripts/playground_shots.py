"""Screenshots of the playground's main views for the docs: `python -m scripts.playground_shots [--out docs/img]`.

Starts the server on the reference models, drives the page in headless Chromium
(scripts/browser.py) as a person would (draws a digit, types a sentence, picks an
utterance) and saves one PNG per view, reduced to a 64-colour palette to stay small.
"""

from __future__ import annotations

import argparse
import io
from itertools import pairwise
from pathlib import Path
from typing import Any

from PIL import Image

from scripts import browser
from scripts.launcher import PROJECT_ROOT, ServerProcess

REPOSITORY = PROJECT_ROOT / "models" / "repository"
# A 7 as a person draws it: a bar across the top, then down to the lower left (offsets from the pad's centre).
SEVEN = [(-60, -70), (60, -70), (30, -10), (0, 50), (-15, 85)]
TWO = [(-50, -50), (-20, -80), (40, -75), (50, -30), (-50, 70), (55, 70)]


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def stroke(driver: Any, points: list[tuple[int, int]]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    pad = wait_for(driver, "canvas.pad")
    chain = ActionChains(driver).move_to_element_with_offset(pad, *points[0]).click_and_hold()
    for (x0, y0), (x1, y1) in pairwise(points):
        for _ in range(4):  # several moves per segment, so the line is drawn, not jumped
            chain = chain.move_by_offset(round((x1 - x0) / 4), round((y1 - y0) / 4))
    chain.release().perform()


def save(driver: Any, path: Path) -> None:
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from selenium.webdriver.support.ui import Select

    with ServerProcess(REPOSITORY) as server, browser.chromium(1280, 1040) as driver:
        driver.get(server.url + "/ui#digits_lenet")
        stroke(driver, SEVEN)
        wait_for(driver, "[data-result=image] .bars")
        wait_for(driver, "#live-table tr.busy")  # the live panel's next refresh counts the request
        save(driver, args.out / "playground-digits.png")
        driver.get(server.url + "/ui#langid_transformer")
        wait_for(driver, "canvas.heatmap")
        driver.execute_script("document.querySelector('textarea.text-input').scrollIntoView()")
        save(driver, args.out / "playground-langid.png")
        driver.get(server.url + "/ui#vowels_lstm")
        Select(wait_for(driver, "select[aria-label='held-out utterance']")).select_by_index(5)
        wait_for(driver, "[data-result=sequence] h3.answer")
        save(driver, args.out / "playground-vowels.png")
        driver.get(server.url + "/ui#digits_denoiser")
        stroke(driver, TWO)
        wait_for(driver, "[data-output=image]")
        save(driver, args.out / "playground-denoiser.png")


if __name__ == "__main__":
    main()
