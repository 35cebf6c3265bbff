"""Upstreams on 127.0.0.1: a fast one (nginx when installed, else asyncio) and a slow one.

The fast fallback serves the same JSON body with keep-alive from its own
process, but tops out far below nginx: with it, "direct" rows measure Python,
and the ratios to them flatter the daemon. RESULTS.md says which one ran.
The slow upstream is the same asyncio server answering each request after a
delay: healthy, merely slow, and able to hold thousands of calls at once.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from connector_proxy.sdk.testing import free_port

BODY = b'{"ok": true, "items": [1, 2, 3]}'
NGINX_CONFIG = """
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
"""


@dataclass(frozen=True)
class Upstream:
    url: str
    kind: str  # what served it, for the report


@contextmanager
def fast_upstream(prefer_nginx: bool = True) -> Iterator[Upstream]:
    """Start the upstream, wait until it answers, stop it afterwards."""
    port = free_port()
    nginx = shutil.which("nginx") or _sbin("nginx")
    with tempfile.TemporaryDirectory() as folder:
        if prefer_nginx and nginx:
            config = Path(folder) / "nginx.conf"
            config.write_text(NGINX_CONFIG.format(folder=folder, port=port, body=BODY.decode()))
            command, kind = [nginx, "-c", str(config), "-p", folder], "nginx"
        else:
            command, kind = [sys.executable, "-m", "bench.upstreams", str(port)], "python asyncio (fallback)"
        with _running(command, f"http://127.0.0.1:{port}/items") as url:
            yield Upstream(url, kind)


@contextmanager
def slow_upstream(delay: float) -> Iterator[Upstream]:
    """An upstream that answers every request after ``delay`` seconds, however many are waiting."""
    port = free_port()
    command = [sys.executable, "-m", "bench.upstreams", str(port), str(delay)]
    with _running(command, f"http://127.0.0.1:{port}/slow", delay + 5) as url:
        yield Upstream(url, f"python asyncio, {delay:g} s per answer")


@contextmanager
def _running(command: list[str], url: str, wait: float = 1) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(url, wait)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


def _wait_for(url: str, wait: float, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=wait)
            return
        except requests.ConnectionError:
            time.sleep(0.02)
    raise RuntimeError(f"the upstream at {url} did not start")


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(BODY),
        BODY,
    )
    try:
        while await reader.readuntil(b"\r\n\r\n"):  # GET only: no request body to skip
            if delay:
                await asyncio.sleep(delay)
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(port: int, delay: float) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve(reader, writer, delay)

    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
