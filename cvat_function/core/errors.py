"""The errors the framework raises, each naming what is wrong and what to do.

`RequestError` becomes a 4xx answer whose JSON body names the field; `ShapeError` names the label, the field
and the rule a model result broke; `SpecError` names the function.yaml entry CVAT would reject; `ModelError`
wraps an exception raised by the user's model and becomes a 500.
"""

from __future__ import annotations

from typing import Any


class CvatFunctionError(Exception):
    """Base class of every error this package raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as `type(self)(*self.args)`, but these take other arguments than their message. A
        # process pool (cvat-cli's agent runs the function in one) must get the error back whole, not a TypeError.
        return (_restore, (type(self), str(self), dict(self.__dict__)))


def _restore(cls: type[CvatFunctionError], message: str, state: dict[str, Any]) -> CvatFunctionError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class RequestError(CvatFunctionError):
    """The request cannot be answered: answered with `status` (4xx) and a JSON body naming `field`."""

    def __init__(self, field: str, expected: str, *, got: str | None = None, status: int = 400) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        self.status = status
        message = f"{field}: expected {expected}"
        if got is not None:
            message += f", got {got}"
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": str(self), "field": self.field, "expected": self.expected}
        if self.got is not None:
            body["got"] = self.got
        return body


class ShapeError(CvatFunctionError):
    """A shape the model returned would be dropped or rejected by CVAT."""

    def __init__(self, label: str, field: str, rule: str, *, index: int | None = None) -> None:
        self.label = label
        self.field = field
        self.rule = rule
        self.index = index
        where = f"shape #{index} " if index is not None else ""
        super().__init__(f"{where}(label {label!r}) field {field!r}: {rule}")

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "field": self.field, "rule": self.rule, "index": self.index}


class InvalidShapesError(CvatFunctionError):
    """One or more shapes broke the answer rules (`rules.py`); raised in strict mode (tests, the CLI)."""

    def __init__(self, errors: list[ShapeError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors)
        super().__init__(
            f"the model returned {len(errors)} shape(s) CVAT would drop or reject:\n{lines}\n"
            "Fix the model output or the label spec in function.yaml."
        )


class SpecError(CvatFunctionError):
    """function.yaml or its label spec is something CVAT cannot list or would misread."""

    def __init__(self, where: str, problem: str, fix: str = "") -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class ModelError(CvatFunctionError):
    """The user's model raised while answering a request, or answered something unusable; answered with a 500.

    `str(error)` is the whole story, for the function's log; `public` is what the client gets: the model's
    own exception message can carry file paths and data, so it stays in the log."""

    def __init__(self, message: str, *, public: str | None = None) -> None:
        super().__init__(message)
        self.public = message if public is None else public
