"""Property tests: request parsing never crashes on any JSON, serialization is always strict CVAT JSON."""

from __future__ import annotations

import base64
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvat_function import Labels, LabelSpec, RequestError, rectangle
from cvat_function.core.request import decode_base64_image, parse_body, parse_detector_request, parse_threshold
from cvat_function.core.rules import check_shapes
from cvat_function.core.shapes import Shape, attribute_values, polygon

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_any_json_body_is_parsed_or_refused_with_a_400(value):
    for body in (value, json.dumps(value).encode(), json.dumps(value)):
        try:
            request = parse_detector_request(body)
        except RequestError as e:
            assert 400 <= e.status < 500
            assert e.field in ("body", "image", "threshold")
            assert str(e).startswith(f"{e.field}: expected ")
        else:
            assert isinstance(request.image, bytes)
            assert request.image
            assert 0.0 <= request.threshold <= 1.0


@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_a_body_never_escape_as_another_exception(raw):
    try:
        fields = parse_body(raw)
    except RequestError as e:
        assert e.field == "body"
    else:
        assert isinstance(fields, dict)


@given(st.binary(min_size=1, max_size=300), st.sampled_from(["", "data:image/png;base64,", "data:image/jpeg;base64,"]))
def test_base64_round_trips_with_or_without_a_data_url_prefix(data, prefix):
    text = prefix + base64.b64encode(data).decode()
    assert decode_base64_image(text) == data
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    if not prefix:
        assert decode_base64_image(wrapped) == data


@given(st.text(max_size=50))
def test_any_string_as_image_is_bytes_or_a_400_naming_image(text):
    try:
        data = decode_base64_image(text)
    except RequestError as e:
        assert e.field == "image"
    else:
        assert data


@given(st.floats() | st.integers() | st.none() | st.booleans() | st.text(max_size=5))
def test_threshold_is_in_the_unit_interval_or_refused(value):
    try:
        threshold = parse_threshold(value)
    except RequestError as e:
        assert e.field == "threshold"
        assert value is not None
    else:
        assert 0.0 <= threshold <= 1.0
        assert threshold == (0.5 if value is None else float(value))


LABELS = Labels((LabelSpec("car", "rectangle"), LabelSpec("road", "polygon")))
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    label = draw(st.sampled_from(["car", "road", "bike"]))
    if draw(st.booleans()):
        coords = draw(st.lists(draw(st.sampled_from([finite, any_float])), min_size=4, max_size=4))
        return rectangle(label, coords, confidence=draw(st.none() | st.floats(0, 1)))
    coords = draw(st.lists(finite, min_size=0, max_size=12))
    return polygon(label, coords)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(shapes(), max_size=8))
def test_valid_shapes_always_serialize_to_strict_json_and_back(items):
    valid, errors = check_shapes(items, LABELS)
    assert len(valid) + len(errors) == len(items)
    text = json.dumps([s.to_cvat() for s in valid], allow_nan=False)  # raises on NaN/Infinity
    for shape, decoded in zip(valid, json.loads(text), strict=True):
        assert decoded["label"] in LABELS
        assert decoded["points"] == list(shape.points or ())
        assert all(math.isfinite(v) for v in decoded["points"])
        if "confidence" in decoded:
            assert 0.0 <= float(decoded["confidence"]) <= 1.0
    for error in errors:
        assert error.label in ("car", "road", "bike")
        assert error.rule


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.booleans() | st.integers() | st.text(max_size=5)))
def test_attribute_values_are_always_cvat_strings(values):
    for attribute, (name, value) in zip(attribute_values(values), values.items(), strict=True):
        assert attribute.name == name
        assert isinstance(attribute.value, str)
        if isinstance(value, bool):
            assert attribute.value == ("true" if value else "false")
        elif isinstance(value, int):
            assert int(attribute.value) == value
