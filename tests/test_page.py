"""The live page of `cli.py serve`, in a real browser: Debian's Chromium driven
by Playwright (Playwright's own browser download can't work here). `.ci/run`
installs Chromium and sets BUILDER_REQUIRE_BROWSER=1, so there a missing
browser fails these tests instead of skipping them."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, SPECS, require_extra, spec_path

TYPO = "  - conv2d: {filters: 16, kernel_size: 5, name: c3}"


def chromium() -> str:
    for candidate in (os.environ.get("BUILDER_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    message = "no Chromium to drive (apt-get install chromium, or set BUILDER_CHROMIUM)"
    if os.environ.get("BUILDER_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    executable = chromium()
    require_extra("browser")
    from playwright import sync_api as playwright_api

    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class Server:
    """`python cli.py serve TARGET --port 0` as a user starts it; stopped with Ctrl-C."""

    def __init__(self, target, env=None):
        self.process = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "serve", str(target),
                                         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        cwd=ROOT, env={**os.environ, **(env or {})})
        line = self.process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)", line)
        if not match:
            self.process.kill()
            raise AssertionError(f"serve did not start: {line!r} {self.process.stderr.read()!r}")
        self.url = match.group(1)

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=30)
        return self.process.returncode, err


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of specs: LeNet-5 (edited by the tests), ResNet-50 with its block library, a hostile one."""
    root = tmp_path_factory.mktemp("served")
    shutil.copy(spec_path("lenet5"), root / "mine.yaml")
    shutil.copy(spec_path("resnet50"), root / "resnet50.yaml")
    shutil.copy(spec_path("resnet"), root / "resnet.yaml")
    (root / "blocks").mkdir()
    shutil.copy(os.path.join(SPECS, "blocks", "resnet.yaml"), root / "blocks" / "resnet.yaml")
    (root / "hostile.yaml").write_text(
        "# <script>window.pwned = 1</script>\n"
        "name: hostile\ndescription: '<img src=x onerror=\"window.pwned = 2\">'\ninput: [4]\n"
        "layers:\n  - dense: {units: 3, name: x}\noutput: {units: 2}\n")
    return root


@pytest.fixture(scope="module")
def server(folder):
    running = Server(folder)
    yield running
    code, err = running.stop()
    assert (code, err) == (130, "error: interrupted\n")


def open_spec(browser, server, spec):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{server.url}#spec={spec}")
    page.wait_for_selector("#diagram[data-ready]")
    page.errors = errors
    return page


def lines_marked(page, css):
    return [int(n) for n in page.eval_on_selector_all(f"#lines .line.{css}", "rows => rows.map(r => r.dataset.line)")]


def boxes(page, css=""):
    return page.eval_on_selector_all(f"#viewport .node{css}", "nodes => nodes.map(n => n.dataset.box)")


def test_lenet5_page_shows_its_parameters_and_links_nodes_to_lines(browser, server):
    page = open_spec(browser, server, "mine.yaml")
    assert "61,706 parameters" in page.inner_text("#totals")
    assert boxes(page) == ["n:input", "n:c1", "n:s2", "n:c3", "n:s4", "n:c5", "n:flatten", "n:f6", "n:predictions"]
    assert "(None, 10, 10, 16)" in page.text_content("[data-box='n:c3']")
    page.click("[data-box='n:c3']")
    assert lines_marked(page, "hl") == [10, 14]             # defaults' activation, and its own entry
    page.click("#lines .line[data-line='10']")              # `activation: tanh` in defaults
    assert boxes(page, ".linked") == ["n:c1", "n:c3", "n:c5", "n:f6"]
    page.click("#lines .line[data-line='13']")
    assert boxes(page, ".linked") == ["n:s2"]
    assert page.errors == []


def test_a_saved_typo_shows_the_error_at_its_line_and_keeps_the_diagram(browser, server, folder):
    page = open_spec(browser, server, "mine.yaml")
    spec = folder / "mine.yaml"
    good = spec.read_text()
    line = good.splitlines().index(TYPO) + 1
    version = int(page.get_attribute("body", "data-version"))
    try:
        spec.write_text(good.replace("- conv2d: {filters: 16", "- conv2dd: {filters: 16"))
        page.wait_for_selector("body[data-state='error']", timeout=10000)   # pushed by the watcher, not polled
        message = page.inner_text("#error-message")
        named = str(spec) if os.path.relpath(spec, ROOT).startswith("..") else os.path.relpath(spec, ROOT)
        assert message.startswith(f"{named}:{line}:5: error: layers[2].conv2dd: unknown layer type")
        assert "Did you mean 'conv2d'?" in message
        assert f"{line:>4}    - conv2dd:" in page.inner_text("#error-context .err")
        assert lines_marked(page, "err") == [line]
        assert "stale" in page.get_attribute("#svg", "class")        # the last good diagram, greyed
        assert "n:c3" in boxes(page) and "61,706" in page.inner_text("#totals")
        spec.write_text(good.replace("kernel_size: 5, name: c5", "kernel_size: 5, name: c5, filters: 60")
                        .replace("filters: 120, ", ""))
        page.wait_for_selector("body[data-state='ready']", timeout=2000)
        assert int(page.get_attribute("body", "data-version")) > version
        assert "stale" not in (page.get_attribute("#svg", "class") or "")
        assert page.is_hidden("#error")
        assert "(None, 1, 1, 60)" in page.text_content("[data-box='n:c5']")
        fewer = 120 - 60            # c5's filters: each had 5x5x16 weights and a bias, and 84 weights in f6
        assert f"{61706 - fewer * (5 * 5 * 16 + 1 + 84):,} parameters" in page.inner_text("#totals")
    finally:
        spec.write_text(good)
    page.wait_for_function("() => document.querySelector('#totals').innerText.includes('61,706')", timeout=2000)
    assert page.errors == []


def test_spec_text_is_shown_as_text_never_run(browser, server):
    page = open_spec(browser, server, "hostile.yaml")
    assert page.evaluate("window.pwned") is None
    assert "<script>window.pwned = 1</script>" in page.inner_text("#lines")
    assert page.query_selector("#lines script, #lines img") is None


def test_requests_outside_the_folder_are_refused_to_the_page(browser, server):
    page = open_spec(browser, server, "mine.yaml")
    for path in ("api/spec?path=../README.md", "api/spec?path=/etc/passwd", "api/run?path=..",
                 "static/../../README.md", "static/%2e%2e/%2e%2e/README.md"):
        assert page.request.get(server.url + path).status == 404, path


@pytest.mark.slow
def test_resnet50_opens_collapsed_and_a_block_expands_to_its_layers(browser, server):
    page = open_spec(browser, server, "resnet50.yaml")
    assert "25,636,712 parameters" in page.inner_text("#totals")
    shown = boxes(page)
    assert "f:/layers[6]" in shown and not any("conv2_block1_" in box for box in shown)
    assert len(shown) == 13        # stem layers, four stages, pooling, output
    assert "conv2_block ×3" in page.text_content("[data-box='f:/layers[6]']")
    page.click("[data-box='f:/layers[6]']")
    assert [b for b in boxes(page) if b.startswith("f:conv2")] == ["f:conv2_block1", "f:conv2_block2",
                                                                    "f:conv2_block3"]
    page.click("[data-box='f:conv2_block1']")
    inside = [b for b in boxes(page) if b.startswith("n:conv2_block1_")]
    assert inside == ["n:conv2_block1_0_conv", "n:conv2_block1_0_bn", "n:conv2_block1_1_conv", "n:conv2_block1_1_bn",
                      "n:conv2_block1_1_relu", "n:conv2_block1_2_conv", "n:conv2_block1_2_bn",
                      "n:conv2_block1_2_relu", "n:conv2_block1_3_conv", "n:conv2_block1_3_bn", "n:conv2_block1_add",
                      "n:conv2_block1_out"]
    page.click("[data-box='n:conv2_block1_2_conv']")
    assert page.inner_text("#file-tabs .open").endswith(os.path.join("blocks", "resnet.yaml"))
    assert "name: 2_conv" in page.inner_text("#lines .line.hl")
    page.click("#viewport .cluster[data-frame='conv2_block1'] text")       # its frame's title closes it
    assert "f:conv2_block1" in boxes(page)
    page.fill("#search", "conv4_block6_3_conv")
    page.press("#search", "Enter")
    assert boxes(page, ".selected") == ["n:conv4_block6_3_conv"]
    assert page.errors == []


@pytest.mark.slow
def test_runs_of_a_sweep_are_plotted_side_by_side(browser, server, folder):
    import builder
    builder.sweep(spec_path("lenet5"), "digits", {"defaults.activation": ["relu", "tanh"]},
                  fixed={"training.epochs": 3}, out=str(folder / "runs" / "sweep"))
    page = open_spec(browser, server, "mine.yaml")
    page.wait_for_selector("#runs-tab:not([hidden])", timeout=5000)
    page.click("#runs-tab")
    page.wait_for_function("() => (document.body.dataset.runs || '').includes('tanh')")
    runs = page.get_attribute("body", "data-runs").split(",")
    assert runs == ["runs/sweep/defaults.activation=relu", "runs/sweep/defaults.activation=tanh"]
    assert page.eval_on_selector_all("#charts figure", "f => f.map(x => x.dataset.metric)")[:2] == ["accuracy", "loss"]
    legend = page.inner_text("figure[data-metric='loss'] .u-legend")
    for run in ("defaults.activation=relu", "defaults.activation=tanh"):      # the sweep's folder left out
        assert f"{run} loss" in legend and f"{run} val_loss" in legend
    table = page.inner_text("#metrics-table")
    assert all(run in table for run in runs) and "test_accuracy" in table
    assert "name: lenet5" in page.inner_text("#run-spec") and '"seed"' in page.inner_text("#run-record")
    assert page.errors == []


@pytest.mark.slow
def test_a_language_model_run_charts_its_perplexity(browser, server, folder):
    """A task's own metrics (a language model's perplexity) reach the runs' charts and table."""
    import builder
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(["the cat sat in the garden .", "a dog ran to the park ."] * 60) + "\n")
    builder.train(spec_path("gpt2"), str(corpus), out=str(folder / "runs" / "lm"), epochs=2, verbose=0,
                  overrides={"scale": "tiny", "layers.token_embedding.output_dim": 16,
                             "layers.transformer_layer_.repeat": 1, "layers.position_embedding.sequence_length": 8})
    page = open_spec(browser, server, "mine.yaml")
    page.wait_for_selector("#runs-tab:not([hidden])", timeout=5000)
    page.click("#runs-tab")
    page.wait_for_function("() => (document.body.dataset.runs || '').includes('runs/lm')")
    assert "perplexity" in page.eval_on_selector_all("#charts figure", "f => f.map(x => x.dataset.metric)")
    assert "test_perplexity" in page.inner_text("#metrics-table")
    assert page.errors == []


def test_a_folder_opens_on_a_spec_that_builds_never_fetches_and_keeps_long_lines_and_numbers_readable(
        browser, tmp_path):
    """The page once opened on the first spec alphabetically (broken), tried to download a backbone's weights at
    every view, cut long YAML lines at the pane's edge, wrote a search's 16-digit floats in legends and table, and
    plotted runs on different data on one chart."""
    (tmp_path / "a_broken.yaml").write_text("name: broken\ninput: [4]\nlayers: [dense_typo: 3]\noutput: 2\n")
    (tmp_path / "b_backbone.yaml").write_text(
        "name: backbone\ndescription: '" + "a long description line " * 30 + "'\ninput: [32, 32, 3]\nlayers:\n"
        "  - keras_application: {model: MobileNetV2, weights: imagenet, include_top: false, pooling: avg,\n"
        "                        arguments: {alpha: 0.35}}\noutput: {units: 10}\n")
    runs = {"runs/search/01-learning_rate=0.0007056544958930657": "digits", "runs/mine": "mine.csv"}
    for run, data in runs.items():
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "run.json").write_text(json.dumps({"data": data, "seed": 0}))
        (tmp_path / run / "history.json").write_text(json.dumps([{"epoch": 1, "accuracy": 0.5, "loss": 1.0},
                                                                 {"epoch": 2, "accuracy": 0.7, "loss": 0.8}]))
        (tmp_path / run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.7}))
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    server = Server(tmp_path, env={"KERAS_HOME": str(keras_home)})
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        page.wait_for_selector("body[data-state='ready']", timeout=60000)
        assert page.input_value("#spec-select") == "b_backbone.yaml"          # the first spec that builds
        assert "parameters" in page.inner_text("#totals")
        assert not (keras_home / "models").exists()                        # no weights fetched, none cached
        wrapped = page.eval_on_selector_all("#lines .line", "rows => rows.map(r => [r.scrollWidth, r.clientWidth])")
        assert all(scroll <= client for scroll, client in wrapped)
        page.click("#runs-tab")
        page.wait_for_function("() => (document.body.dataset.runs || '').includes('runs/mine')")
        figures = page.eval_on_selector_all("#charts figure", "f => f.map(x => [x.dataset.metric, x.dataset.data])")
        assert figures == [["accuracy", "mine.csv"], ["loss", "mine.csv"], ["accuracy", "digits"], ["loss", "digits"]]
        legend = page.inner_text("figure[data-data='digits'][data-metric='loss'] .u-legend")
        assert "learning_rate=0.0007057 loss" in legend and "0.00070565" not in legend
        assert "learning_rate=0.0007057" in page.inner_text("#metrics-table")
    finally:
        assert server.stop() == (130, "error: interrupted\n")
