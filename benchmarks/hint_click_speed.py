"""Seconds from a click on the demo's picture to the recoloured picture in the browser (1-megapixel photo).

    chromatize demo --port 7862 &
    python benchmarks/hint_click_speed.py --url http://127.0.0.1:7862/ --photo ../shared/data/kodak24/kodim05.png

The photo is turned gray and resized to 1224x816 (1.0 MP); Debian's chromium is driven by Playwright.
Prints each click's time (the first click of a session included) and their median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--clicks", type=int, default=6)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    path = Path(tempfile.mkdtemp()) / "photo_1mp.png"
    Image.open(a.photo).convert("L").resize((1224, 816)).save(path)
    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=a.chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(a.url)
        page.get_by_role("tab", name="Colour hints").click()
        page.locator("#hint-photo input[type=file]").set_input_files(str(path))
        page.locator("#hint-message").get_by_text("Click the photo").wait_for(timeout=120_000)
        pic = page.locator("#hint-picture img").first
        for k in range(a.clicks):
            before = pic.get_attribute("src")
            box = pic.bounding_box()
            t0 = time.perf_counter()
            pic.click(
                position={
                    "x": box["width"] * (0.1 + 0.8 * ((0.37 * k) % 1)),
                    "y": box["height"] * (0.2 + 0.6 * ((0.61 * k) % 1)),
                }
            )
            page.wait_for_function(
                "s => document.querySelector('#hint-picture img').src != s", arg=before, timeout=60_000, polling=20
            )
            times.append(time.perf_counter() - t0)
            print(f"click {k + 1}: {times[-1]:.2f} s", flush=True)
        browser.close()
    print(f"median {statistics.median(times):.2f} s over {len(times)} clicks")


if __name__ == "__main__":
    main()
