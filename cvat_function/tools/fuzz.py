"""Fuzz soak: mixed good and hostile requests against functions served by `serve`, over HTTP only.

It starts `serve` (127.0.0.1, free ports) for the given function folders, or talks to `--url`, and sends a
shuffled mix of CVAT's own requests and the hostile cases of `hostile.py` (generated at run time from a seed)
over a few keep-alive connections, each request with a timeout, until the request count or the time budget is
spent. It reports: requests, answers per status class, 5xx (target 0: no input may cause one), good requests
not answered 200, hostile requests not answered as expected, hangs (requests past the timeout: target 0),
5xx bodies that carry a traceback or a file path, and the peak resident memory of the server and its workers
(sampled from /proc every 0.2 s).

It only speaks HTTP to the function's port, so it holds whatever the server is built on.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config import load_function_config
from . import hostile
from .answer_checks import synthetic_request
from .http_client import Client
from .serve_process import ServeProcess, rss_bytes

_LEAK = re.compile(r"Traceback \(most recent call last\)|File \"/|/[\w.-]+/[\w.-]+\.py")


@dataclass(slots=True)
class Target:
    """One function under fuzz: its URL, kind and the cases to send."""

    name: str
    kind: str
    url: str
    cases: list[hostile.Case] = field(default_factory=list)


@dataclass(slots=True)
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    hangs: int = 0
    connection_errors: int = 0
    leaks: int = 0
    slowest_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_cases(kind: str, client: Client, rng: random.Random, malformed: int) -> list[hostile.Case]:
    """The good request of `kind` plus every hostile class; a tracker's forged states start from a real one."""
    image = hostile.png(64, 48)
    good = synthetic_request(kind, image, (64, 48))
    cases = [hostile.Case("CVAT's request", json.dumps(good).encode(), expect="ok")]
    cases += hostile.body_cases(kind, good, rng) + hostile.image_cases(kind, good, rng, malformed)
    if kind == "tracker":
        answer = client.post_json(good)
        states = answer.json().get("states") if answer.status == 200 else None
        if isinstance(states, list) and states:
            cases += hostile.state_cases(good, states[0], rng)
    return cases


def _verdict(case: hostile.Case, status: int) -> bool:
    if case.expect == "ok":
        return status == 200
    if case.expect == "4xx":
        return 400 <= status < 500
    return status < 500


def run_fuzz(
    function_dirs: Sequence[str | Path] = (".",),
    *,
    url: str | None = None,
    kind: str | None = None,
    requests: int = 2000,
    seconds: float = 300.0,
    concurrency: int = 4,
    good_share: float = 0.3,
    timeout: float = 60.0,
    seed: int = 0,
    malformed: int = 200,
    workers: int | None = None,
    log_path: str | Path | None = None,
) -> dict[str, Any]:
    """Run the fuzz soak; returns the figures (see `format_fuzz`)."""
    rng = random.Random(seed)
    folders = [Path(d).resolve() for d in function_dirs]
    serve: ServeProcess | None = None
    peak = [0, 0]
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="cvat-fuzz-") as tmp:
        if url is None:
            args = [a for folder in folders for a in ("--only", str(folder))] + ["--quiet"]
            args += ["--workers", str(workers)] if workers else []
            # serve finds a root's own function and its examples/*: one folder is its own root, several the cwd's
            root = folders[0] if len(folders) == 1 else Path.cwd()
            serve = ServeProcess(root, args, log_path=log_path or Path(tmp) / "serve.log").start()
        try:
            targets: list[Target] = []
            if serve is not None:
                serve.wait_ready(180)
                for folder in folders:
                    config = load_function_config(folder / "function.yaml")
                    targets.append(Target(config.name, config.kind, serve.url(config.name)))
            else:
                assert url is not None
                target_kind = kind or load_function_config(folders[0] / "function.yaml").kind
                targets.append(Target(url, target_kind, url))
            for target in targets:
                with Client(target.url, timeout) as client:
                    target.cases = build_cases(target.kind, client, rng, malformed)
            sampler = threading.Thread(target=_sample_rss, args=(serve, peak, stop), daemon=True)
            sampler.start()
            tally, wall = _fire(targets, rng, requests, seconds, concurrency, good_share, timeout)
            stop.set()
            sampler.join(timeout=5)
        finally:
            stop.set()
            if serve is not None:
                serve.stop()
    return {
        "functions": [f"{t.name} ({t.kind}, {len(t.cases)} cases)" for t in targets],
        "requests": tally.requests,
        "concurrency": concurrency,
        "seconds": wall,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "server_errors": sum(tally.server_errors.values()),
        "server_error_cases": dict(tally.server_errors.most_common(20)),
        "unexpected": sum(tally.unexpected.values()),
        "unexpected_cases": dict(tally.unexpected.most_common(20)),
        "hangs": tally.hangs,
        "connection_errors": tally.connection_errors,
        "leaks": tally.leaks,
        "slowest_s": tally.slowest_s,
        "timeout_s": timeout,
        "peak_rss_mb": peak[0] / 2**20,
        "processes": peak[1],
    }


def _sample_rss(serve: ServeProcess | None, peak: list[int], stop: threading.Event) -> None:
    """Peak summed RSS (peak[0]) and the most processes seen (peak[1]), until `stop`."""
    while serve is not None and not stop.is_set():
        pids = serve.pids()
        peak[0], peak[1] = max(peak[0], rss_bytes(pids)), max(peak[1], len(pids))
        stop.wait(0.2)


def _fire(
    targets: list[Target],
    rng: random.Random,
    requests: int,
    seconds: float,
    concurrency: int,
    good_share: float,
    timeout: float,
) -> tuple[Tally, float]:
    plan: list[tuple[Target, hostile.Case]] = []
    for _ in range(requests):
        target = rng.choice(targets)
        good = [c for c in target.cases if c.expect == "ok"]
        choices = good if rng.random() < good_share else target.cases
        plan.append((target, rng.choice(choices)))
    tally = Tally()
    local = threading.local()
    opened: list[dict[str, Client]] = []
    deadline = time.monotonic() + seconds
    started = time.perf_counter()

    def one(item: tuple[Target, hostile.Case]) -> None:
        if time.monotonic() > deadline:
            return
        target, case = item
        clients: dict[str, Client] | None = getattr(local, "clients", None)
        if clients is None:
            clients = local.clients = {}
            with tally.lock:
                opened.append(clients)
        client = clients.get(target.url) or clients.setdefault(target.url, Client(target.url, timeout))
        begun = time.perf_counter()
        status, body, hang, broken = 0, b"", False, False
        try:
            answer = client.request("POST", case.body, {"Content-Type": case.content_type})
            status, body = answer.status, answer.body
        except TimeoutError:
            hang = True
            client.close()
        except OSError:
            broken = True
            client.close()
        elapsed = time.perf_counter() - begun
        label = f"{target.name}: {case.name}"
        with tally.lock:
            tally.requests += 1
            tally.slowest_s = max(tally.slowest_s, elapsed)
            if hang:
                tally.hangs += 1
                tally.unexpected[f"{label} (hang)"] += 1
                return
            if broken:
                tally.connection_errors += 1
                tally.unexpected[f"{label} (connection error)"] += 1
                return
            tally.statuses[status] += 1
            if status >= 500:
                tally.server_errors[f"{label} → {status}"] += 1
                if _LEAK.search(body.decode("utf-8", "replace")):
                    tally.leaks += 1
            if not _verdict(case, status):
                tally.unexpected[f"{label}: expected {case.expect}, got {status}"] += 1

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, plan))
    for clients in opened:
        for client in clients.values():
            client.close()
    return tally, time.perf_counter() - started


def format_fuzz(result: dict[str, Any]) -> str:
    lines = [
        f"fuzz: {result['requests']} request(s), concurrency {result['concurrency']}, {result['seconds']:.1f} s",
        *(f"  function    {name}" for name in result["functions"]),
        f"  statuses    {result['statuses']}",
        f"  5xx         {result['server_errors']}  (target 0)",
        f"  hangs       {result['hangs']}  (no answer within {result['timeout_s']:g} s; target 0)",
        f"  unexpected  {result['unexpected']}  (a good request not 200, a bad one not 4xx, a dropped connection)",
        f"  leaks       {result['leaks']}  (5xx bodies with a traceback or a file path; target 0)",
        f"  slowest     {result['slowest_s']:.2f} s",
    ]
    if result["processes"]:
        lines.append(
            f"  memory      peak {result['peak_rss_mb']:.0f} MiB RSS, server + {result['processes'] - 1} worker(s)"
        )
    for title, key in (("5xx", "server_error_cases"), ("unexpected", "unexpected_cases")):
        for case, count in result[key].items():
            lines.append(f"  {title}: {count} × {case}")
    return "\n".join(lines)
