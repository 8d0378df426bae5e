"""What `serve` shows: a spec file, or a folder's specs and run folders; each
spec's view built once per change, and the changes themselves (watchfiles),
as server-sent events. Only the specs and runs listed here are ever read for
the page: the texts of the files a spec includes travel inside its view, so
no request reads a file by a path the browser chose."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading

from ..errors import BuilderError, SpecError
from ..spec import reader
from . import diagram, runs

MAX_SPECS = 500
WATCHED = (".yaml", ".yml", ".json", ".csv")


class Site:
    """What one `serve` shows: a spec file, or a folder of specs and runs."""

    def __init__(self, target: str, failure=None):
        """`failure(err)`: the one line the CLI prints for an exception (default: a BuilderError's own line)."""
        self.failure = failure or _rendered
        self.target = os.path.abspath(target)
        self.folder = self.target if os.path.isdir(self.target) else os.path.dirname(self.target)
        self.shown = _as_given(self.target)  # how messages name it: from the current folder
        self.version = 0
        self.views: dict = {}  # spec -> its view at self.version
        self.listing: tuple = (-1, [])  # (version, specs) the folder held, read once per version
        self.included: set = set()  # folders of files the specs read, outside self.folder
        self.lock = threading.Lock()  # one build at a time: Keras's global state
        self.changed: asyncio.Condition | None = None
        self.stopping = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rewatch = asyncio.Event()  # set: the watcher stops, and starts again unless stopping

    # --- what may be asked for ----------------------------------------------------

    def specs(self) -> list[str]:
        """The specs served, as the page names them (paths relative to the folder)."""
        if not os.path.isdir(self.target):
            return [os.path.basename(self.target)]
        version = self.version
        if self.loop is not None and self.listing[0] == version:  # the watcher keeps the version current
            return list(self.listing[1])
        found = []
        for folder, files in runs.walk(self.folder):
            for name in files:
                path = os.path.join(folder, name)
                if name.endswith((".yaml", ".yml")) and not os.path.islink(path) and _is_spec(path):
                    found.append(os.path.relpath(path, self.folder).replace(os.sep, "/"))
            if len(found) >= MAX_SPECS:
                break
        self.listing = (version, sorted(found)[:MAX_SPECS])
        return list(self.listing[1])

    def runs(self) -> list[str]:
        return runs.find_runs(self.folder) if os.path.isdir(self.target) else []

    def index(self) -> dict:
        return {"title": self.shown, "specs": self.specs(), "runs": self.runs(), "version": self.version}

    # --- views ---------------------------------------------------------------------

    def view(self, spec: str) -> dict | None:
        """A spec's view (built once per version), or None for a spec not served."""
        if spec not in self.specs():
            return None
        with self.lock:
            key = (spec, self.version)
            if key not in self.views:
                self.views = {k: v for k, v in self.views.items() if k[1] == self.version}
                self.views[key] = self.build(spec)
            return self.views[key]

    def build(self, spec: str) -> dict:
        path = os.path.normpath(os.path.join(_as_given(self.folder), spec))
        try:
            view = diagram.diagram(path)
        except Exception as err:  # noqa: BLE001 - every failure is the CLI's one line, on the page
            view = diagram.failed(err, self.failure(err))
        outside = {os.path.dirname(os.path.abspath(file)) for file in view.get("files", ())}
        outside = {where for where in outside if os.path.relpath(where, self.folder).startswith("..")}
        if not outside <= self.included:
            self.included |= outside
            if self.loop is not None:  # the watcher starts again, watching these folders too
                self.loop.call_soon_threadsafe(lambda: self.rewatch.set())
        view["version"] = self.version
        return view

    def run(self, folder: str) -> dict | None:
        if folder not in self.runs():
            return None
        return {"path": folder, **runs.read_run(os.path.join(self.folder, folder))}

    # --- changes -------------------------------------------------------------------

    async def watch(self):
        """Bump the version and tell the pages whenever a watched file changes;
        the folders of included files outside the folder are watched too."""
        import watchfiles

        while not self.stopping.is_set():
            self.rewatch = asyncio.Event()
            folders = sorted({self.folder, *self.included})
            async for _ in watchfiles.awatch(
                *folders, debounce=50, step=20, stop_event=self.rewatch, recursive=True, watch_filter=_watched
            ):
                self.version += 1
                async with self.changed:
                    self.changed.notify_all()

    async def start(self):
        self.loop = asyncio.get_running_loop()
        self.changed = asyncio.Condition()
        return asyncio.ensure_future(self.watch())

    def stop_soon(self):
        """End the event streams (from a signal handler: the server waits for open responses to end)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._stop()))

    async def _stop(self):
        self.stopping.set()
        self.rewatch.set()
        async with self.changed:
            self.changed.notify_all()

    async def events(self):
        """Server-sent events: the version now, then each new one."""
        yield f"retry: 500\ndata: {json.dumps({'version': self.version})}\n\n"
        seen = self.version
        while not self.stopping.is_set():
            async with self.changed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 15)
            if self.version != seen:
                seen = self.version
                yield f"data: {json.dumps({'version': seen})}\n\n"
            else:
                yield ": still here\n\n"  # a comment keeps proxies and the browser's timer quiet


def _rendered(err: BaseException) -> str:
    if isinstance(err, BuilderError):
        return err.render()
    raise err


def _is_spec(path) -> bool:
    """A YAML file that is a spec (not a block library or another YAML file); one
    that does not parse may be a spec being edited, so it is shown with its error."""
    try:
        data = reader.load_file(path).data
    except SpecError:
        return True
    return isinstance(data, dict) and bool({"layers", "extends"} & set(data))


def _watched(change, path) -> bool:
    """Specs, run files, and folders (a new run folder: files made at once inside it may pass unseen)."""
    name = os.path.basename(path)
    return (
        not name.startswith(".")
        and (name.endswith(WATCHED) or "." not in name)
        and "/." not in path.replace(os.sep, "/")
    )


def _as_given(path) -> str:
    """`path` relative to the current folder where it lies under it, as the CLI names files."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
