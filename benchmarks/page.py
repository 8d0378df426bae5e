"""How quickly the live page of `cli.py serve` is usable on large models, in
Chromium on this machine (Playwright drives Debian's Chromium):

    python benchmarks/page.py          # the table in docs/benchmarks.md

For each spec: the server's time to build its view (the model built, counted
and located: what a save of the file costs before the page can update), the
page's time from navigation to a drawn diagram (blocks collapsed, as it opens),
and the time to draw every block expanded. The view is built once before the
page is timed, as `serve` builds the first spec before it prints its address.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ["lenet5.yaml", "resnet50.yaml", "resnet152.yaml", "bert_base.yaml", "googlenet.yaml"]


def main():
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    from playwright.sync_api import sync_playwright
    server = subprocess.Popen([sys.executable, "cli.py", "serve", "specs", "--port", "0"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            for spec in SPECS:
                started = time.perf_counter()
                with urllib.request.urlopen(f"{url}api/spec?path={spec}") as response:
                    view = json.load(response)
                built = time.perf_counter() - started
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                started = time.perf_counter()
                page.goto(f"{url}#spec={spec}")
                page.wait_for_selector("#diagram[data-ready]")
                opened = time.perf_counter() - started
                boxes = page.eval_on_selector_all("#viewport .node", "n => n.length")
                started = time.perf_counter()
                page.click("#expand-all")
                page.wait_for_function("n => document.querySelectorAll('#viewport .node').length >= n",
                                       arg=len(view["nodes"]))
                expanded = time.perf_counter() - started
                rows.append((spec, len(view["nodes"]), built, boxes, opened, expanded))
                page.close()
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    print("| spec | layers | view built (s) | boxes drawn collapsed | page to diagram (s) | expand all (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for spec, layers, built, boxes, opened, expanded in rows:
        print(f"| `{spec}` | {layers} | {built:.2f} | {boxes} | {opened:.2f} | {expanded:.2f} |")


if __name__ == "__main__":
    main()
