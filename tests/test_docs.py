"""The docs say what the code does: generated references are fresh, every
command and shipped spec is documented, and documented examples run."""

import json
import os
import re

import pytest

from conftest import ROOT, shipped_specs

README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def test_layer_reference_is_generated_from_the_registry():
    from builder.io import layer_docs
    with open(layer_docs.TARGET, encoding="utf-8") as handle:
        assert handle.read() == layer_docs.render(), "docs/layers.md is stale: run python tools/regenerate.py"


def test_the_data_table_is_the_sources_table():
    """docs/training.md's table of --data forms is made from the one table of sources, as --help's line is."""
    from builder.cli import _parser
    from builder.training import sources
    training = open(os.path.join(ROOT, "docs", "training.md"), encoding="utf-8").read()
    assert sources.markdown_table() in training, "docs/training.md's data table: paste sources.markdown_table()"
    assert len(sources.markdown_table().splitlines()) == 2 + sum(len(s.docs) for s in sources.SOURCES) == 12
    train = _parser()._subparsers._group_actions[0].choices["train"]
    assert " ".join(sources.help_text().split()) in " ".join(train.format_help().split())


def test_every_command_is_in_the_readme():
    from builder.cli import COMMANDS
    for command in COMMANDS:
        assert re.search(rf"^\| `{command}[ `]", README, re.M), command


def test_every_shipped_spec_is_in_the_readme():
    for name in shipped_specs():
        assert f"specs/{name}.yaml" in README, name


def test_quick_start_is_the_two_ci_commands():
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    block = README.split("## Quick start", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    commands = list(block.strip().splitlines())
    assert commands == ['pip install -e ".[test]" && python cli.py build specs/alexnet.yaml', "python -m pytest"]
    for command in commands:
        assert command in ci


def test_readme_json_example_is_what_build_prints(cli):
    example = re.search(r'^\{"name": "lenet5".*\}$', README, re.M).group(0)
    code, out, _ = cli("build", os.path.join(ROOT, "specs", "lenet5.yaml"), "--set", "defaults.activation=prelu",
                       "--json")
    assert json.loads(out.splitlines()[-1]) == json.loads(example)


def test_lenet_in_the_readme_is_the_shipped_spec():
    from builder.spec import reader as loader
    shown = README.split("```yaml", 1)[1].split("```", 1)[0]
    shipped = loader.load_file(os.path.join(ROOT, "specs", "lenet5.yaml")).data
    data = loader.load_text(shown).data
    assert {k: v for k, v in shipped.items() if k != "description"} == data


DOCS = ["README.md", *sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                              if f.endswith(".md"))]


def yaml_examples(text, kind=""):
    """The ```yaml blocks of a Markdown text of one kind: "" whole specs; "fragment" complete parts
    of a spec shown on their own (sections, or a list of entries), which validate set into a spec;
    "excerpt" parts that name what is defined around them (a block, an input, an earlier entry)."""
    return [body for found, body in re.findall(r"```yaml(?: (fragment|excerpt))?\n(.*?)```", text, re.S)
            if found == kind]


def _examples(kind=""):
    return [(doc, i) for doc in DOCS
            for i in range(len(yaml_examples(open(os.path.join(ROOT, doc), encoding="utf-8").read(), kind)))]


# A spec a fragment is set into: its sections replace these (a list of entries replaces the layers).
FRAGMENT_HOME = {"name": "t", "input": [8, 8, 1], "layers": ["flatten"], "output": {"units": 10}}


@pytest.mark.parametrize("doc, index", _examples("fragment"))
def test_doc_fragments_validate_in_a_spec(doc, index, monkeypatch):
    """Every fragment is a complete part of a spec: set into a small spec, it validates
    (includes are read from specs/, as the shipped specs read theirs)."""
    import builder
    from builder.spec import language, reader
    snippet = yaml_examples(open(os.path.join(ROOT, doc), encoding="utf-8").read(), "fragment")[index]
    snippet = snippet.replace("\n      ...\n", "\n")
    if all(line.lstrip().startswith("#") for line in snippet.strip().splitlines()):
        assert "yaml-language-server" in snippet     # a comment alone: the editor modeline
        return
    data = reader.load_text(snippet, doc).data
    spec = dict(FRAGMENT_HOME)
    if isinstance(data, list):
        spec["layers"] = data
    else:
        assert isinstance(data, dict) and set(data) <= set(language.SpecFile.model_fields), sorted(data)
        if "inputs" in data:
            spec.pop("input")
        spec.update(data)
    monkeypatch.chdir(os.path.join(ROOT, "specs"))
    builder.validate(data=spec)


@pytest.mark.parametrize("doc, index", _examples("excerpt"))
def test_doc_excerpts_are_valid_yaml(doc, index):
    from builder.spec import reader
    snippet = yaml_examples(open(os.path.join(ROOT, doc), encoding="utf-8").read(), "excerpt")[index]
    assert reader.load_text(snippet.replace("\n      ...\n", "\n"), doc).data


@pytest.mark.parametrize("doc, index", _examples())
def test_doc_examples_validate_and_build(doc, index, monkeypatch):
    """A whole spec in the docs builds. One that names its file in its first
    line (`# specs/resnet101.yaml`) is that file; others read includes from the doc's folder."""
    import builder
    text = yaml_examples(open(os.path.join(ROOT, doc), encoding="utf-8").read())[index]
    named = re.match(r"# (\S+\.yaml)\n", text)
    if named and os.path.exists(os.path.join(ROOT, named.group(1))):
        from builder.spec import reader
        shipped = reader.load_file(os.path.join(ROOT, named.group(1))).data
        assert {k: v for k, v in shipped.items() if k != "description"} == reader.load_text(text).data
        monkeypatch.chdir(os.path.dirname(os.path.join(ROOT, named.group(1))))
    else:
        monkeypatch.chdir(os.path.dirname(os.path.join(ROOT, doc)))
    builder.validate(text=text)
    model = builder.build(text=text)
    assert model.count_params() > 0


@pytest.mark.parametrize("script", [
    pytest.param(f, marks=() if f == "build_time.py" else pytest.mark.slow)   # one in the quick suite
    for f in sorted(os.listdir(os.path.join(ROOT, "benchmarks"))) if f.endswith(".py")])
def test_every_benchmark_starts(script):
    """The benchmarks docs/benchmarks.md quotes still import what they use (their --help runs their imports)."""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), "--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-1000:]
    assert result.stdout.startswith("usage: ")


def doc_commands(shown_output=False):
    """(doc, command line) of every `python cli.py ...` in the README's and docs' console blocks; with
    `shown_output`, (doc, command line, the line the doc shows after it or "")."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```console\n(.*?)```", open(os.path.join(ROOT, doc), encoding="utf-8").read(), re.S):
            lines = block.splitlines()
            for i, line in enumerate(lines):
                line = re.sub(r"^\$ ", "", line.split("  #")[0].strip()).split(" | ")[0]
                after = lines[i + 1] if i + 1 < len(lines) else ""
                for command in line.split(" && "):
                    if command.startswith("python cli.py "):
                        found.append((doc, command, after) if shown_output else (doc, command))
    return found


def doc_files() -> dict:
    """The files the docs show whole: a YAML block whose first line names it (`# tune.yaml`)."""
    shown = {}
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc), encoding="utf-8").read()
        shown.update({m.group(1): body for body in re.findall(r"```yaml(?: excerpt)?\n(.*?)```", text, re.S)
                      if (m := re.match(r"# (\S+\.yaml)\n", body))})
    return shown


@pytest.mark.parametrize("doc, command", doc_commands(), ids=lambda x: x if x.endswith(".md") else x[14:50])
def test_every_documented_command_is_one_the_cli_takes(doc, command, tmp_path, monkeypatch):
    """Each command in the README and docs/ parses as written, and its spec — shipped, shown whole in a doc
    (`# tune.yaml`), or written by an earlier command of the doc (`-o FILE`) — validates with the command's
    --set and --scale; a search's spec has a `search:` section. (docs/search.md once searched
    specs/lenet5.yaml, which has none.)"""
    import shlex

    from builder import cli
    args = cli._parser().parse_args(shlex.split(command)[2:])
    spec = getattr(args, "spec", None) or getattr(args, "source", None)
    if args.command not in ("build", "validate", "train", "sweep", "search", "export", "plot") or spec is None:
        return
    if not spec.endswith(".yaml"):                  # a saved model (export MODEL.keras), not a spec
        return
    shown = doc_files()
    written = {shlex.split(c)[shlex.split(c).index("-o") + 1] for d, c in doc_commands() if d == doc and " -o " in c}
    if spec in written and spec not in shown:
        return                                      # made by an earlier command (import -o mobilenet_v2.yaml)
    if not os.path.exists(os.path.join(ROOT, spec)):
        assert spec in shown, f"{doc}: `{command}` names {spec}, which is neither shipped nor shown in the doc"
        os.symlink(os.path.join(ROOT, "specs"), tmp_path / "specs")
        (tmp_path / spec).write_text(shown[spec])
        monkeypatch.chdir(tmp_path)
    else:
        monkeypatch.chdir(ROOT)
    overrides = {"scale": args.scale} if getattr(args, "scale", None) else {}
    if args.command == "sweep":
        for item in args.overrides:
            path, value = item.split("=", 1)
            overrides[path] = value.split(",")[0]
    else:
        overrides.update(dict(item.split("=", 1) for item in getattr(args, "overrides", [])))
    import builder
    loaded = builder.load_spec(spec, overrides=overrides)
    builder.validate(spec, overrides=overrides)
    if args.command == "search":
        assert loaded.search, f"{doc}: `{command}`: {spec} has no search: section"


def _runnable(command, here) -> bool:
    """Whether this checkout holds what `command` reads: its spec or model, and its data (digits, or a file)."""
    import shlex

    from builder import cli
    args = cli._parser().parse_args(shlex.split(command)[2:])
    if args.command == "serve" or getattr(args, "coordinator", None) or "KERAS_DISTRIBUTION" in command:
        return False                                # runs until stopped; needs other hosts
    reads = [getattr(args, name, None) for name in ("spec", "source", "model", "data")]
    return all(path is None or path == "digits" or "*" in path or os.path.exists(here / path) for path in reads)


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if any(c[0] == d for c in doc_commands())])
def test_documented_commands_run_as_written(doc, tmp_path):
    """Every documented command whose spec, model and data a checkout holds (shipped specs, files the docs
    show whole, digits, what an earlier command of the doc wrote) runs as written, in the doc's order: exit 0,
    or where the doc shows an error after it, that very line."""
    import subprocess
    os.symlink(os.path.join(ROOT, "specs"), tmp_path / "specs")
    os.symlink(os.path.join(ROOT, "cli.py"), tmp_path / "cli.py")
    for name, text in doc_files().items():
        if not os.path.exists(os.path.join(ROOT, name)):
            (tmp_path / name).write_text(text)
    ran = 0
    for _, command, after in (c for c in doc_commands(shown_output=True) if c[0] == doc):
        if not _runnable(command, tmp_path):
            continue
        result = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
        if ": error: " in after:
            assert (result.returncode, result.stderr.strip()) == (1, after.strip()), command
        else:
            assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
        ran += 1
    if not ran:
        pytest.skip(f"{doc}: its commands read data a checkout does not hold")
