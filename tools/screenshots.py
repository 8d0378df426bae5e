"""Takes the README's screenshots of `cli.py serve` in Chromium (driven by Playwright):

    python tools/screenshots.py        # writes docs/serve_resnet50.png, docs/serve_error.png, docs/serve_runs.png

The runs shown are a real sweep of LeNet-5's activation on digits (trained here,
about a minute); ResNet-50 is the shipped spec, with its first block opened.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    from playwright.sync_api import sync_playwright

    import builder
    work = tempfile.mkdtemp()
    try:
        shutil.copytree(os.path.join(ROOT, "specs"), os.path.join(work, "specs"))
        builder.sweep(os.path.join(ROOT, "specs", "lenet5.yaml"), "digits",
                      {"defaults.activation": ["relu", "tanh", "swish"]}, fixed={"training.epochs": 8},
                      out=os.path.join(work, "runs", "lenet5-sweep"), verbose=0)
        server = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "serve", ".", "--port", "0"],
                                  cwd=work, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.goto(url + "#spec=specs/resnet50.yaml")
            page.wait_for_selector("#diagram[data-ready]")
            page.click("[data-box='f:/layers[6]']")
            page.click("[data-box='f:conv2_block1']")
            page.click("[data-box='n:conv2_block1_2_conv']")
            page.screenshot(path=os.path.join(ROOT, "docs", "serve_resnet50.png"))
            spec = os.path.join(work, "specs", "lenet5.yaml")
            text = open(spec).read()
            page.select_option("#spec-select", "specs/lenet5.yaml")
            page.wait_for_function("() => document.querySelector('#totals').innerText.includes('61,706')")
            with open(spec, "w") as out:
                out.write(text.replace("- conv2d: {filters: 16", "- conv2dd: {filters: 16"))
            page.wait_for_selector("body[data-state='error']")
            page.screenshot(path=os.path.join(ROOT, "docs", "serve_error.png"))
            page.click("#runs-tab")
            page.wait_for_function("() => (document.body.dataset.runs || '').includes('swish')")
            page.screenshot(path=os.path.join(ROOT, "docs", "serve_runs.png"), full_page=True)
            browser.close()
        server.send_signal(signal.SIGINT)
        server.wait(30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("wrote docs/serve_resnet50.png, docs/serve_error.png, docs/serve_runs.png")


if __name__ == "__main__":
    main()
