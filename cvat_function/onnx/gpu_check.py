"""Fail a GPU image build that would run onnxruntime on the CPU.

    python cvat_function/onnx/gpu_check.py        # in the GPU image, after every requirement is installed

`onnxruntime` and `onnxruntime-gpu` are two distributions of one module: whichever pip installs last wins,
silently. A `requirements.txt` that lists `onnxruntime`, or any package that depends on it, brings the CPU
wheel back over the GPU one, and the function then runs on the CPU with no error at all. This check exits 1,
naming the packages that pulled it in, when the CPU distribution is installed, when `onnxruntime-gpu` is not,
or when onnxruntime does not list `CUDAExecutionProvider` (it lists what it was built with; no GPU is needed
at build time). Standard library only (plus the onnxruntime it checks), runnable by path: a Dockerfile or a
nuctl build directive runs it before the function's code is importable.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata

CPU = "onnxruntime"
GPU = "onnxruntime-gpu"
CUDA = "CUDAExecutionProvider"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(name: str) -> str | None:
    """The version of an installed distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def dependents(name: str, distributions: Iterable[metadata.Distribution] | None = None) -> list[str]:
    """Installed distributions whose requirements name `name` (extras and markers aside), sorted."""
    wanted = canonical(name)
    found = set()
    for dist in distributions if distributions is not None else metadata.distributions():
        for requirement in dist.requires or ():
            name, _, marker = requirement.partition(";")
            match = _NAME.match(name)
            if match and canonical(match.group(1)) == wanted and "extra" not in marker:  # extras are opt-in
                found.add(f"{dist.metadata['Name']} {dist.version}")
    return sorted(found)


def problems(
    version_of: Callable[[str], str | None] = installed,
    providers: Callable[[], Sequence[str]] | None = None,
    required_by: Callable[[str], list[str]] = dependents,
) -> list[str]:
    """What is wrong with this environment's onnxruntime for a GPU image (empty: fine)."""
    found: list[str] = []
    cpu, gpu = version_of(CPU), version_of(GPU)
    if cpu is not None:
        culprits = required_by(CPU)
        why = f" (required by {', '.join(culprits)})" if culprits else " (listed in a requirements file)"
        found.append(
            f"the CPU distribution {CPU} {cpu} is installed{why} beside {GPU} {gpu or '(missing)'}; both install "
            f"the module onnxruntime and the last one wins. Remove {CPU} from the requirements installed after "
            f"{GPU} (e.g. grep -v '^onnxruntime' requirements.txt), or install {GPU} last with --force-reinstall "
            f"--no-deps when a package depends on {CPU}"
        )
    if gpu is None:
        found.append(f"{GPU} is not installed; install it (e.g. {GPU}==1.26.0 for CUDA 12 + cuDNN 9)")
    if providers is None:

        def providers() -> Sequence[str]:
            import onnxruntime

            available: Sequence[str] = onnxruntime.get_available_providers()
            return available

    try:
        available = list(providers())
    except ImportError as e:
        found.append(f"onnxruntime cannot be imported ({e})")
    else:
        if CUDA not in available:
            found.append(
                f"onnxruntime lists {available}, without {CUDA}: this is the CPU build; the function would run on "
                "the CPU"
            )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    found = problems()
    if found:
        for problem in found:
            print(f"gpu_check: error: {problem}", file=sys.stderr)
        return 1
    print(f"gpu_check: ok: {GPU} {installed(GPU)} alone, {CUDA} available")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
