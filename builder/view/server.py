"""`serve`: the live page's local web server (Starlette on Uvicorn).

Routes: the page, its packaged assets (`/static/`), `/api/index` (the specs
and runs served), `/api/spec?path=` and `/api/run?path=` (one of those, by
the name the index gives it; any other name is a 404) and `/api/events` (a
server-sent event per change). Requests must name this machine as their host
(no DNS rebinding), and pages may load nothing from elsewhere (CSP).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys

from ..errors import DependencyError, FlagError
from .site import Site

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def app(site: Site, hosts=LOCAL_HOSTS):
    """The Starlette application serving `site`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    def found(value):
        if value is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(value, headers={"cache-control": "no-store"})

    async def page(request):
        return FileResponse(os.path.join(STATIC, "index.html"), headers={"cache-control": "no-store"})

    async def index(request):
        return found(await run_in_threadpool(site.index))

    async def spec(request):
        return found(await run_in_threadpool(site.view, request.query_params.get("path", "")))

    async def run(request):
        return found(await run_in_threadpool(site.run, request.query_params.get("path", "")))

    async def events(request):
        return StreamingResponse(
            site.events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    @contextlib.asynccontextmanager
    async def lifespan(_):
        watcher = await site.start()
        try:
            yield
        finally:
            await site._stop()
            watcher.cancel()

    routes = [
        Route("/", page),
        Route("/api/index", index),
        Route("/api/spec", spec),
        Route("/api/run", run),
        Route("/api/events", events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return _Headers(
        Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])
    )


class _Headers:
    """Adds the security headers to every response."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        async def sending(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.inner(scope, receive, sending)


def serve(target: str, host: str = "127.0.0.1", port: int = 8000, out=sys.stdout, failure=None) -> None:
    """Serve `target` (a spec file or a folder) until Ctrl-C; prints the address
    (port 0 takes a free port) once the first spec is built. `failure(err)`: the
    line the page shows for a spec that fails to build (the CLI's)."""
    try:
        import starlette  # noqa: F401
        import uvicorn
        import watchfiles  # noqa: F401
    except ImportError as err:
        raise DependencyError(
            f"serve needs {err.name}: pip install starlette uvicorn watchfiles (or the project's `serve` extra)"
        ) from None
    if not os.path.exists(target):
        raise FlagError(f"{target}: no such file or folder")
    site = Site(target, failure)
    listening = _bind(host, port)
    first = site.specs()[:1]
    if first:
        site.view(first[0])  # built before the address is printed: the first page is at once complete
    hosts = ["*"] if host in ("0.0.0.0", "::") else [*LOCAL_HOSTS, host]
    config = uvicorn.Config(
        app(site, hosts), log_level="warning", access_log=False, timeout_graceful_shutdown=1, lifespan="on"
    )
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"Serving {site.shown} at http://{shown_host}:{listening.getsockname()[1]}/ (Ctrl-C stops)",
        file=out,
        flush=True,
    )
    server = stopping_server(config, site)
    server.run(sockets=[listening])
    if server.stopped_by is not None:  # Uvicorn re-raises the signal on some paths and returns on others
        raise KeyboardInterrupt


def stopping_server(config, site):
    """A Uvicorn server that ends the page's event streams when told to stop (Ctrl-C), as
    shutting down waits for open responses and a stream stays open for as long as its page."""
    import uvicorn

    class Server(uvicorn.Server):
        stopped_by = None  # the signal that stopped it (Ctrl-C), if one did

        def handle_exit(self, sig, frame):
            self.stopped_by = sig
            super().handle_exit(sig, frame)
            site.stop_soon()

    return Server(config)


def _bind(host, port) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as err:
        listening.close()
        if err.errno == errno.EADDRINUSE:
            raise FlagError(
                f"cannot serve on {host}:{port}: the port is in use; choose another with --port "
                "(--port 0 takes a free one)"
            ) from None
        raise FlagError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
    listening.listen(2048)  # from the printed address on, connections wait for the server, not refused
    return listening
