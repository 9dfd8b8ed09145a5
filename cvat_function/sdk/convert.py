"""function.yaml labels → cvat-sdk's label specs, and the model's shapes → cvat-sdk's annotation requests.

cvat-sdk refers to labels, sublabels and attributes by the ids of the function's spec, never by name (the
driver maps them to the task's labels by name). function.yaml ids are kept where declared; labels, sublabels
and attributes without one get the next free integer, in spec order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cvat_sdk.auto_annotation as cvataa
from cvat_sdk import models

from ..core.labels import AttributeSpec, Labels, LabelSpec
from ..core.masks import BoxMask, contour_polygon
from ..core.shapes import Attribute, Shape


@dataclass(frozen=True, slots=True)
class LabelIds:
    """The spec ids of one label (or sublabel) and of its attributes and sublabels."""

    id: int
    attributes: dict[str, int] = field(default_factory=dict)
    sublabels: dict[str, LabelIds] = field(default_factory=dict)


def _assign(declared: Sequence[int | None]) -> list[int]:
    taken = {i for i in declared if i is not None}
    out: list[int] = []
    following = 0
    for value in declared:
        if value is None:
            while following in taken:
                following += 1
            value = following
            taken.add(value)
        out.append(value)
    return out


def _attribute_requests(attributes: Sequence[AttributeSpec]) -> tuple[list[models.AttributeRequest], dict[str, int]]:
    requests = [cvataa.attribute_spec(a.name, i, a.input_type, list(a.values)) for i, a in enumerate(attributes)]
    return requests, {a.name: i for i, a in enumerate(attributes)}


def detection_spec(labels: Labels) -> tuple[cvataa.DetectionFunctionSpec, dict[str, LabelIds]]:
    """cvat-sdk's spec for these labels (its own validation runs here) and the ids to build shapes with."""
    ids: dict[str, LabelIds] = {}
    requests: list[models.PatchedLabelRequest] = []
    for label, label_id in zip(labels, _assign([label.id for label in labels]), strict=True):
        attributes, attribute_ids = _attribute_requests(label.attributes)
        if label.type == "skeleton":
            sub_ids: dict[str, LabelIds] = {}
            sublabels = []
            for sub, sub_id in zip(label.sublabels, _assign([s.id for s in label.sublabels]), strict=True):
                sub_attributes, sub_attribute_ids = _attribute_requests(sub.attributes)
                sublabels.append(cvataa.keypoint_spec(sub.name, sub_id, attributes=sub_attributes))
                sub_ids[sub.name] = LabelIds(sub_id, sub_attribute_ids)
            kwargs = {"svg": label.svg} if label.svg else {}
            requests.append(
                cvataa.skeleton_label_spec(label.name, label_id, sublabels, attributes=attributes, **kwargs)
            )
            ids[label.name] = LabelIds(label_id, attribute_ids, sub_ids)
        else:
            requests.append(cvataa.label_spec(label.name, label_id, type=label.type, attributes=attributes))
            ids[label.name] = LabelIds(label_id, attribute_ids)
    return cvataa.DetectionFunctionSpec(labels=requests), ids


def _attribute_values(values: Iterable[Attribute], ids: LabelIds) -> list[models.AttributeValRequest]:
    return [models.AttributeValRequest(spec_id=ids.attributes[a.name], value=a.value) for a in values]


def _common(shape: Shape, ids: LabelIds) -> dict[str, object]:
    kwargs: dict[str, object] = {"attributes": _attribute_values(shape.attributes, ids)}
    if shape.group_id:
        kwargs["group"] = shape.group_id
    return kwargs


def to_annotation(
    shape: Shape, ids: dict[str, LabelIds], spec: Labels, *, conv_mask_to_poly: bool
) -> cvataa.DetectionAnnotation | None:
    """One checked shape as cvat-sdk's request object; None for a mask that has no polygon to become."""
    label_ids = ids[shape.label]
    kwargs = _common(shape, label_ids)
    if shape.type == "tag":
        return cvataa.tag(label_ids.id, **kwargs)
    if shape.confidence is not None:
        kwargs["score"] = shape.confidence
    if shape.type == "skeleton":
        return cvataa.skeleton(label_ids.id, _elements(shape, label_ids, spec.get(shape.label)), **kwargs)
    if shape.type == "mask":
        assert isinstance(shape.mask, BoxMask)  # check_shapes admits nothing else from the builders
        if conv_mask_to_poly:
            outline = list(shape.points) if shape.points is not None else contour_polygon(shape.mask)
            return None if outline is None else cvataa.polygon(label_ids.id, outline, **kwargs)
        return cvataa.mask(label_ids.id, shape.mask.to_rle(), **kwargs)
    assert shape.points is not None
    if shape.rotation is not None:
        kwargs["rotation"] = shape.rotation
    return cvataa.shape(label_ids.id, type=shape.type, points=list(shape.points), **kwargs)


def _elements(shape: Shape, ids: LabelIds, label: LabelSpec | None) -> list[models.SubLabeledShapeRequest]:
    """Every sublabel, in spec order: the driver refuses a skeleton with fewer elements than the task's
    skeleton has, so the ones the model left out are added as outside (CVAT does the same on the Nuclio route),
    placed at the centre of the visible ones."""
    given = {e.label: e for e in shape.elements}
    visible = [e.points for e in shape.elements if e.points is not None and not e.outside]
    cx = sum(p[0] for p in visible) / len(visible) if visible else 0.0
    cy = sum(p[1] for p in visible) / len(visible) if visible else 0.0
    out = []
    for name in (s.name for s in label.sublabels) if label else given:
        sub_ids = ids.sublabels[name]
        element = given.get(name)
        if element is None or element.points is None:
            out.append(cvataa.keypoint(sub_ids.id, [cx, cy], outside=True))
            continue
        out.append(
            cvataa.keypoint(
                sub_ids.id,
                list(element.points),
                outside=bool(element.outside),
                attributes=_attribute_values(element.attributes, sub_ids),
            )
        )
    return out
