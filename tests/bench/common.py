"""Shared helpers for the benchmarks: timing, percentiles, and synthetic reports."""

from __future__ import annotations

import random
import socket
import statistics
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = REPO.parent / "shared" / "reports" / "2026-01.md"
SAMPLES = REPO / "digests" / "samples"


def seed_text() -> str:
    """The real report when present, else the newest bundled sample."""
    if SEED.exists():
        return SEED.read_text(encoding="utf-8")
    return sorted(SAMPLES.glob("*.md"))[-1].read_text(encoding="utf-8")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each function, run in turn so machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def variant(text: str, month: int, rng: random.Random) -> str:
    """A synthetic month: the seed with another period and shuffled, renamed model names."""
    year, mon = 1990 + month // 12, month % 12 + 1
    period = f"{year:04d}-{mon:02d}"
    out = text.replace("period: 2026-01", f"period: {period}").replace("2026-01", period)
    tag = f"{month}-{rng.randrange(1_000_000)}"
    for name in ("Kimi-K2", "Minimax-M2", "GLM-4.7", "DeepSeek-OCR", "MiMo-V2-Flash"):
        out = out.replace(f"[{name}](", f"[{name}-{tag}](", 1)
    return out


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a gateway the benchmark starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int, timeout: float = 2.0) -> int:
    """The status of the gateway's ``/healthz`` on ``port`` (0 when it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
            return int(resp.status)
    except OSError:
        return 0
