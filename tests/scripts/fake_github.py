"""A fake `gh api` and `docker buildx imagetools` for scripts/release.sh, backed by a JSON state file.

Run as ``python fake_github.py gh ARGS...`` or ``python fake_github.py docker ARGS...`` (the tests put
two-line wrappers named ``gh`` and ``docker`` first on PATH). Every call is appended to the log as
one JSON line; the state (refs, tag objects, releases, assets, images) is read and written back, so
a sequence of script runs sees what the earlier ones did, like the GitHub API would.

It answers like GitHub and gh do where the script depends on it: ``releases/tags/<tag>`` never
answers drafts; creating a release for a missing tag creates the tag at ``target_commitish``; an
HTTP error prints the JSON body on stdout, ``gh: <message> (HTTP <code>)`` on stderr and exits 1;
``--jq`` prints strings raw. ``state["fail"]`` lists ``"METHOD path-regex"`` answered with HTTP 500.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

State = dict[str, Any]


class HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load() -> tuple[Path, State]:
    path = Path(os.environ["FAKE_GITHUB_STATE"])
    return path, json.loads(path.read_text(encoding="utf-8"))


def log(entry: dict[str, Any]) -> None:
    with Path(os.environ["FAKE_GITHUB_LOG"]).open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


# --- a small part of jq: paths, "+" of terms, "\(...)" interpolation, ".[] | ..." -----------


def _path(value: Any, expr: str) -> Any:
    for part in [p for p in expr.strip().split(".") if p]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return value if isinstance(value, str) else json.dumps(value)


def _term(value: Any, term: str) -> str:
    term = term.strip()
    if term.startswith('"'):
        body = term[1:-1]
        return re.sub(r"\\\(([^)]*)\)", lambda m: _render(_path(value, m.group(1))), body)
    return _render(_path(value, term))


def jq(value: Any, expr: str) -> str:
    if expr.startswith(".[] | "):
        return "\n".join(jq(item, expr[len(".[] | ") :]) for item in value)
    return "".join(_term(value, t) for t in expr.split(" + "))


# --- the API -----------------------------------------------------------------------------


def _release_view(release: dict[str, Any]) -> dict[str, Any]:
    return {k: release[k] for k in ("id", "tag_name", "name", "draft")}


def route(state: State, method: str, path: str, fields: dict[str, Any], body: bytes | None) -> Any:
    for rule in state.get("fail", []):
        fail_method, pattern = rule.split(" ", 1)
        if fail_method == method and re.search(pattern, path):
            raise HTTPError(500, "Server Error")
    parsed = urllib.parse.urlsplit(path)
    parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/")]
    if parts[:1] != ["repos"] or "/".join(parts[1:3]) != state["repo"]:
        raise HTTPError(404, "Not Found")
    rest = parts[3:]
    refs: dict[str, dict[str, str]] = state["refs"]
    releases: list[dict[str, Any]] = state["releases"]

    def find(release_id: str) -> dict[str, Any]:
        for release in releases:
            if str(release["id"]) == release_id:
                return release
        raise HTTPError(404, "Not Found")

    match (method, rest):
        case ("GET", ["git", "ref", "tags", tag]) if tag in refs:
            return {"ref": f"refs/tags/{tag}", "object": refs[tag]}
        case ("DELETE", ["git", "refs", "tags", tag]) if tag in refs:
            del refs[tag]
            return None
        case ("GET", ["git", "tags", sha]) if sha in state.get("tag_objects", {}):
            return {"sha": sha, "object": state["tag_objects"][sha]}
        case ("GET", ["releases", "tags", tag]):
            for release in releases:
                if release["tag_name"] == tag and not release["draft"]:
                    return _release_view(release)
            raise HTTPError(404, "Not Found")
        case ("POST", ["releases"]):
            tag = fields["tag_name"]
            if any(r["tag_name"] == tag and not r["draft"] for r in releases):
                raise HTTPError(422, "Validation Failed: already_exists")
            if tag not in refs:
                refs[tag] = {"type": "commit", "sha": fields.get("target_commitish", state["default_branch_sha"])}
            state["next_id"] += 1
            release = {
                "id": state["next_id"],
                "tag_name": tag,
                "name": fields.get("name", tag),
                "draft": bool(fields.get("draft", False)),
                "assets": [],
            }
            releases.append(release)
            return _release_view(release)
        case ("GET", ["releases", release_id]):
            return _release_view(find(release_id))
        case ("PATCH", ["releases", release_id]):
            release = find(release_id)
            if "draft" in fields:
                release["draft"] = bool(fields["draft"])
            return _release_view(release)
        case ("DELETE", ["releases", release_id]):
            releases.remove(find(release_id))
            return None
        case ("GET", ["releases", release_id, "assets"]):
            return [{"id": a["id"], "name": a["name"]} for a in find(release_id)["assets"]]
        case ("POST", ["releases", release_id, "assets"]):
            release = find(release_id)
            name = urllib.parse.parse_qs(parsed.query)["name"][0]
            if any(a["name"] == name for a in release["assets"]):
                raise HTTPError(422, "Validation Failed: already_exists")
            state["next_id"] += 1
            release["assets"].append({"id": state["next_id"], "name": name, "size": len(body or b"")})
            return {"id": state["next_id"], "name": name}
        case ("DELETE", ["releases", "assets", asset_id]):
            for release in releases:
                for asset in release["assets"]:
                    if str(asset["id"]) == asset_id:
                        release["assets"].remove(asset)
                        return None
            raise HTTPError(404, "Not Found")
    raise HTTPError(404, "Not Found")


def _typed(value: str) -> Any:
    """gh's -F: true/false/null and integers become JSON values."""
    if value in ("true", "false"):
        return value == "true"
    if value == "null":
        return None
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def gh(args: list[str]) -> int:
    assert args[:1] == ["api"], f"the fake gh only knows `gh api`, got {args}"
    method, path, query, body = "GET", "", None, None
    fields: dict[str, Any] = {}
    items = iter(args[1:])
    for arg in items:
        if arg in ("--method", "-X"):
            method = next(items)
        elif arg in ("-f", "--raw-field"):
            key, _, value = next(items).partition("=")
            fields[key] = value
        elif arg in ("-F", "--field"):
            key, _, value = next(items).partition("=")
            fields[key] = _typed(value)
        elif arg in ("-q", "--jq"):
            query = next(items)
        elif arg == "--input":
            body = Path(next(items)).read_bytes()
        elif arg in ("-H", "--header"):
            next(items)
        elif arg.startswith("-"):
            raise AssertionError(f"the fake gh does not know {arg}")
        else:
            path = arg
    if fields and method == "GET":
        method = "POST"  # gh switches to POST when fields are given
    path = path.removeprefix("https://uploads.github.com/").removeprefix("/")
    state_path, state = load()
    log({"tool": "gh", "method": method, "path": path, "fields": fields})
    try:
        answer = route(state, method, path, fields, body)
    except HTTPError as error:
        print(json.dumps({"message": error.message}))
        print(f"gh: {error.message} (HTTP {error.code})", file=sys.stderr)
        return 1
    state_path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    if answer is not None:
        print(jq(answer, query) if query else json.dumps(answer))
    return 0


def docker(args: list[str]) -> int:
    assert args[:3] == ["buildx", "imagetools", "create"], f"the fake docker only retags, got {args}"
    assert args[3] == "--tag", args
    target, source = args[4], args[5]
    state_path, state = load()
    log({"tool": "docker", "tag": target, "source": source})
    images: dict[str, str] = state["images"]
    if any(re.search(p, target) for p in state.get("docker_fail", [])):
        print(f"ERROR: failed to push {target}: unexpected status 500", file=sys.stderr)
        return 1
    if source not in images:
        print(f"ERROR: {source}: not found", file=sys.stderr)
        return 1
    images[target] = images[source]
    state_path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    tool, *rest = sys.argv[1:]
    sys.exit(gh(rest) if tool == "gh" else docker(rest))
