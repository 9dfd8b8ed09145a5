"""Every framework error crosses a process boundary whole (cvat-cli's agent runs the function in a worker
process and pickles what it raises back to the agent)."""

from __future__ import annotations

import pickle

import pytest

from cvat_function.core.errors import (
    CvatFunctionError,
    InvalidShapesError,
    ModelError,
    RequestError,
    ShapeError,
    SpecError,
)
from cvat_function.sdk.function import InvalidAnswerError

ERRORS = [
    RequestError("image", "a base64 string", got="a number (3)", status=413),
    ShapeError("square", "attributes.colour", "must be one of ['white'], got 'purple'", index=2),
    InvalidShapesError([ShapeError("square", "points", "a rectangle needs 4", index=0)]),
    InvalidAnswerError([ShapeError("blob", "mask", "has no foreground pixel")]),
    SpecError("function.yaml: spec", "is not JSON", "write strict JSON"),
    ModelError("ModelHandler.infer raised ValueError: boom"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_an_error_survives_pickling_with_its_message_and_fields(error: CvatFunctionError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert {k: v for k, v in vars(copy).items() if k != "errors"} == {
        k: v for k, v in vars(error).items() if k != "errors"
    }
    if isinstance(error, InvalidShapesError):
        assert isinstance(copy, InvalidShapesError)
        assert [str(e) for e in copy.errors] == [str(e) for e in error.errors]
        assert [e.to_json() for e in copy.errors] == [e.to_json() for e in error.errors]
