"""`annotate`: the written files read back with real readers (pycocotools for COCO; for CVAT XML a strict reader
that requires what CVAT's "CVAT 1.1" importer requires and refuses anything else), compared shape by shape with
the function's own answers; resuming, failures, video frames and the --url route."""

from __future__ import annotations

import http.server
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from cvat_function.__main__ import main as cli
from cvat_function.core.rules import check_shapes
from cvat_function.sdk.loader import load_folder
from cvat_function.tools.annotate import (
    AnnotateError,
    Journal,
    LocalRunner,
    RemoteRunner,
    Source,
    annotate,
    collect_sources,
    journal_path,
    run_header,
)
from cvat_function.tools.bench_annotate import format_annotate_bench, run_annotate_bench
from cvat_function.tools.wire import LocalFunction
from tests.sdk.fakes import FIXTURES, square_frame
from tests.tools.cvat_xml_reader import read_cvat_xml

DETECTOR = FIXTURES / "detector"
# pycocotools 2.0.11 under numpy 2 warns on every decode
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
SQUARES = {"a.png": (40, 30, 90, 70), "sub/b.png": (10, 10, 30, 40), "sub/deeper/c.png": (100, 60, 150, 110)}


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for name, box in SQUARES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(square_frame(*box))
    return root


def own_answers(root: Path) -> dict[str, list[Any]]:
    """What the function itself answers for each image (decoded, inferred and checked as on the Nuclio route)."""
    function = load_folder(DETECTOR)
    out = {}
    for name in SQUARES:
        image = function.decode((root / name).read_bytes())
        shapes = function.call_model("infer", image, function.settings.default_threshold)
        valid, errors = check_shapes(shapes, function.config.labels, (image.shape[1], image.shape[0]))
        assert not errors
        out[name] = valid
    return out


def run_annotate(inputs: list[Any], out: Path, runner: Any = None, **kwargs: Any) -> Any:
    function = load_folder(DETECTOR)
    runner = runner or LocalRunner(function, None, readers=2)
    header = run_header(function.config, None, None, False)
    journal = Journal(journal_path(out), header).open(restart=kwargs.pop("restart", False))
    fmt = "coco" if out.suffix == ".json" else "cvat"
    return annotate(collect_sources(inputs), runner, function.config.labels, out, fmt, journal, **kwargs)


# --- the tests -------------------------------------------------------------------------------------------------


def test_cvat_zip_reads_back_shape_by_shape_as_the_function_answered(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    summary = run_annotate([folder], out)
    assert summary.failures == []
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["annotations.xml"]
        images = read_cvat_xml(archive.read("annotations.xml"))
    assert sorted(images) == sorted(SQUARES)  # names relative to the folder, as CVAT names uploaded folders
    for name, answers in own_answers(folder).items():
        read = images[name]
        assert read["size"] == (160, 120)
        shapes = [s for s in answers if s.type != "tag"]
        assert len(read["shapes"]) == len(shapes)
        for mine, theirs in zip(shapes, read["shapes"], strict=True):
            assert theirs["label"] == mine.label
            assert theirs["group"] == (mine.group_id or 0)
            assert theirs["attributes"] == {a.name: a.value for a in mine.attributes}
            if mine.type == "mask":
                assert theirs["mask"] == mine.mask
            elif mine.type == "skeleton":
                assert [(e["label"], e["points"], e["outside"]) for e in theirs["elements"]] == [
                    (e.label, pytest.approx(list(e.points or ()), abs=0.005), bool(e.outside)) for e in mine.elements
                ]
                assert [e["attributes"] for e in theirs["elements"]] == [
                    {a.name: a.value for a in e.attributes} for e in mine.elements
                ]
            else:
                assert theirs["points"] == pytest.approx(list(mine.points or ()), abs=0.005)
        tags = [(s.label, {a.name: a.value for a in s.attributes}) for s in answers if s.type == "tag"]
        assert read["tags"] == tags


def test_coco_reads_back_with_pycocotools_as_the_function_answered(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    summary = run_annotate([folder], out)
    coco = COCO(str(out))
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert sorted(names.values()) == sorted(["square", "blob", "outline", "scene", "faint"])  # no skeletons
    by_file = {img["file_name"]: img for img in coco.loadImgs(coco.getImgIds())}
    for name, answers in own_answers(folder).items():
        image = by_file[name]
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        carried = [s for s in answers if s.type in ("rectangle", "polygon", "mask")]
        assert [names[a["category_id"]] for a in annotations] == [s.label for s in carried]
        for mine, theirs in zip(carried, annotations, strict=True):
            if mine.type == "mask":
                assert theirs["iscrowd"] == 1
                rle = coco_mask.frPyObjects(theirs["segmentation"], image["height"], image["width"])
                decoded = coco_mask.decode(rle).astype(bool)
                assert np.array_equal(decoded, mine.mask.full_frame(image["width"], image["height"]))
                assert theirs["area"] == float(coco_mask.area(rle))
            elif mine.type == "polygon":
                assert theirs["segmentation"] == [list(mine.points)]
            else:
                x1, y1, x2, y2 = mine.points
                assert theirs["bbox"] == [x1, y1, x2 - x1, y2 - y1]
                assert theirs["attributes"]["colour"] == "white"
                assert theirs["attributes"]["size"] == int(x2 - x1)
                assert theirs["attributes"]["solid"] is True
    assert summary.not_carried == {"corners: skeleton": 3, "scene: tag": 3}


def test_a_bad_image_is_reported_and_skipped(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    summary = run_annotate([folder], tmp_path / "out.zip")
    assert [Path(f).name for f, _ in summary.failures] == ["broken.jpg"]
    assert "image" in summary.failures[0][1]
    assert summary.annotated == len(SQUARES)
    assert "failed: " in summary.format()
    assert journal_path(tmp_path / "out.zip").is_file()  # kept: a rerun retries only the failure


class StopAfter:
    """A runner that is interrupted (Ctrl-C) after `count` outcomes."""

    def __init__(self, inner: LocalRunner, count: int) -> None:
        self.inner = inner
        self.count = count

    def run(self, sources: list[Source]) -> Iterator[Any]:
        for index, outcome in enumerate(self.inner.run(sources)):
            if index == self.count:
                raise KeyboardInterrupt
            yield outcome


def test_interrupted_run_writes_nothing_and_resumes_without_redoing(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    function = load_folder(DETECTOR)
    first = run_annotate([folder], out, runner=StopAfter(LocalRunner(function, None), 2))
    assert first.interrupted
    assert not out.exists()
    assert list(tmp_path.glob(".out.zip.*")) == []
    calls_before = len(function.model.seen)
    second = run_annotate([folder], out, runner=LocalRunner(function, None))
    assert (second.resumed, second.annotated) == (2, 1)
    assert len(function.model.seen) - calls_before == 1
    fresh = run_annotate([folder], tmp_path / "fresh.zip")
    with zipfile.ZipFile(out) as a, zipfile.ZipFile(tmp_path / "fresh.zip") as b:
        assert a.read("annotations.xml") == b.read("annotations.xml")
    assert not journal_path(out).exists()  # complete: the journal is gone
    assert fresh.annotated == 3


def test_a_line_cut_by_a_crash_is_redone(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    function = load_folder(DETECTOR)
    run_annotate([folder], out, runner=StopAfter(LocalRunner(function, None), 2))
    journal = journal_path(out)
    journal.write_bytes(journal.read_bytes()[:-25])  # the last record, half written
    summary = run_annotate([folder], out)
    assert (summary.resumed, summary.annotated) == (1, 2)
    assert len(read_cvat_xml(zipfile.ZipFile(out).read("annotations.xml"))) == 3


def test_a_journal_of_another_run_is_refused(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zip"
    journal_path(out).write_text(json.dumps({"journal": 1, "function": "other"}) + "\n")
    with pytest.raises(AnnotateError, match="another run"):
        run_annotate([folder], out)
    assert run_annotate([folder], out, restart=True).annotated == 3


def test_globs_lists_and_duplicate_names(folder: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("# my frames\nimages/a.png\n\nimages/sub/b.png\n")
    sources = collect_sources([str(folder / "sub" / "deeper" / "*.png"), listing])
    assert [s.name for s in sources] == ["c.png", "a.png", "b.png"]
    (folder / "other").mkdir()
    (folder / "other" / "a.png").write_bytes(square_frame(1, 1, 5, 5))
    with pytest.raises(AnnotateError, match="twice"):
        collect_sources([str(folder / "**" / "a.png")])
    with pytest.raises(AnnotateError, match="no such file"):
        collect_sources([tmp_path / "missing"])


def test_video_frames_are_named_as_cvat_names_them(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (160, 120))
    for x in (10, 30, 50):
        frame = np.full((120, 160, 3), 20, np.uint8)
        frame[40:80, x : x + 40] = 255
        writer.write(frame)
    writer.release()
    out = tmp_path / "clip.zip"
    summary = run_annotate([video], out)
    assert summary.failures == []
    images = read_cvat_xml(zipfile.ZipFile(out).read("annotations.xml"))
    assert sorted(images) == ["frame_000000", "frame_000001", "frame_000002"]
    lefts = [next(s for s in images[n]["shapes"] if s["tag"] == "box")["points"][0] for n in sorted(images)]
    assert lefts == pytest.approx([10, 30, 50], abs=2)  # MJPG is lossy at the edges


def test_strict_fails_the_image_and_default_drops_the_shape(folder: Path, tmp_path: Path) -> None:
    os.environ["FIXTURE_BAD"] = "1"
    function = load_folder(DETECTOR)
    dropped = run_annotate([folder], tmp_path / "drop.zip", runner=LocalRunner(function, None))
    assert dropped.failures == []
    ((label, rule), count), *_ = dropped.dropped.items()
    assert (label, count) == ("square", 3)
    assert "attributes.colour" in rule
    strict = run_annotate([folder], tmp_path / "strict.zip", runner=LocalRunner(function, None, strict=True))
    assert len(strict.failures) == 3
    assert "colour" in strict.failures[0][1]


class _Handler(http.server.BaseHTTPRequestHandler):
    function: LocalFunction

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self.function.request(body)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, *args: Any) -> None:
        pass


def test_url_route_with_concurrency_gives_the_same_file(folder: Path, tmp_path: Path) -> None:
    _Handler.function = LocalFunction(DETECTOR)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        labels = load_folder(DETECTOR).config.labels
        remote = RemoteRunner(f"http://127.0.0.1:{server.server_address[1]}/", labels, None, concurrency=3)
        summary = run_annotate([folder], tmp_path / "remote.zip", runner=remote)
    finally:
        server.shutdown()
    assert summary.failures == []
    run_annotate([folder], tmp_path / "local.zip")
    remote_xml = zipfile.ZipFile(tmp_path / "remote.zip").read("annotations.xml")
    assert remote_xml == zipfile.ZipFile(tmp_path / "local.zip").read("annotations.xml")


def test_the_verb_end_to_end(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "coco.zip"
    argv = ["annotate", str(folder), "--out", str(out), "--format", "coco", "--function", str(DETECTOR)]
    assert cli([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "images: 3 in the inputs, 3 annotated now" in err
    assert "shapes per label: blob 3, corners 3, outline 3, scene 3, square 3" in err
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["annotations/instances_default.json"]
        assert len(json.loads(archive.read("annotations/instances_default.json"))["images"]) == 3


@pytest.mark.slow
def test_worker_processes_give_the_same_file(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["annotate", str(folder), "--function", str(DETECTOR), "--no-progress"]
    assert cli([*argv, "--out", str(tmp_path / "two.zip"), "--workers", "2"]) == 0
    assert "each of 2 worker processes" in capsys.readouterr().err
    assert cli([*argv, "--out", str(tmp_path / "one.zip"), "--workers", "1"]) == 0
    two = zipfile.ZipFile(tmp_path / "two.zip").read("annotations.xml")
    assert two == zipfile.ZipFile(tmp_path / "one.zip").read("annotations.xml")


@pytest.mark.slow
def test_bench_reports_every_in_process_way_against_one_request_at_a_time() -> None:
    result = run_annotate_bench(DETECTOR, images=2, serve=False)
    assert result["images"] == 2
    for way in ("wire_one_at_a_time", "sequential", "inprocess_1"):
        assert result[f"{way}_images_per_s"] > 0
    assert 0 < result["inprocess_1_busy_pct"] <= 100
    report = format_annotate_bench(result)
    assert "one request at a time (Nuclio wire path)" in report
    assert "in-process, 1 model, 2 reader threads" in report
