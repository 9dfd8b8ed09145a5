#!/usr/bin/env python3
"""Send CVAT's request to a running function and check the answer against the contract.

    python scripts/smoke_test.py --url http://127.0.0.1:32768/             # the function's port (.status.httpPort)
    python scripts/smoke_test.py --url http://127.0.0.1:8070 --dashboard   # through a dashboard, as CVAT does

The request is what CVAT sends for the function's kind (exact `Content-Type: application/json`, base64
image); `--kind auto` reads the kind and the labels from function.yaml in `--function` (default `.`). It
prints what it checked and the latency, and exits non-zero with a clear message on any failure. Needs only
the repo checkout and requirements-dev.txt. The work is in cvat_function/tools/smoke.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cvat_function.tools.smoke import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(description=__doc__, repo=REPO))
