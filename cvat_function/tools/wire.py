"""What Nuclio's Python wrapper does around a handler, reproduced with the real `nuclio_sdk` objects.

Used by the tests, `python -m cvat_function invoke` and `bench`, so all of them see the exact bytes a
deployed function would answer:

* the event is built from the wire map with `nuclio_sdk.Event.deserialize`, so the body is a dict only when
  the Content-Type is exactly `application/json`;
* the handler's return value is encoded with `nuclio_sdk.Response.from_entrypoint_output` and the wrapper's
  JSON `Encoder`, including its rule that a top-level list is a batch of which only the first item is sent;
* an exception in the handler becomes a 500 `text/plain` answer carrying the traceback.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import nuclio_sdk
from nuclio_sdk.json_encoder import Encoder

from ..folders import exec_file, isolated_folder
from .http_answer import HttpAnswer

DEFAULT_TRIGGER = "myHttpTrigger"


def make_event(
    body: bytes | str,
    content_type: str = "application/json",
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
    trigger: str = DEFAULT_TRIGGER,
    fields: Mapping[str, str] | None = None,
) -> nuclio_sdk.Event:
    """An HTTP event decoded the way the wrapper decodes the processor's message."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    all_headers = {"Content-Type": content_type, "Content-Length": str(len(raw)), **(headers or {})}
    message = {
        "body": raw,
        "content_type": content_type,
        "headers": all_headers,
        "fields": dict(fields or {}),  # the query parameters
        "id": str(uuid.uuid4()),
        "method": method,
        "path": path,
        "size": len(raw),
        "timestamp": int(time.time()),
        "url": "",
        "shard_id": -1,
        "num_shards": 0,
        "type": "",
        "type_version": "",
        "version": 0,
        "trigger": {"kind": "http", "name": trigger},
        "offset": 0,
        "topic": "",
    }
    return nuclio_sdk.Event.deserialize(message, kind=nuclio_sdk.EventDeserializerKinds.msgpack)


def encode_output(output: Any) -> HttpAnswer:
    """Encode a handler's return value exactly as the wrapper does."""
    if isinstance(output, list):  # the wrapper treats a list as a batch and sends the first answer only
        if not output:
            return HttpAnswer(500, "text/plain", b"")
        output = output[0]
    encoded = nuclio_sdk.Response.from_entrypoint_output(Encoder().encode, output)
    body = encoded["body"]
    raw = base64.b64decode(body) if encoded.get("body_encoding") == "base64" else str(body).encode("utf-8")
    headers = {str(k): v for k, v in (encoded.get("headers") or {}).items() if isinstance(v, str)}
    return HttpAnswer(int(encoded["status_code"]), str(encoded["content_type"]), raw, headers)


def exception_response(exc: BaseException) -> HttpAnswer:
    """The wrapper's answer when the handler raises."""
    text = f'Exception caught in handler - "{exc}": {"".join(traceback.format_exception(exc))}'
    return HttpAnswer(500, "text/plain", text.encode("utf-8"))


def call(handler: Any, context: Any, event: nuclio_sdk.Event) -> HttpAnswer:
    """Call a handler as the wrapper does and return what goes on the wire."""
    try:
        output = handler(context, event)
    except (Exception, SystemExit) as e:  # the wrapper survives both; so must the local loop
        # Nuclio sends this traceback to the client; handle_event never raises, so only a hand-written handler
        # gets here (tests/core/test_runtime.py shows the framework's answers never take this path)
        context.logger.error_with(
            "Exception caught in handler", exc=str(e), traceback="".join(traceback.format_exception(e))
        )
        return exception_response(e)
    return encode_output(output)


def make_logger(stream: TextIO = sys.stderr, level: int = logging.INFO, name: str = "processor") -> nuclio_sdk.Logger:
    logger = nuclio_sdk.Logger(level, name)
    logger.set_handler("default", stream, nuclio_sdk.logger.HumanReadableFormatter())
    return logger


def make_context(
    logger: nuclio_sdk.Logger | None = None, worker_id: str = "0", trigger: str = DEFAULT_TRIGGER
) -> nuclio_sdk.Context:
    """A worker's context as the wrapper builds it (worker id, http trigger, SDK logger)."""
    platform = nuclio_sdk.Platform("local")
    return nuclio_sdk.Context(
        logger or make_logger(), platform, worker_id, nuclio_sdk.event.TriggerInfo("http", trigger)
    )


def load_main(function_dir: str | Path) -> ModuleType:
    """Import `<function_dir>/main.py` the way Nuclio does (its folder first on sys.path), or the generic
    entry (`entry.generic_main`) for a folder that has only model_handler.py.

    Several function folders each have a `main` and a `model_handler`; the modules a folder brings are
    imported under their plain names (so `from model_handler import ModelHandler` works), then removed
    from `sys.modules` again, so the next folder gets its own.
    """
    from .entry import generic_main

    folder = Path(function_dir).resolve()
    main_file = folder / "main.py"
    with isolated_folder(folder, also=("main",)):
        return exec_file("main", main_file) if main_file.is_file() else generic_main(folder)


class LocalFunction:
    """One function folder loaded in this process, answering wire-level requests like one Nuclio worker."""

    def __init__(self, function_dir: str | Path, logger: nuclio_sdk.Logger | None = None) -> None:
        self.dir = Path(function_dir)
        self.module = load_main(self.dir)
        self.context = make_context(logger)
        init = getattr(self.module, "init_context", None)
        started = time.perf_counter()
        if init is not None:
            init(self.context)
        self.init_seconds = time.perf_counter() - started

    def request(self, body: bytes | str | Mapping[str, Any], content_type: str = "application/json") -> HttpAnswer:
        raw = json.dumps(body).encode("utf-8") if isinstance(body, Mapping) else body
        return call(self.module.handler, self.context, make_event(raw, content_type))
