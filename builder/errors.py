"""The errors builder raises, and the helpers that give a SpecError its place:
`at()` adds spec path segments as the walk unwinds, `in_source()` hands the
path to the document it belongs to (reader.Source.locate), which turns it into
file:line:col. The CLI prints any BuilderError as one line."""

from __future__ import annotations

import contextlib
import difflib
import re


class BuilderError(Exception):
    """A failure the user can act on: the CLI prints it as one line and exits 1."""

    def render(self) -> str:
        return f"error: {self}"


class FlagError(BuilderError):
    """A command-line flag or argument (or a library call's argument of the
    same meaning) that cannot be used as given: `error: --FLAG …`."""


class DeviceError(BuilderError):
    """Devices that cannot be had or set as asked (--device, --distribute, --cpu-devices)."""


class DependencyError(BuilderError):
    """A package or program the asked-for work needs is not installed (or does not import); says how to install it."""


class DataError(BuilderError):
    """Something wrong with the data (a file, a folder, arrays) rather than the
    spec, named with its line where it has one: `DATA[:LINE]: error: message`."""

    def __init__(self, file, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.data_file = str(file)
        self.data_line = line

    def render(self) -> str:
        where = f"{self.data_file}:{self.data_line}" if self.data_line else self.data_file
        return f"{where}: error: {self.message}"


class ModelError(BuilderError):
    """A Keras model (saved or in memory) that cannot be turned into a spec or read as asked."""


class RunFolderError(BuilderError):
    """A run folder that cannot be used as asked (--out, --resume)."""


class SpecError(BuilderError):
    """A problem in a spec, with where it is and what was expected.

    `path` is a tuple of keys and indices (`("layers", 3, "conv2d", "filters")`);
    `file`, `line` and `col` (1-based) are filled in once the path meets the
    document it belongs to. `via` lists the block instances the error was
    reached through, outermost first, as (path, file, line) tuples.
    """

    def __init__(self, message: str, path=(), file=None, line=None, col=None):
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        self.file = file
        self.line = line
        self.col = col
        self.via: list[tuple[str, str | None, int | None]] = []

    def at(self, *keys) -> SpecError:
        """Put this error under `keys` (relative to where it is raised)."""
        self.path = tuple(keys) + self.path
        return self

    @property
    def located(self) -> bool:
        return self.file is not None

    def path_text(self) -> str:
        return format_path(self.path)

    kind = "error"

    def render(self) -> str:
        """`FILE:LINE:COL: error: PATH: message`, the CLI's one-line form."""
        text = f"{self.file}:{self.line or 1}:{self.col or 1}: " if self.file else ""
        text += f"{self.kind}: "
        if self.path:
            text += f"{self.path_text()}: "
        text += self.message
        for path, file, line in self.via:
            text += f" (in block instance {path} at {file}:{line})"
        return text

    def __str__(self) -> str:
        return self.render() if (self.file or self.path) else self.message


class SpecNote(SpecError):
    """Something in a spec that builds, but likely not as its author meant:
    located like an error, rendered `FILE:LINE:COL: warning: ...`."""

    kind = "warning"


class BuilderWarning(UserWarning):
    """A warning the command line prints as its own one line (its text begins `warning:` or is located)."""


class SpecWarning(BuilderWarning):
    """The Python warning a SpecNote is issued as (its text is the note's one line)."""


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` says memory ran out: Python's MemoryError, or a backend's
    allocator (TensorFlow's ResourceExhaustedError, XLA's RESOURCE_EXHAUSTED)."""
    if isinstance(err, MemoryError):
        return True
    text = str(err)[:4000]
    return "OOM when allocating" in text or "RESOURCE_EXHAUSTED" in text or "ResourceExhausted" in text


def format_path(path) -> str:
    """('layers', 3, 'conv2d', 'filters') -> 'layers[3].conv2d.filters'."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else str(key)
    return text


@contextlib.contextmanager
def at(*keys):
    """Prefix the path of any SpecError raised inside with `keys`."""
    try:
        yield
    except SpecError as err:
        if not err.located:
            err.path = tuple(keys) + err.path
        raise


@contextlib.contextmanager
def in_source(source):
    """Give an unlocated SpecError raised inside the file, line and column of
    its path in `source` (a reader.Source)."""
    try:
        yield
    except SpecError as err:
        if not err.located:
            source.locate(err)
        raise


# Keras 2's, PyTorch's and other common names for Keras 3's arguments, too far
# from them by spelling for a close match: suggested where the name is known.
ALIASES = {
    "lr": "learning_rate",
    "eps": "epsilon",
    "betas": "beta_1",
    "wd": "weight_decay",
    "out_features": "units",
    "num_units": "units",
    "out_channels": "filters",
    "num_filters": "filters",
    "kernel": "kernel_size",
    "stride": "strides",
    "p": "rate",
    "dropout_rate": "rate",
    "num_layers": "layers",
    "dim": "axis",
    "init": "kernel_initializer",
}


def suggest(name, known) -> str:
    """' Did you mean 'x'?' for the closest known name (or the Keras 3 name of an alias), or ''."""
    known = [str(k) for k in known]
    alias = ALIASES.get(str(name))
    close = [alias] if alias in known else difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


# names said letter by letter that begin with a vowel sound (an LSTM, an RMS norm), and words that begin with a "you"
_SAID_WITH_AN = ("lstm", "rms", "mlp", "hf", "fnet", "llm", "nlp", "sdpa", "rnn", "mha", "swiglu")
_SAID_WITH_A = ("uni", "unet", "use", "usu", "one")


def article(word) -> str:
    """`word` with its indefinite article, as it is said: an embedding, an lstm, a unet, a dense."""
    text = str(word)
    first = text.lower().split("_")[0]
    vowel = first[:1] in ("a", "e", "i", "o", "u") and not first.startswith(_SAID_WITH_A)
    return f"{'an' if vowel or first in _SAID_WITH_AN else 'a'} {text}"


def unknown(kind: str, name, known, of: str = "") -> SpecError:
    """The standard error for a name that isn't one of `known` (`of`: ' for conv2d')."""
    known = sorted(set(map(str, known)))
    listing = ", ".join(known) if len(known) <= 40 else ", ".join(known[:40]) + ", ..."
    return SpecError(f"unknown {kind} '{name}'{of}.{suggest(name, known)} Known: {listing}.")


def describe(value) -> str:
    """A received value as the messages show it: `'abc' (a string)`."""
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "null",
    }
    kind = kinds.get(type(value), type(value).__name__)
    if value is None:
        return "null"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kind})"


def first_line(err: BaseException, limit: int = 300, *, named: bool = False) -> str:
    """An exception's message as one line for a one-line report: its first
    line that says something (after Keras's 'Exception encountered when
    calling …' wrapper), without terminal colours, TensorFlow's op decorations
    ({{function_node …}}, [Op:…]) or runs of white space, at most `limit`
    characters; the exception's class name where it says nothing, or before
    the line when `named`. The one helper for this: every one-line report uses it."""
    text = getattr(err, "message", None) or str(err)
    lines = [_ANSI.sub("", line).strip() for line in str(text).splitlines()]
    lines = [line for line in lines if line]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]
    line = _SPACE.sub(" ", _TF_DECORATION.sub("", lines[0])).strip()[:limit] if lines else ""
    if named:
        return f"{type(err).__name__}: {line}"
    return line or type(err).__name__


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TF_DECORATION = re.compile(r"\{\{.*?\}\}|\[Op:.*")
_SPACE = re.compile(r"\s+")
