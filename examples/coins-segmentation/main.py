"""Nuclio entry point (`spec.handler: main:handler`). Thin glue: the work is in cvat_function.core.runtime.

`init_context` runs once per worker: it reads the labels from the function.yaml next to this file
(/opt/nuclio/function.yaml in the deployed image; $CVAT_FUNCTION_YAML overrides), loads ModelHandler and
warms it up. `handler` answers each CVAT request with JSON.
"""

from pathlib import Path
from typing import Any

from cvat_function.core.runtime import handle_event, init_function
from model_handler import ModelHandler

FUNCTION_YAML = Path(__file__).with_name("function.yaml")


def init_context(context: Any) -> None:
    init_function(context, ModelHandler, FUNCTION_YAML)


def handler(context: Any, event: Any) -> Any:
    return handle_event(context, event)
