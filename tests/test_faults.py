"""Faults a user meets, run as the user runs them: `python cli.py ...` in a
fresh process. Each asserts the exit status, the one line on stderr, and
that nothing outside the named output was lost or written."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_cli_process, spec_path

CLI = os.path.join(ROOT, "cli.py")


def cli_in(folder, *args, timeout=300):
    """`python cli.py ARGS` run from `folder`: (exit status, stdout, stderr)."""
    result = subprocess.run([sys.executable, CLI, *map(str, args)], capture_output=True, text=True, cwd=folder,
                            timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def one_line(stderr) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr
    return lines[0]


def snapshot(folder) -> dict:
    return {os.path.relpath(os.path.join(here, f), folder): os.path.getmtime(os.path.join(here, f))
            for here, _, files in os.walk(folder) for f in files}


def test_export_into_an_existing_folder_keeps_its_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    (tmp_path / "beside.txt").write_text("also mine")
    code, _, err = cli_in(tmp_path, "export", spec_path("lenet5"), "--format", "savedmodel", "-o", "out")
    assert code == 1
    assert one_line(err) == "error: out already exists; choose another name, or pass --overwrite to replace it"
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    code, _, err = cli_in(tmp_path, "export", spec_path("lenet5"), "--format", "savedmodel", "-o", ".")
    assert code == 1 and one_line(err) == "error: . is the current folder or holds it; name a new file or folder to write"
    assert sorted(os.listdir(tmp_path)) == ["beside.txt", "out"]
    code, _, err = cli_in(tmp_path, "export", spec_path("lenet5"), "--format", "savedmodel", "-o", "out",
                          "--overwrite")
    assert code == 0, err[-2000:]
    assert "saved_model.pb" in os.listdir(tmp_path / "out") and "notes.txt" not in os.listdir(tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["beside.txt", "out"]        # no staging left, nothing else touched


@pytest.mark.slow
def test_outputs_that_cannot_be_written_are_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = cli_in(tmp_path, "build", spec_path("lenet5"), "-o", "file/model.keras")
    assert code == 1 and one_line(err) == f"error: cannot write file/model.keras: {tmp_path / 'file'} is a file, not a folder"
    code, _, err = cli_in(tmp_path, "schema", "-o", "/proc/no-such-dir/schema.json")
    assert code == 1 and one_line(err) == "error: /proc/no-such-dir: No such file or directory"
    (tmp_path / "m.keras").mkdir()
    code, _, err = cli_in(tmp_path, "build", spec_path("lenet5"), "-o", "m.keras")
    assert code == 1 and one_line(err) == ("error: m.keras already exists; choose another name, or pass --overwrite "
                                           "to replace it")


def test_a_spec_name_is_never_a_path(tmp_path):
    (tmp_path / "s.yaml").write_text('name: ".."\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 10}\n')
    before = snapshot(tmp_path)
    for command in (("validate", "s.yaml"), ("train", "s.yaml", "--data", "digits", "--epochs", "1")):
        code, _, err = cli_in(tmp_path, *command)
        assert code == 1
        assert one_line(err) == ("s.yaml:1:1: error: name: expected the model's name, of letters, digits and _ . - "
                                 "starting with a letter or digit (it also names the run folder, runs/NAME), got "
                                 "'..' (a string)")
    assert snapshot(tmp_path) == before


def test_fifo_and_device_inputs_are_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "pipe.yaml")
    os.symlink("/dev/urandom", tmp_path / "random.yaml")
    (tmp_path / "s.yaml").write_text("name: s\nimports: [pipe.yaml]\ninput: [4]\nlayers: [dense: 2]\noutput: none\n")
    for name, expected in [
        ("pipe.yaml", "pipe.yaml:1:1: error: cannot read the spec: it is a FIFO (named pipe), not a file"),
        ("random.yaml", "random.yaml:1:1: error: cannot read the spec: it is a character device, not a file"),
        ("s.yaml", f"s.yaml:2:11: error: imports[0]: cannot import 'pipe.yaml': it is a FIFO (named pipe), not a "
                   f"file ({tmp_path / 'pipe.yaml'})"),
    ]:
        code, _, err = cli_in(tmp_path, "validate", name, timeout=60)   # a blocking read would hang past it
        assert (code, one_line(err)) == (1, expected)


def test_an_import_fan_out_finishes_at_once(tmp_path):
    """9 libraries, each importing the next 10 times: 10^8 loads if each import read its file again."""
    for i in range(9):
        imports = [f"lib{i + 1}.yaml"] * 10 if i < 8 else []
        (tmp_path / f"lib{i}.yaml").write_text(f"imports: {imports}\nblocks:\n  b{i}:\n    layers: [dense: 2]\n")
    (tmp_path / "s.yaml").write_text("name: s\nimports: [lib0.yaml]\ninput: [4]\nlayers: [b8, dense: 2]\n"
                                     "output: none\n")
    code, out, err = cli_in(tmp_path, "validate", "s.yaml", timeout=60)   # 10^8 loads would run far past it
    assert (code, out, err) == (0, "s.yaml: ok\n", "")


def test_a_closed_pipe_is_not_a_traceback():
    result = subprocess.run(f"{sys.executable} {CLI} layers | head -1", shell=True, capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.stdout.startswith("activation ")
    assert result.stderr == ""


@pytest.mark.slow
def test_debug_shows_the_traceback_one_line_otherwise(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"a,b,label\n1,2,\xff\n")
    code, _, err = cli_in(tmp_path, "train", spec_path("lenet5"), "--data", "d.csv")
    assert code == 1 and one_line(err) == "d.csv:2: error: not UTF-8 text (byte 0xff)"
    code, _, err = cli_in(tmp_path, "--debug", "train", spec_path("lenet5"), "--data", "d.csv")
    assert code == 1 and "Traceback" in err


def _start_training(folder, out, epochs=40):
    return subprocess.Popen([sys.executable, CLI, "train", spec_path("lenet5"), "--data", "digits", "--epochs",
                             str(epochs), "--out", out], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(path, process, timeout=180):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    first = _start_training(tmp_path, "run")
    try:
        _wait_for(tmp_path / "run" / ".lock", first)
        code, _, err = cli_in(tmp_path, "train", spec_path("lenet5"), "--data", "digits", "--out", "run")
        assert code == 1
        assert one_line(err) == (f"error: run is in use by another training run (PID {first.pid}); wait for it to "
                                 "finish, or choose another --out")
    finally:
        first.kill()
        first.communicate()


@pytest.mark.slow
def test_ctrl_c_stops_at_an_epoch_and_resume_continues(tmp_path):
    run = _start_training(tmp_path, "run", epochs=30)
    _wait_for(tmp_path / "run" / "checkpoint" / "state.json", run)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130
    done = json.load(open(tmp_path / "run" / "checkpoint" / "state.json"))["epoch"]
    assert one_line(err) == (f"error: interrupted at epoch {done + 1}; resume with: python {CLI} train "
                             f"{spec_path('lenet5')} --data digits --epochs 30 --out run --resume")
    code, out, err = cli_in(tmp_path, "train", spec_path("lenet5"), "--data", "digits", "--epochs", str(done + 2),
                            "--out", "run", "--resume")
    assert code == 0, err[-2000:]
    history = json.load(open(tmp_path / "run" / "history.json"))
    assert [h["epoch"] for h in history] == list(range(1, done + 3))


@pytest.mark.slow
def test_resume_after_the_spec_was_edited_is_refused(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(open(spec_path("lenet5")).read())
    code, _, err = cli_in(tmp_path, "train", "s.yaml", "--data", "digits", "--epochs", "1", "--out", "run")
    assert code == 0, err[-2000:]
    spec.write_text(spec.read_text().replace("filters: 6", "filters: 8"))
    before = snapshot(tmp_path / "run")
    code, _, err = cli_in(tmp_path, "train", "s.yaml", "--data", "digits", "--epochs", "2", "--out", "run", "--resume")
    assert code == 1
    assert one_line(err) == ("error: --resume: the spec (after extends and --set) differs from what run was started "
                             "with; resume with the same spec and data, or train into another --out")
    assert snapshot(tmp_path / "run") == before


ENOSPC_AFTER = """
import errno, os, sys
sys.argv = ["cli.py"] + sys.argv[1:]
real, writes = os.replace, []
def full(src, dst):
    writes.append(dst)
    if len(writes) > {after}:
        raise OSError(errno.ENOSPC, "No space left on device", dst)
    return real(src, dst)
os.replace = full
from builder.cli import main
sys.exit(main())
"""


@pytest.mark.slow
def test_a_full_disk_stops_with_a_resumable_run(tmp_path):
    """The disk fills during epoch 2's checkpoint (every write after the first
    epoch's last.keras, best.keras and state.json fails): one line, exit 1, and
    epoch 1's checkpoint and state intact and resumable."""
    script = tmp_path / "full.py"
    script.write_text(ENOSPC_AFTER.format(after=3))
    result = subprocess.run([sys.executable, str(script), "train", spec_path("lenet5"), "--data", "digits", "--epochs",
                             "5", "--out", "run"], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("error: the disk is full (No space left on device, writing ")
    assert line.endswith("Stopped at epoch 2; resume with: python cli.py train "
                         f"{spec_path('lenet5')} --data digits --epochs 5 --out run --resume")
    state = json.load(open(tmp_path / "run" / "checkpoint" / "state.json"))
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert sorted(os.listdir(tmp_path / "run" / "checkpoint")) == ["best.keras", "last.keras", "state.json"]
    code, _, err = cli_in(tmp_path, "train", spec_path("lenet5"), "--data", "digits", "--epochs", "2", "--out", "run",
                          "--resume")
    assert code == 0, err[-2000:]
    assert json.load(open(tmp_path / "run" / "metrics.json"))["epochs"] == 2


@contextlib.contextmanager
def small_disk(folder, size):
    """A tmpfs of `size` mounted on `folder` (the test is skipped where none can be mounted)."""
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("this machine does not let the tests mount a tmpfs (the injected ENOSPC test covers a full disk)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.slow
def test_a_real_full_disk_where_a_small_tmpfs_can_be_mounted(tmp_path):
    with small_disk(tmp_path / "disk", "2600k") as disk:
        code, _, err = cli_in(disk, "train", spec_path("lenet5"), "--data", "digits", "--epochs", "30", "--out", "run")
        assert code == 1
        assert one_line(err).startswith("error: the disk is full (No space left on device")
        state = json.load(open(disk / "run" / "checkpoint" / "state.json"))
        assert os.path.exists(disk / "run" / "checkpoint" / "last.keras") and len(state["history"]) == state["epoch"]


@pytest.mark.slow
def test_a_disk_cache_that_fills_the_disk_is_one_line(tmp_path):
    """TensorFlow's own cache writer on a full disk: the same line as any full disk."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(40):
            Image.fromarray((rng.random((32, 32, 3)) * 255).astype("uint8")).save(tmp_path / "images" / label / f"{i}.png")
    (tmp_path / "s.yaml").write_text("name: big\ninput: [32, 32, 3]\nlayers: [flatten]\noutput: {units: 2}\n"
                                     "training: {epochs: 3, cache: disk}\n")
    with small_disk(tmp_path / "disk", "400k") as disk:
        code, _, err = cli_in(disk, "train", tmp_path / "s.yaml", "--data", tmp_path / "images", "--out", "run")
        assert (code, one_line(err)) == (1, "error: the disk is full (No space left on device); free some space. "
                                            "Stopped at epoch 1; no epoch was completed: train again without --resume")


def test_bad_flag_values_are_usage_errors():
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--cpu-devices", "0")
    assert result.returncode == 2 and "argument --cpu-devices: expected a positive integer, got 0" in result.stderr
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--cpu-devices", "100000")
    assert result.returncode == 2 and result.stderr.endswith(
        "argument --cpu-devices: expected at most 64 logical CPU devices, got 100000\n")   # not minutes of devices


def test_a_small_file_is_read_within_a_small_memory_limit(tmp_path):
    """Reading a CSV takes memory for its own size, not for the 4 GiB a file may have at most:
    under a 1 GiB address-space limit a two-row CSV is read (it once failed, out of memory)."""
    (tmp_path / "d.csv").write_text("a,label\n1,0\n2,1\n")
    code = ("import resource\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from builder.files import read_bounded\n"
            f"print(read_bounded({str(tmp_path / 'd.csv')!r}, 4 * 1024 ** 3).decode())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert (result.returncode, result.stdout) == (0, "a,label\n1,0\n2,1\n\n"), result.stderr
    from builder.files import read_bounded
    (tmp_path / "big.csv").write_bytes(b"x" * 1001)
    with pytest.raises(ValueError, match="the file is larger than 1,000 bytes"):
        read_bounded(tmp_path / "big.csv", 1000)
    assert read_bounded(tmp_path / "big.csv", 1001) == b"x" * 1001


@pytest.mark.slow
def test_a_file_size_limit_names_itself_and_leaves_no_staged_checkpoint(tmp_path):
    """`ulimit -f` (EFBIG, not a full disk) once said only `error: File too large` and left
    checkpoint/.best.staged.keras, the best model Keras had begun to write."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 * 1024, 300 * 1024))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), "train", spec_path("lenet5"), "--data",
                             "digits", "--epochs", "2", "--out", "run", "--quiet"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300, preexec_fn=limit)
    assert (result.returncode, one_line(result.stderr)) == (
        1, "error: a file reached the size limit (File too large, writing into run); raise it (ulimit -f). Stopped at "
           "epoch 1; no epoch was completed: train again without --resume")
    assert not list(tmp_path.rglob(".best.staged.keras"))
