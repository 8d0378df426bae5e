"""`serve` without a browser: the diagram data the page draws, the run
folders it reads, and the server's refusals (paths, hosts) over real HTTP.
The page itself is tested in Chromium in tests/test_page.py."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import threading
import time

import pytest

from builder.view import diagram, runs
from builder.view.site import Site
from conftest import SPECS, run_cli_process, shipped_specs, spec_path


def test_lenet5_diagram_has_its_counts_shapes_and_lines():
    view = diagram.diagram(spec_path("lenet5"))
    assert view["totals"]["params"] == 61706
    nodes = {n["id"]: n for n in view["nodes"]}
    assert list(nodes) == ["input", "c1", "s2", "c3", "s4", "c5", "flatten", "f6", "predictions"]
    assert nodes["c3"]["shape"] == "(None, 10, 10, 16)"
    assert (nodes["c3"]["params"], nodes["c3"]["macs"]) == (2416, 240000)
    assert sum(n["params"] for n in nodes.values()) == 61706
    assert nodes["c3"]["inputs"] == ["s2"]
    text = open(spec_path("lenet5")).read().splitlines()
    entry, default = nodes["c3"]["lines"]        # its entry, then where its activation was set (defaults)
    assert "name: c3" in text[entry[1] - 1] and entry[1] == entry[2]
    assert text[default[1] - 1].strip() == "activation: tanh"
    assert len(nodes["s2"]["lines"]) == 1         # pooling takes no activation from defaults
    assert view["files"] == [spec_path("lenet5")] and view["texts"][spec_path("lenet5")] == "\n".join(text) + "\n"


def test_resnet50_diagram_nests_repeats_and_block_instances():
    view = diagram.diagram(spec_path("resnet50"))
    assert view["totals"]["params"] == 25636712
    assert sum(n["params"] for n in view["nodes"]) == 25636712
    frames = view["frames"]
    stage = next(f for f in frames.values() if f["label"] == "conv2_block ×3")
    assert stage["count"] == 3 and stage["parent"] is None
    instances = [k for k, f in frames.items() if f["parent"] is not None and f["label"].startswith("conv2_block")]
    assert instances == ["conv2_block1", "conv2_block2", "conv2_block3"]
    assert frames["conv2_block1"]["block"] == "residual"
    inside = [n for n in view["nodes"] if "conv2_block1" in n["frames"]]
    assert [n["id"] for n in inside][-1] == "conv2_block1_out" and len(inside) == 12
    library = os.path.relpath(os.path.join(SPECS, "blocks", "resnet.yaml"))    # named as the CLI names it
    conv = next(n for n in inside if n["id"] == "conv2_block1_2_conv")
    files = [line[0] for line in conv["lines"]]
    assert files[0] == library and os.path.relpath(spec_path("resnet")) in files     # the block entry, the instance
    library_text = open(library).read().splitlines()
    assert "name: 2_conv" in library_text[conv["lines"][0][1] - 1]
    assert view["files"][0] == spec_path("resnet50") and library in view["files"]


def test_head_pooling_is_drawn_between_the_body_and_the_output(write_spec):
    path = write_spec("name: t\ninput: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 3}\n"
                      "output: {units: 2, pool: global_average}\n")
    nodes = diagram.diagram(path)["nodes"]
    assert [n["type"] for n in nodes][-2:] == ["output pooling", "output"]
    assert nodes[-1]["inputs"] == [nodes[-2]["id"]] and nodes[-2]["inputs"] == ["conv2d"]


def test_a_failing_spec_is_the_cli_line_and_its_file(write_spec, cli):
    path = write_spec("name: t\ninput: [4]\nlayers:\n  - dense: 8\n  - dropuot: 0.5\noutput: {units: 2}\n")
    site = Site(os.path.dirname(path))
    view = site.view("spec.yaml")
    code, _, err = cli("validate", path)
    assert code == 1 and view["error"]["message"] == err.strip()
    assert (view["error"]["file"], view["error"]["line"]) == (path, 5)
    assert "dropuot" in view["texts"][path]


def test_a_folder_lists_specs_but_not_block_libraries_or_other_yaml(tmp_path):
    shutil.copy(spec_path("lenet5"), tmp_path / "a.yaml")
    (tmp_path / "blocks").mkdir()
    shutil.copy(os.path.join(SPECS, "blocks", "resnet.yaml"), tmp_path / "blocks" / "resnet.yaml")
    (tmp_path / "ci.yaml").write_text("jobs: {build: {steps: []}}\n")
    (tmp_path / "typo.yaml").write_text("name: [\n")               # being edited: shown with its error
    (tmp_path / ".hidden").mkdir()
    shutil.copy(spec_path("lenet5"), tmp_path / ".hidden" / "b.yaml")
    os.symlink("/etc", tmp_path / "etc")
    assert Site(str(tmp_path)).specs() == ["a.yaml", "typo.yaml"]


def test_only_listed_specs_and_runs_are_read(tmp_path):
    shutil.copy(spec_path("lenet5"), tmp_path / "a.yaml")
    site = Site(str(tmp_path / "a.yaml"))
    for asked in ("../a.yaml", str(tmp_path / "a.yaml"), "/etc/passwd", "a.yaml/..", "", "A.yaml"):
        assert site.view(asked) is None
        assert site.run(asked) is None
    assert site.runs() == []            # a spec file serves no runs


def _history(folder, rows, name="history.json"):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as out:
        json.dump(rows, out)


def test_runs_are_found_under_the_folder(tmp_path):
    _history(tmp_path / "runs" / "a", [{"epoch": 1, "loss": 1.0}])
    _history(tmp_path / "runs" / "sweep" / "relu", [])
    (tmp_path / "runs" / "b").mkdir()
    (tmp_path / "runs" / "b" / "history.csv").write_text("epoch,loss\n")
    _history(tmp_path / "runs" / "a" / "checkpoints", [])           # a run's own sub-folders are not runs
    _history(tmp_path / "one" / "two" / "three" / "four" / "five", [])     # deeper than a sweep goes
    assert runs.find_runs(str(tmp_path)) == ["runs/a", "runs/b", "runs/sweep/relu"]
    assert runs.find_runs(str(tmp_path / "runs" / "a")) == ["."]


def test_a_run_still_training_is_read_from_its_csv(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,accuracy,loss,val_loss\n0,0.5,1.2,1.3\n1,0.7,0.8,nan\n2,0.8")
    run = runs.read_run(str(tmp_path))
    assert run["history"] == [{"epoch": 1, "accuracy": 0.5, "loss": 1.2, "val_loss": 1.3},
                              {"epoch": 2, "accuracy": 0.7, "loss": 0.8, "val_loss": None},
                              {"epoch": 3, "accuracy": 0.8, "loss": None, "val_loss": None}]
    assert run["problems"] == []


@pytest.mark.parametrize("name, content, problem", [
    ("history.json", '[{"epoch": 1, "loss": 0.5}', "history.json: not JSON"),
    ("history.json", '{"epoch": 1}', "history.json: expected a JSON list"),
    ("metrics.json", "\x00\x01", "metrics.json: not JSON"),
    ("run.json", "[]", "run.json: expected a JSON dict"),
])
def test_broken_run_files_are_named_not_raised(tmp_path, name, content, problem):
    (tmp_path / name).write_text(content)
    run = runs.read_run(str(tmp_path))
    assert [p.split(" (")[0] for p in run["problems"]] == [problem]


def test_symbolic_links_in_a_run_folder_are_not_followed(tmp_path):
    """A run folder's spec.yaml or run.json linking outside the folder (/etc/passwd, a private file) was served."""
    secret = tmp_path / "private.txt"
    secret.write_text("not for the page")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "history.json").write_text('[{"epoch": 1, "loss": 0.5}]')
    os.symlink(secret, tmp_path / "run" / "spec.yaml")
    os.symlink(secret, tmp_path / "run" / "run.json")
    run = runs.read_run(str(tmp_path / "run"))
    assert (run["spec"], run["record"]) == ("", {})
    assert run["problems"] == ["run.json: a symbolic link, not read", "spec.yaml: a symbolic link, not read"]
    assert run["history"] == [{"epoch": 1, "loss": 0.5}]


def test_nan_in_a_history_plots_as_a_gap(tmp_path):
    (tmp_path / "history.json").write_text('[{"epoch": 1, "loss": NaN}, {"epoch": 2, "loss": Infinity}]')
    assert runs.read_run(str(tmp_path))["history"] == [{"epoch": 1, "loss": None}, {"epoch": 2, "loss": None}]


@contextlib.contextmanager
def serving(target):
    """The server of `target` in this process (on a free port), for requests a browser would not make."""
    import uvicorn

    from builder.view import server
    site = Site(str(target))
    listening = server._bind("127.0.0.1", 0)
    instance = server.stopping_server(uvicorn.Config(server.app(site), log_level="warning",
                                                     timeout_graceful_shutdown=1), site)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.02)
    try:
        yield listening.getsockname()[1], site
    finally:
        instance.handle_exit(signal.SIGINT, None)
        thread.join(10)
        assert not thread.is_alive()


def request(port, path, host=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", path, skip_host=host is not None)
    if host is not None:
        connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    return response.status, response.read(), dict(response.getheaders())


def test_requests_outside_the_served_folder_are_refused(tmp_path):
    _history(tmp_path / "runs" / "a", [{"epoch": 1, "loss": 0.5}])
    (tmp_path / "secret.txt").write_text("secret")
    with serving(tmp_path) as (port, _):
        assert json.loads(request(port, "/api/index")[1])["runs"] == ["runs/a"]
        status, body, _ = request(port, "/api/run?path=runs/a")
        assert status == 200 and json.loads(body)["history"] == [{"epoch": 1, "loss": 0.5}]
        for path in ("/api/run?path=../", "/api/run?path=runs/a/../..", "/api/run?path=/etc",
                     f"/api/run?path={tmp_path}/runs/a", "/api/spec?path=../secret.txt", "/api/spec?path=/etc/passwd",
                     "/static/../../secret.txt", "/static/..%2f..%2fsite.py", "/static/%2e%2e/server.py",
                     "/../secret.txt", "/secret.txt", "/etc/passwd"):
            status, body, _ = request(port, path)
            assert status == 404, path
            assert b"secret" not in body and b"import" not in body


def test_a_foreign_host_is_refused_and_pages_load_nothing_from_elsewhere(tmp_path):
    with serving(tmp_path) as (port, _):
        assert request(port, "/api/index", host="evil.example:80")[0] == 400      # DNS rebinding
        status, body, headers = request(port, "/", host=f"localhost:{port}")
        assert status == 200 and b'<div id="totals"' in body
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert b"http" not in body.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")   # nothing external


def test_changes_are_pushed_as_events(tmp_path):
    with serving(tmp_path) as (port, site):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/events")
        stream = connection.getresponse()
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.readline().startswith(b"retry:") and stream.readline() == b'data: {"version": 0}\n'
        time.sleep(0.3)                              # the watcher has started
        _history(tmp_path / "runs" / "new", [{"epoch": 1, "loss": 0.5}])
        line = b""
        while not line.startswith(b"data:"):   # the connection's 10 s timeout bounds the wait
            line = stream.readline()
        assert json.loads(line[5:])["version"] >= 1
        assert site.runs() == ["runs/new"]


def test_the_listing_is_read_once_per_version_and_follows_new_files(tmp_path, monkeypatch):
    from builder.view import site as site_module
    shutil.copy(spec_path("lenet5"), tmp_path / "a.yaml")
    parsed = []
    real = site_module._is_spec
    monkeypatch.setattr(site_module, "_is_spec", lambda path: parsed.append(path) or real(path))
    with serving(tmp_path) as (port, site):
        time.sleep(0.3)                              # the watcher has started
        for _ in range(3):
            assert json.loads(request(port, "/api/index")[1])["specs"] == ["a.yaml"]
        assert len(parsed) == 1                      # one walk of the folder for the version, not one per request
        version = site.version
        shutil.copy(spec_path("lenet5"), tmp_path / "b.yaml")
        started = time.monotonic()
        while site.version == version and time.monotonic() - started < 5:
            time.sleep(0.02)
        assert json.loads(request(port, "/api/index")[1])["specs"] == ["a.yaml", "b.yaml"]


def test_the_printed_address_takes_connections_before_the_server_runs():
    """A browser (or a test) opening the address the moment it is printed waits, instead of being refused."""
    from builder.view import server
    listening = server._bind("127.0.0.1", 0)
    try:
        socket.create_connection(listening.getsockname(), timeout=2).close()
    finally:
        listening.close()


def test_serve_failures_are_one_line():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        result = run_cli_process("serve", "specs/lenet5.yaml", "--port", port, env={"KERAS_BACKEND": "jax"})
    finally:
        busy.close()
    assert result.returncode == 1
    assert result.stderr == (f"error: cannot serve on 127.0.0.1:{port}: the port is in use; choose another with "
                             "--port (--port 0 takes a free one)\n")
    result = run_cli_process("serve", "no/such/spec.yaml")
    assert (result.returncode, result.stderr) == (1, "error: no/such/spec.yaml: no such file or folder\n")
    result = run_cli_process("serve", "specs", "--port", "70000")
    assert result.returncode == 2 and "expected a port number from 0 to 65535, got '70000'" in result.stderr


def test_the_page_scripts_are_the_vendored_npm_releases():
    from tools import vendor_js
    assert vendor_js.check() == []
    manifest = json.load(open(vendor_js.MANIFEST))
    assert sorted(manifest) == sorted(vendor_js.PACKAGES)
    for package, files in vendor_js.PACKAGES.items():
        assert any(name.endswith("LICENSE") for name in files.values()), package


@pytest.mark.parametrize("missing", ["uvicorn", "watchfiles"])
def test_serve_without_its_packages_names_the_extra(cli, monkeypatch, missing):
    import sys
    monkeypatch.setitem(sys.modules, missing, None)                   # as if it were not installed
    code, out, err = cli("serve", "specs/lenet5.yaml")
    assert (code, out) == (1, "")
    assert err == (f"error: serve needs {missing}: pip install starlette uvicorn watchfiles "
                   "(or the project's `serve` extra)\n")


def test_a_file_the_spec_extends_from_another_folder_is_followed(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "served").mkdir()
    shutil.copy(spec_path("lenet5"), tmp_path / "base" / "lenet5.yaml")
    (tmp_path / "served" / "mine.yaml").write_text("extends: ../base/lenet5.yaml\nset: {layers.6.dense.units: 42}\n")
    with serving(tmp_path / "served") as (port, site):
        view = json.loads(request(port, "/api/spec?path=mine.yaml")[1])
        assert [n["shape"] for n in view["nodes"] if n["id"] == "f6"] == ["(None, 42)"]
        assert any(f.endswith(os.path.join("base", "lenet5.yaml")) for f in view["files"])
        deadline = time.monotonic() + 5
        while site.rewatch.is_set() or str(tmp_path / "base") not in site.included:   # watching base/ too
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        before = site.version
        base = tmp_path / "base" / "lenet5.yaml"
        base.write_text(base.read_text().replace("filters: 6,", "filters: 5,"))
        while site.version == before:
            assert time.monotonic() < deadline + 2
            time.sleep(0.05)
        view = json.loads(request(port, "/api/spec?path=mine.yaml")[1])
        assert [n["shape"] for n in view["nodes"] if n["id"] == "c1"] == ["(None, 28, 28, 5)"]


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped_specs())
def test_every_shipped_spec_is_drawn_with_the_built_models_counts(name):
    """The diagram builds without initializing weights (StatelessScope); its counts are the model's."""
    import builder
    view = diagram.diagram(spec_path(name))
    model = builder.build(spec_path(name))
    assert view["totals"]["params"] == model.count_params() == sum(n["params"] for n in view["nodes"])
    calls = [n["id"] for n in view["nodes"] if not n["type"].startswith("share of")]   # a shared layer's later
    assert sorted(calls) == sorted(layer.name for layer in model.layers)                   # calls are boxes too
    assert view["totals"]["macs"] == builder.describe(model)["macs"]


def test_a_spec_that_only_extends_shows_its_own_file_first():
    view = diagram.diagram(spec_path("resnet101"))
    assert view["files"][0] == spec_path("resnet101") and "scale: 101" in view["texts"][spec_path("resnet101")]
    assert view["totals"]["params"] == 44_707_176
    assert os.path.relpath(spec_path("resnet")) in view["files"]
