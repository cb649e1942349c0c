"""The gateway's HTTP server under idle and half-open connections (issue 30): a flood of them at
a low descriptor limit neither makes /healthz unreachable nor fills the log with tracebacks."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]
DESCRIPTORS = 256


def _low_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


async def _gateway(tmp_path: Path, **env: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
            "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'http.db'}",
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
            "DIGESTBOT_LOG_LEVEL": "INFO",
            **env,
        },
        cwd=REPO,
        stdin=subprocess.PIPE,  # the console channel waits on it; never closed until the end
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_low_descriptors,
    )
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line, "the gateway stopped before its HTTP server listened"
        found = re.search(r"http server listening on 127\.0\.0\.1:(\d+)", line)
        if found:
            return proc, int(found.group(1))


async def _stop(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.terminate()
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return err.decode()


async def _healthz(port: int, tries: int = 1) -> int | str:
    """/healthz's status; a connection closed under a flood (the cap's eviction) is tried again,
    ``tries`` times in all, as a load balancer's health check does."""
    timeout = aiohttp.ClientTimeout(total=10)
    failure = ""
    for _ in range(tries):
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as resp,
            ):
                return resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = type(exc).__name__
    return failure


def test_idle_and_half_open_connections_past_the_descriptors(tmp_path: Path) -> None:
    """More idle connections than the process has descriptors: /healthz still answers, the
    log has no traceback and a handful of lines, and half-open ones are closed in time."""

    async def scenario() -> tuple[int | str, str]:
        proc, port = await _gateway(tmp_path)  # the default bounds
        held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for n in range(DESCRIPTORS + 150):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if n % 2:
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
                held.append((reader, writer))
            await asyncio.sleep(1)
            status = await _healthz(port, tries=3)
        finally:
            for _reader, writer in held:
                writer.close()
            err = await _stop(proc)
        return status, err

    status, err = asyncio.run(scenario())
    assert status == 200, err[-2000:]
    assert "Traceback" not in err
    assert err.count("out of system resource") <= 1
    assert len(err.splitlines()) < 30, err[-2000:]


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), 20) == b""
    except ConnectionResetError:
        return True


def test_busy_gateway_keeps_healthz_for_new_connections(tmp_path: Path) -> None:
    """At the cap, a new connection closes the oldest idle one: the healthy ones get in."""

    async def scenario() -> tuple[list[int | str], bool, str]:
        proc, port = await _gateway(
            tmp_path, DIGESTBOT_HTTP_MAX_CONNECTIONS="16", DIGESTBOT_HTTP_HEADER_TIMEOUT="1"
        )
        held = []
        try:
            for _ in range(40):
                held.append(await asyncio.open_connection("127.0.0.1", port))
            statuses = [await _healthz(port) for _ in range(3)]
            # Half a request's headers, then silence: closed once the header timeout is over.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            held.append((reader, writer))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            closed = await _closed_by_server(reader)
        finally:
            for _reader, writer in held:
                writer.close()
            err = await _stop(proc)
        return statuses, closed, err

    statuses, closed, err = asyncio.run(scenario())
    assert statuses == [200, 200, 200], err[-2000:]
    assert closed
    assert "Traceback" not in err
    assert err.count("the oldest idle one was closed") == 1  # once a minute, the rest counted
