"""Offline pre-annotation: run a function over a folder (or a video) and write a file CVAT imports.

Inputs: folders (walked recursively; names relative to the folder, as CVAT names files uploaded as a folder),
globs, text files listing paths (one per line, `#` comments), single images, and videos OpenCV can read
(frames named `frame_000000`, … as CVAT names a video task's frames).

Two ways to run the model:
* in-process (default): the folder's `ModelHandler`, loaded as `init_context` loads it. With one worker, a pool
  of reader threads reads and decodes the next images (OpenCV and Pillow release the GIL) while the model works
  on the current one, so the model waits for input as little as possible; `busy` in the summary is the share
  of wall time spent inside `infer`. With `--workers N` (default: function.yaml's `numWorkers`, the copies of
  the model the deployed function runs) N worker processes each run their own model, as Nuclio's workers do.
* `--url`: a deployed function (a Nuclio HTTP trigger or `serve`), `--concurrency N` requests in flight, each
  one CVAT's own detector request.

Every answer passes the same checks as on the Nuclio route; a shape CVAT would reject is dropped and counted
(or, with `--strict`, fails its image). A bad or unreadable image is reported and skipped. Finished images go
to a journal beside the output (`OUT.journal.jsonl`), so after Ctrl-C or a crash the same command carries on
where it stopped; the output itself is written once, at the end, to a temporary name and then renamed.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import glob
import hashlib
import json
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from ..core.config import FunctionConfig, load_function_config
from ..core.errors import CvatFunctionError, RequestError
from ..core.image import ColorOrder, PixelType, as_pixel_type, image_size
from ..core.labels import Labels
from ..core.masks import BoxMask, decode_detector_mask
from ..core.response import Fragment
from ..core.rules import check_shapes
from ..core.runtime import Function
from ..core.shapes import Shape
from .annotate_formats import Record, carried_counts, coco_bytes, cvat_xml, cvat_zip
from .answer_checks import detector_item_problems
from .http_client import Client

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jfif"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})
JOURNAL_VERSION = 1


class AnnotateError(CvatFunctionError):
    """The run cannot start (no inputs, duplicate names, a journal of another run)."""


@dataclass(frozen=True, slots=True)
class Source:
    """One frame to annotate: the name CVAT knows it by, the file, and the frame index for a video."""

    name: str
    path: Path
    frame: int | None = None


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _video_frames(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return 0
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count > 0:
            return count
        count = 0
        while capture.grab():  # containers without a frame count: count by reading
            count += 1
        return count
    finally:
        capture.release()


def collect_sources(inputs: Sequence[str | Path]) -> list[Source]:
    """Every frame the inputs name, in order; raises `AnnotateError` for a missing input or duplicate names."""
    sources: list[Source] = []
    videos: list[Path] = []
    for item in inputs:
        text = str(item)
        path = Path(text)
        if any(c in text for c in "*?["):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            sources += [Source(p.name, p) for p in matches if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
            videos += [p for p in matches if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
        elif path.is_dir():
            sources += [Source(p.relative_to(path).as_posix(), p) for p in _walk(path)]
        elif path.is_file() and path.suffix.lower() == ".txt":
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    listed = Path(entry) if Path(entry).is_absolute() else path.parent / entry
                    sources.append(Source(Path(entry).name, listed))
        elif path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            videos.append(path)
        elif path.is_file():
            sources.append(Source(path.name, path))
        else:
            raise AnnotateError(f"{text}: no such file, folder or matching glob")
    for video in videos:
        count = _video_frames(video)
        if count == 0:
            raise AnnotateError(f"{video}: OpenCV cannot read frames from this video")
        prefix = "" if len(videos) == 1 and not sources else f"{video.stem}/"
        sources += [Source(f"{prefix}frame_{i:06d}", video, i) for i in range(count)]
    names = Counter(s.name for s in sources)
    duplicates = sorted(name for name, n in names.items() if n > 1)
    if duplicates:
        raise AnnotateError(
            f"{len(duplicates)} name(s) appear twice, e.g. {duplicates[:3]}; CVAT matches annotations to frames by "
            "name: give the folder that holds them (names become relative paths) instead of a glob or list"
        )
    if not sources:
        raise AnnotateError("the inputs name no image (" + ", ".join(IMAGE_EXTENSIONS) + ") or readable video")
    return sources


class FrameReader:
    """File bytes, or a video's frame as a BGR array; one capture per video, read in order under a lock."""

    def __init__(self) -> None:
        self._videos: dict[Path, tuple[threading.Lock, Any, list[int]]] = {}
        self._guard = threading.Lock()

    def video_frame(self, source: Source) -> np.ndarray:
        with self._guard:
            if source.path not in self._videos:
                self._videos[source.path] = (threading.Lock(), cv2.VideoCapture(str(source.path)), [0])
            lock, capture, position = self._videos[source.path]
        with lock:
            assert source.frame is not None
            if position[0] != source.frame:
                capture.set(cv2.CAP_PROP_POS_FRAMES, source.frame)
            ok, frame = capture.read()
            position[0] = source.frame + 1
        if not ok or frame is None:
            raise RequestError("frame", f"frame {source.frame} of {source.path}", got="no frame (damaged video?)")
        return np.asarray(frame)

    def close(self) -> None:
        for _, capture, _ in self._videos.values():
            capture.release()


def _from_bgr(frame: np.ndarray, order: ColorOrder, dtype: PixelType) -> np.ndarray:
    if order is ColorOrder.RGB:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    elif order is ColorOrder.GRAY:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return as_pixel_type(np.ascontiguousarray(frame), dtype)


def shape_record(shape: Shape) -> dict[str, Any]:
    """A checked shape as the function answers it, its mask as CVAT RLE (`"rle"`) instead of one value per pixel."""
    out = shape.to_cvat(pre_encoded=True)
    if isinstance(shape.mask, BoxMask):
        out.pop("mask")
        out["rle"] = shape.mask.to_rle()
    if shape.type == "skeleton":
        out["elements"] = [shape_record(e) for e in shape.elements]
    if any(isinstance(v, Fragment) for v in out.values()):
        raise AssertionError("a pre-encoded value left in a record")
    return out


def answer_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """A detector answer item from a deployed function, its `mask` (one value per pixel) turned into `rle`."""
    out = dict(item)
    if out.get("type") == "mask" and "mask" in out:
        out["rle"] = decode_detector_mask(out.pop("mask")).to_rle()
    return out


@dataclass
class Outcome:
    """One frame done: its record, or the reason it failed; dropped shapes as (label, rule)."""

    source: Source
    record: Record | None = None
    error: str | None = None
    dropped: list[tuple[str, str]] = field(default_factory=list)
    busy: float = 0.0


def _bounded(
    pool: concurrent.futures.Executor, job: Callable[[Source], Outcome], sources: Sequence[Source], limit: int
) -> Iterator[Outcome]:
    """`job` over `sources` in `pool`, at most `limit` in flight (memory stays flat), outcomes as they complete.

    Leaving early (Ctrl-C, an error, the consumer stopping) cancels what has not started; the pool's exit then
    waits only for the jobs already running."""
    todo = iter(sources)
    pending: set[concurrent.futures.Future[Outcome]] = set()
    try:
        for source in todo:
            pending.add(pool.submit(job, source))
            if len(pending) >= limit:
                break
        while pending:
            done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                following = next(todo, None)
                if following is not None:
                    pending.add(pool.submit(job, following))
                yield future.result()
    finally:
        for future in pending:
            future.cancel()


class LocalRunner:
    """One model in this process, and `readers` threads that read and decode the next images while it works."""

    workers = 1

    def __init__(self, function: Function, threshold: float | None, *, readers: int = 2, strict: bool = False):
        self.function = function
        self.threshold = function.settings.default_threshold if threshold is None else threshold
        self.readers = max(1, readers)
        self.strict = strict
        self.frames = FrameReader()
        self._idle: queue.SimpleQueue[Function] = queue.SimpleQueue()

    def _decode(self, source: Source) -> np.ndarray:
        fn = self.function
        if source.frame is not None:
            return _from_bgr(self.frames.video_frame(source), fn.color_order, fn.pixel_type)
        try:
            data = source.path.read_bytes()
        except OSError as e:
            raise RequestError("file", "a readable file", got=f"{e.strerror}") from e
        return fn.decode(data)

    def _job(self, source: Source) -> Outcome:
        try:
            image = self._decode(source)
        except CvatFunctionError as e:
            return Outcome(source, error=str(e))
        except Exception as e:  # a reader must never stop the run
            return Outcome(source, error=f"{type(e).__name__}: {e}")
        function = self._idle.get()  # decoded already: wait here until the model is free
        try:
            return self._infer(function, source, image)
        except CvatFunctionError as e:
            return Outcome(source, error=str(e))
        finally:
            self._idle.put(function)

    def _infer(self, function: Function, source: Source, image: np.ndarray) -> Outcome:
        started = time.perf_counter()
        shapes = function.call_model("infer", image, self.threshold)
        busy = time.perf_counter() - started
        if not isinstance(shapes, (list, tuple)):
            return Outcome(source, error=f"ModelHandler.infer returned {type(shapes).__name__}, not a list", busy=busy)
        height, width = image.shape[:2]
        valid, errors = check_shapes(list(shapes), function.config.labels, (width, height))
        dropped = [(e.label, f"{e.field}: {e.rule}") for e in errors]
        if errors and self.strict:
            return Outcome(source, error=f"{len(errors)} invalid shape(s): {errors[0]}", dropped=dropped, busy=busy)
        record = {"name": source.name, "width": width, "height": height, "shapes": [shape_record(s) for s in valid]}
        return Outcome(source, record, dropped=dropped, busy=busy)

    def run(self, sources: Sequence[Source]) -> Iterator[Outcome]:
        """Outcomes as they complete; the output is ordered later, by input."""
        self._idle.put(self.function)
        threads = 1 + self.readers
        pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="annotate")
        try:
            yield from _bounded(pool, self._job, sources, threads + self.readers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            while not self._idle.empty():
                self._idle.get()
            self.frames.close()


_PROCESS_RUNNER: LocalRunner | None = None


def _process_init(folder: str, threshold: float | None, strict: bool) -> None:
    """A worker process of `ProcessRunner`: its own model; Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..sdk.loader import load_folder

    global _PROCESS_RUNNER
    _PROCESS_RUNNER = LocalRunner(load_folder(folder), threshold, readers=1, strict=strict)
    _PROCESS_RUNNER._idle.put(_PROCESS_RUNNER.function)  # _job takes the model from here, as in run()


def _process_job(source: Source) -> Outcome:
    assert _PROCESS_RUNNER is not None, "the worker process was not initialised"
    return _PROCESS_RUNNER._job(source)


class ProcessRunner:
    """`workers` processes, each with its own model (as Nuclio runs `numWorkers` worker processes): no model
    shares an interpreter lock or a thread pool with another. Each process reads and decodes its next image
    itself, so a model waits for the time one decode takes per image."""

    def __init__(self, folder: Path, threshold: float | None, *, workers: int, strict: bool = False) -> None:
        self.folder = folder
        self.threshold = threshold
        self.workers = max(1, workers)
        self.strict = strict
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),  # a clean interpreter per worker, as in Nuclio
                initializer=_process_init,
                initargs=(str(self.folder), self.threshold, self.strict),
            )
        return self._executor

    def run(self, sources: Sequence[Source]) -> Iterator[Outcome]:
        """Outcomes as they complete; the processes stay up for the next call until `close()`."""
        try:
            yield from _bounded(self._pool(), _process_job, sources, 2 * self.workers)
        except concurrent.futures.process.BrokenProcessPool as e:
            raise AnnotateError(f"a worker process died (the model failed to load or crashed): {e}") from e

    def close(self) -> None:
        """Stop the processes, after the images they are working on (they ignore Ctrl-C; this process does not)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> ProcessRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteRunner:
    """A deployed function at `url`, `concurrency` of CVAT's detector requests in flight."""

    def __init__(
        self, url: str, labels: Labels, threshold: float | None, *, concurrency: int = 1, strict: bool = False,
        timeout: float = 130.0,
    ) -> None:  # fmt: skip
        self.url = url
        self.labels = labels
        self.threshold = threshold
        self.concurrency = max(1, concurrency)
        self.strict = strict
        self.timeout = timeout
        self.frames = FrameReader()
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(self.url, self.timeout)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _one(self, source: Source) -> Outcome:
        try:
            if source.frame is not None:  # CVAT sends a video frame as PNG
                ok, png = cv2.imencode(".png", self.frames.video_frame(source))
                if not ok:
                    raise RequestError("frame", "a frame OpenCV can encode", got=f"frame {source.frame}")
                data = png.tobytes()
            else:
                data = source.path.read_bytes()
            width, height = image_size(data)
        except OSError as e:
            return Outcome(source, error=f"cannot read it: {e.strerror}")
        except CvatFunctionError as e:
            return Outcome(source, error=str(e))
        body: dict[str, Any] = {"image": base64.b64encode(data).decode("ascii")}
        if self.threshold:  # CVAT never sends a falsy threshold
            body["threshold"] = self.threshold
        started = time.perf_counter()
        try:
            answer = self._client().post_json(body)
        except OSError as e:
            return Outcome(source, error=f"{self.url}: {e}")
        busy = time.perf_counter() - started
        if answer.status != 200:
            return Outcome(source, error=f"HTTP {answer.status}: {answer.text[:300]}", busy=busy)
        try:
            payload = answer.json()
        except ValueError:
            return Outcome(source, error=f"the answer is not JSON: {answer.text[:120]!r}", busy=busy)
        if not isinstance(payload, list):
            return Outcome(source, error=f"a detector answers a JSON list, got {type(payload).__name__}", busy=busy)
        shapes, dropped = [], []
        for item in payload:
            problems = detector_item_problems(item, self.labels, (width, height))
            if problems:
                label = item.get("label", "?") if isinstance(item, dict) else "?"
                dropped.append((str(label), problems[0]))
            else:
                shapes.append(answer_record(item))
        if dropped and self.strict:
            return Outcome(source, error=f"{len(dropped)} invalid shape(s): {dropped[0][1]}", dropped=dropped)
        record = {"name": source.name, "width": width, "height": height, "shapes": shapes}
        return Outcome(source, record, dropped=dropped, busy=busy)

    def run(self, sources: Sequence[Source]) -> Iterator[Outcome]:
        """Outcomes as they complete, at most `concurrency` requests in flight."""
        pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, thread_name_prefix="annotate-http")
        try:
            yield from _bounded(pool, self._one, sources, self.concurrency)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for client in self._clients:
                client.close()
            self.frames.close()


class Journal:
    """`OUT.journal.jsonl`: a header naming the run, then one line per finished frame (flushed at once)."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.header = header
        self.done: dict[str, Record] = {}
        self._file: IO[str] | None = None

    def open(self, restart: bool = False) -> Journal:
        if restart:
            self.path.unlink(missing_ok=True)
        if self.path.is_file():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            header = _json_line(lines[0]) if lines else None
            if header != self.header:
                raise AnnotateError(
                    f"{self.path} belongs to another run ({header}); use --restart to start over, or another --out"
                )
            for line in lines[1:]:
                entry = _json_line(line)  # a line cut by a crash does not parse: that frame is simply redone
                if isinstance(entry, dict) and isinstance(entry.get("record"), dict):
                    self.done[entry["record"]["name"]] = entry["record"]
            self._file = self.path.open("a", encoding="utf-8")
            if lines and not self.path.read_bytes().endswith(b"\n"):
                self._file.write("\n")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
            self._file.write(json.dumps(self.header) + "\n")
        self._file.flush()
        return self

    def add(self, record: Record) -> None:
        assert self._file is not None
        self._file.write(json.dumps({"record": record}, separators=(",", ":")) + "\n")
        self._file.flush()
        self.done[record["name"]] = record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + ".journal.jsonl")


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside `path`, flush to disk, then rename over it: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@dataclass
class Summary:
    """What a run did; `format()` is what the verb prints at the end."""

    total: int = 0
    resumed: int = 0
    annotated: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    shapes: Counter[str] = field(default_factory=Counter)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    not_carried: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    busy_seconds: float = 0.0
    workers: int = 1
    interrupted: bool = False
    output: Path | None = None
    journal: Path | None = None

    @property
    def rate(self) -> float:
        return self.annotated / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def busy_share(self) -> float:
        """In-process: the share of the wall time each model instance spent in `infer` (1.0 = never idle);
        `--url`: requests in flight on average."""
        return self.busy_seconds / (self.wall_seconds * self.workers) if self.wall_seconds > 0 else 0.0

    def format(self, remote: bool = False) -> str:
        if remote:
            load = f"requests in flight {self.busy_share:.1f} on average"
        else:
            load = f"model busy {self.busy_share * 100:.0f} % of the wall time"
            if self.workers > 1:
                load += f" (each of {self.workers} worker processes, start-up included)"
        lines = [
            f"images: {self.total} in the inputs, {self.annotated} annotated now, {self.resumed} from the journal, "
            f"{len(self.failures)} failed",
            f"time: {self.wall_seconds:.1f} s, {self.rate:.2f} images/s; {load}",
        ]
        if self.shapes:
            lines.append("shapes per label: " + ", ".join(f"{k} {v}" for k, v in sorted(self.shapes.items())))
        else:
            lines.append("shapes per label: none")
        for (label, rule), count in sorted(self.dropped.items()):
            lines.append(f"dropped {count}× (label {label!r}): {rule}")
        for what, count in sorted(self.not_carried.items()):
            lines.append(f"not in this format, left out: {count}× {what} (use --format cvat)")
        for name, reason in self.failures[:50]:
            lines.append(f"failed: {name}: {reason}")
        if len(self.failures) > 50:
            lines.append(f"… and {len(self.failures) - 50} more failures")
        if self.interrupted:
            lines.append(f"interrupted: nothing written; run the same command again to resume ({self.journal})")
        elif self.output:
            kept = f" (journal kept for the failures: {self.journal})" if self.failures else ""
            lines.append(f"wrote {self.output}{kept}")
        return "\n".join(lines)


def output_format(out: Path, requested: str | None) -> str:
    if requested:
        return requested
    return "coco" if out.suffix.lower() == ".json" else "cvat"


def encode_output(records: Sequence[Record], labels: Labels, fmt: str, out: Path) -> tuple[bytes, Counter[str]]:
    zipped = out.suffix.lower() == ".zip"
    if fmt == "coco":
        return coco_bytes(records, labels, zipped=zipped)
    data = cvat_zip(records, labels) if out.suffix.lower() != ".xml" else cvat_xml(records, labels)
    return data, Counter()


def run_header(config: FunctionConfig, threshold: float | None, url: str | None, strict: bool) -> dict[str, Any]:
    labels = json.dumps(config.labels.to_json(), sort_keys=True)
    return {
        "journal": JOURNAL_VERSION,
        "function": config.name,
        "labels": hashlib.sha256(labels.encode()).hexdigest()[:16],
        "threshold": threshold,
        "url": url,
        "strict": strict,
    }


Progress = Callable[[int, int], Any]


def annotate(
    sources: Sequence[Source],
    runner: LocalRunner | ProcessRunner | RemoteRunner,
    labels: Labels,
    out: Path,
    fmt: str,
    journal: Journal,
    *,
    progress: Any = None,
) -> Summary:
    """Run every frame the journal does not hold yet, then write the output (unless interrupted)."""
    summary = Summary(total=len(sources), journal=journal.path)
    summary.workers = runner.workers if isinstance(runner, (LocalRunner, ProcessRunner)) else 1
    todo = [s for s in sources if s.name not in journal.done]
    summary.resumed = len(sources) - len(todo)
    if progress is not None:
        progress.update(summary.resumed)
    started = time.perf_counter()
    try:
        for outcome in runner.run(todo):
            summary.busy_seconds += outcome.busy
            for label, rule in outcome.dropped:
                summary.dropped[(label, rule)] += 1
            if outcome.record is not None:
                journal.add(outcome.record)
                summary.annotated += 1
            else:
                source = outcome.source
                where = str(source.path) if source.frame is None else f"{source.path}#{source.frame}"
                summary.failures.append((where, outcome.error or "unknown"))
            if progress is not None:
                progress.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.wall_seconds = time.perf_counter() - started
        journal.close()
    if summary.interrupted:
        return summary
    records = [journal.done[s.name] for s in sources if s.name in journal.done]
    summary.shapes = carried_counts(records)
    data, summary.not_carried = encode_output(records, labels, fmt, out)
    write_atomically(out, data)
    summary.output = out
    if not summary.failures:
        journal.path.unlink(missing_ok=True)
    return summary


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Any]:
    """tqdm's bar (rate and ETA) on stderr; nothing when disabled or stderr is not a terminal."""
    from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs; a dev-only dependency

    bar = tqdm(total=total, unit="img", disable=(not enabled) or None, file=sys.stderr, smoothing=0.1)
    try:
        yield bar
    finally:
        bar.close()


def load_labels(function_dir: Path) -> FunctionConfig:
    return load_function_config(function_dir / "function.yaml")
