"""One worker process of `serve`, playing the part of Nuclio's `_nuclio_wrapper.py`.

The server starts one of these per `numWorkers` as a fresh interpreter with the function's environment
(`spec.env`, `NUCLIO_*`, the function folder first on PYTHONPATH). It imports the handler, runs
`init_context` once, reports `ready` (or `init_error` with the reason and traceback, and exits, as the wrapper does),
then answers one event at a time: the event is decoded by `nuclio_sdk.Event.deserialize` and the answer
encoded by `nuclio_sdk.Response.from_entrypoint_output` (both via `wire`), exactly as in Nuclio.

Messages travel over an inherited socket (`--fd`) as pickles, so the handler's `print()` goes to the
server's log, not into the channel.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvat_function.tools.worker")
    parser.add_argument("--fd", type=int, required=True, help="inherited socket to the server")
    parser.add_argument("--handler", default="main:handler")
    parser.add_argument("--worker-id", default="0")
    parser.add_argument("--trigger", default="default-http")
    args = parser.parse_args(argv)
    conn = Connection(args.fd)
    sys.path.insert(0, os.getcwd())  # Nuclio prepends the function folder (/opt/nuclio) to PYTHONPATH

    from . import wire
    from .entry import import_entry

    logger = wire.make_logger(sys.stderr, name=f"worker-{args.worker_id}")
    context = wire.make_context(logger, worker_id=args.worker_id, trigger=args.trigger)
    loop = asyncio.new_event_loop()
    started = time.perf_counter()
    try:
        module_name, _, function_name = args.handler.partition(":")
        module = import_entry(module_name, os.getcwd())  # main.py, or the generic entry without one
        handler = getattr(module, function_name or "handler")
        init = getattr(module, "init_context", None)
        if init is not None:
            result = init(context)
            if inspect.isawaitable(result):
                loop.run_until_complete(result)
    except BaseException as e:  # the wrapper exits on any failure here; the server reports it
        # the reason for the dashboard's status, the traceback for serve's log only
        conn.send(("init_error", f"{type(e).__name__}: {e}", "".join(traceback.format_exception(e))))
        return 1
    conn.send(("ready", time.perf_counter() - started))

    def call_handler(ctx: Any, event: Any) -> Any:
        output = handler(ctx, event)
        return loop.run_until_complete(output) if inspect.isawaitable(output) else output

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return 0
        if message is None:
            return 0
        event = wire.make_event(
            message["body"],
            message["content_type"],
            headers=message["headers"],
            method=message["method"],
            path=message["path"],
            trigger=args.trigger,
            fields=message["fields"],
        )
        response = wire.call(call_handler, context, event)
        conn.send(("response", response.status, response.content_type, response.body, response.headers))


if __name__ == "__main__":
    sys.exit(main())
