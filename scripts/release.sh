#!/usr/bin/env bash
# The decisions of .github/workflows/release.yml, kept here so that the test suite can run them
# against a fake `gh` and `docker` (tests/scripts/test_release_script.py).
#
#   scripts/release.sh draft            create the draft release of $TAG; writes output release_id
#   scripts/release.sh upload FILE      attach FILE to draft $RELEASE_ID (replacing an earlier upload)
#   scripts/release.sh publish cpu gpu  tag the tested images with $TAG, then publish draft $RELEASE_ID
#   scripts/release.sh cleanup          after a failure: delete draft $RELEASE_ID and, if it still
#                                       points at $GITHUB_SHA, the tag
#   scripts/release.sh output NAME VALUE  append NAME=VALUE to $GITHUB_OUTPUT (one line, or refused)
#   scripts/release.sh urlencode TEXT   print TEXT percent-encoded for a URL path
#
# Environment: GH_REPO (owner/name), TAG (the pushed tag), GITHUB_SHA (the commit this run tests),
# RELEASE_ID (the draft job's output), IMAGE (ghcr.io/owner/name, lowercase), GH_TOKEN for gh.
#
# What it guarantees: a release is only ever touched by its id, the one this run created; a
# published release is never deleted; the tag is deleted only while it still points at the commit
# this run tested (a tag pushed again belongs to the new push's run); a failure in `draft` deletes
# nothing. Version tags added to images before a failed publish are listed in the log.
set -euo pipefail

# An image tag: what Docker accepts after the colon.
DOCKER_TAG='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'

die() {
  echo "release.sh: error: $*" >&2
  exit 1
}

note() {
  echo "release.sh: $*" >&2
}

# GitHub renders ::warning:: lines as annotations on the run's summary page.
warn() {
  echo "::warning::$*"
}

need() {
  local name
  for name in "$@"; do
    [[ -n "${!name:-}" ]] || die "\$${name} is not set"
  done
}

urlencode() {
  local LC_ALL=C text="$1" out="" char i
  for ((i = 0; i < ${#text}; i++)); do
    char="${text:i:1}"
    case "$char" in
      [A-Za-z0-9._~-]) out+="$char" ;;
      *) printf -v char '%%%02X' "'$char" && out+="$char" ;;
    esac
  done
  printf '%s\n' "$out"
}

# Outputs are "name=value" lines: a line break in a value would let it write other outputs.
set_output() {
  local name="$1" value="$2"
  [[ "$name" =~ ^[a-z][a-z0-9_]*$ ]] || die "output name '${name}' is not lowercase letters, digits and '_'"
  case "$value" in
    *$'\n'* | *$'\r'*) die "refusing output '${name}': its value contains a line break: ${value@Q}" ;;
  esac
  need GITHUB_OUTPUT
  printf '%s=%s\n' "$name" "$value" >>"$GITHUB_OUTPUT"
}

# api ARGS...: `gh api` that prints the body on success, returns 4 on HTTP 404 (gh says
# "(HTTP 404)" on stderr) and 1 on any other failure, with gh's message on stderr.
api() {
  local err rc=0 body
  err="$(mktemp)"
  body="$(gh api "$@" 2>"$err")" || rc=$?
  if ((rc != 0)); then
    if grep -q '(HTTP 404)' "$err"; then
      rm -f "$err"
      return 4
    fi
    cat "$err" >&2
    rm -f "$err"
    return 1
  fi
  rm -f "$err"
  printf '%s\n' "$body"
}

tag_path() {
  printf 'repos/%s/git/ref/tags/%s\n' "$GH_REPO" "$(urlencode "$TAG")"
}

# Prints "<object the ref names> <commit>" for the tag, nothing when it does not exist. An
# annotated tag's ref names a tag object; that object is followed to the commit.
tag_target() {
  local rc=0 answer kind sha first hops=0
  answer="$(api "$(tag_path)" --jq '.object.type + " " + .object.sha')" || rc=$?
  ((rc == 4)) && return 0
  ((rc == 0)) || die "cannot read tag ${TAG}"
  read -r kind sha <<<"$answer"
  first="$sha"
  while [[ "$kind" == tag ]]; do
    ((hops++ < 8)) || die "tag ${TAG} is a chain of more than 8 tag objects"
    answer="$(api "repos/${GH_REPO}/git/tags/${sha}" --jq '.object.type + " " + .object.sha')" ||
      die "cannot read tag object ${sha} of ${TAG}"
    read -r kind sha <<<"$answer"
  done
  printf '%s %s\n' "$first" "$sha"
}

# True when the tag (its ref or the commit behind it) is the commit this run tested.
tag_is_ours() {
  local first="$1" commit="$2"
  [[ -n "$commit" && ("$commit" == "$GITHUB_SHA" || "$first" == "$GITHUB_SHA") ]]
}

check_release_id() {
  [[ "$RELEASE_ID" =~ ^[0-9]+$ ]] || die "RELEASE_ID ${RELEASE_ID@Q} is not a release id (digits)"
}

# Prints draft | published | gone for release $RELEASE_ID, and fails when it belongs to another tag.
release_state() {
  local rc=0 answer draft tag
  answer="$(api "repos/${GH_REPO}/releases/${RELEASE_ID}" --jq '"\(.draft) \(.tag_name)"')" || rc=$?
  if ((rc == 4)); then
    echo gone
    return 0
  fi
  ((rc == 0)) || die "cannot read release ${RELEASE_ID}"
  read -r draft tag <<<"$answer"
  [[ "$tag" == "$TAG" ]] || die "release ${RELEASE_ID} is for tag '${tag}', not '${TAG}': not touching it"
  if [[ "$draft" == true ]]; then echo draft; else echo published; fi
}

# Prints the id of the published release of $TAG, nothing when there is none. (GitHub's
# releases/tags/<tag> never answers drafts.)
published_release() {
  local rc=0 answer
  answer="$(api "repos/${GH_REPO}/releases/tags/$(urlencode "$TAG")" --jq '.id')" || rc=$?
  ((rc == 4)) && return 0
  ((rc == 0)) || die "cannot look up a published release of ${TAG}"
  printf '%s\n' "$answer"
}

cmd_draft() {
  need GH_REPO TAG GITHUB_SHA
  [[ "$TAG" =~ $DOCKER_TAG ]] ||
    die "tag '${TAG}' cannot name an image (letters, digits, '_', '.', '-'; at most 128): nothing created"
  local target first commit published id
  target="$(tag_target)" || exit 1
  read -r first commit <<<"$target"
  [[ -n "$target" ]] || die "tag ${TAG} does not exist any more: nothing created"
  tag_is_ours "$first" "$commit" ||
    die "tag ${TAG} now points at ${commit}, not at ${GITHUB_SHA} (this run's commit): it was pushed" \
      "again and the run of that push makes the release; nothing created"
  published="$(published_release)" || exit 1
  [[ -z "$published" ]] ||
    die "release ${TAG} is already published (id ${published}); nothing created, nothing deleted." \
      "To release again, push a new version tag."
  # target_commitish: should the tag vanish between the check and this call, GitHub recreates
  # it on the tested commit rather than on the default branch.
  id="$(api --method POST "repos/${GH_REPO}/releases" -f tag_name="$TAG" -f name="$TAG" \
    -f target_commitish="$GITHUB_SHA" -F draft=true -F generate_release_notes=true --jq '.id')" ||
    die "creating the draft release of ${TAG} failed: nothing created"
  [[ "$id" =~ ^[0-9]+$ ]] || die "GitHub answered a release id that is not a number: ${id@Q}"
  set_output release_id "$id"
  note "created draft release ${id} of ${TAG} at ${GITHUB_SHA}"
}

cmd_upload() {
  need GH_REPO TAG RELEASE_ID
  [[ $# -eq 1 && -f "$1" ]] || die "upload needs one existing file"
  check_release_id
  local file="$1" name state assets asset_id asset_name
  name="$(basename "$file")"
  state="$(release_state)" || exit 1
  [[ "$state" == draft ]] || die "release ${RELEASE_ID} is ${state}, not a draft: not uploading ${name}"
  assets="$(api "repos/${GH_REPO}/releases/${RELEASE_ID}/assets" --jq '.[] | "\(.id) \(.name)"')" ||
    die "cannot list the assets of release ${RELEASE_ID}"
  # a re-run replaces its own earlier upload instead of failing on the duplicate name
  while read -r asset_id asset_name; do
    if [[ -n "$asset_id" && "$asset_name" == "$name" ]]; then
      api --method DELETE "repos/${GH_REPO}/releases/assets/${asset_id}" >/dev/null ||
        die "cannot replace asset ${name} (${asset_id})"
    fi
  done <<<"$assets"
  api --method POST -H 'Content-Type: text/plain' --input "$file" \
    "https://uploads.github.com/repos/${GH_REPO}/releases/${RELEASE_ID}/assets?name=$(urlencode "$name")" \
    >/dev/null || die "uploading ${name} to release ${RELEASE_ID} failed"
  note "attached ${name} to draft release ${RELEASE_ID}"
}

# Version tags this publish has added so far; listed if anything after them fails.
TAGGED=()

report_tagged() {
  local rc=$?
  ((rc != 0)) || return 0
  ((${#TAGGED[@]} > 0)) || return 0
  local left
  for left in "${TAGGED[@]}"; do
    warn "publish failed after tagging: image ${left} exists although release ${TAG} is not published" \
      "(a copy of ${left%:*}:sha-${GITHUB_SHA}${left##*:"${TAG}"}). Delete that package version or re-tag it."
  done
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    {
      echo "### Left behind by the failed publish of ${TAG}"
      # shellcheck disable=SC2016  # the backquotes are Markdown, not a command
      printf -- '- `%s`\n' "${TAGGED[@]}"
    } >>"$GITHUB_STEP_SUMMARY"
  fi
}

cmd_publish() {
  need GH_REPO TAG GITHUB_SHA RELEASE_ID IMAGE
  [[ $# -gt 0 ]] || die "publish needs the variants (cpu, gpu)"
  check_release_id
  [[ "$IMAGE" =~ ^[a-z0-9.-]+(/[a-z0-9._-]+)+$ ]] || die "IMAGE ${IMAGE@Q} is not a lowercase image name"
  [[ "$TAG" =~ $DOCKER_TAG ]] || die "tag '${TAG}' cannot name an image"
  local state target first commit variant suffix planned=()
  state="$(release_state)" || exit 1
  case "$state" in
    published)
      note "release ${RELEASE_ID} (${TAG}) is already published (a re-run after success): nothing to do"
      return 0
      ;;
    gone) die "release ${RELEASE_ID} no longer exists (deleted after an earlier failure?): push the tag again" ;;
  esac
  target="$(tag_target)" || exit 1
  read -r first commit <<<"$target"
  tag_is_ours "$first" "$commit" ||
    die "tag ${TAG} now points at ${commit:-nothing}, not at ${GITHUB_SHA}: not publishing this run's draft"
  for variant in "$@"; do
    case "$variant" in
      cpu) suffix="" ;;
      gpu) suffix="-gpu" ;;
      *) die "unknown variant '${variant}' (cpu, gpu)" ;;
    esac
    planned+=("${IMAGE}:${TAG}${suffix}")
  done
  set_output version_tags "${planned[*]}"
  trap report_tagged EXIT
  for variant in "$@"; do
    suffix=""
    [[ "$variant" == gpu ]] && suffix="-gpu"
    docker buildx imagetools create --tag "${IMAGE}:${TAG}${suffix}" "${IMAGE}:sha-${GITHUB_SHA}${suffix}" ||
      die "tagging ${IMAGE}:sha-${GITHUB_SHA}${suffix} as ${TAG}${suffix} failed"
    TAGGED+=("${IMAGE}:${TAG}${suffix}")
    note "tagged ${IMAGE}:${TAG}${suffix}"
  done
  api --method PATCH "repos/${GH_REPO}/releases/${RELEASE_ID}" -F draft=false >/dev/null ||
    die "publishing release ${RELEASE_ID} failed"
  note "published release ${RELEASE_ID} (${TAG})"
}

cmd_cleanup() {
  need GH_REPO TAG GITHUB_SHA
  if [[ -z "${RELEASE_ID:-}" ]]; then
    note "the draft job created no release (it failed or was cancelled first): nothing to delete;" \
      "tag ${TAG} is left as it is"
    return 0
  fi
  check_release_id
  local state target first commit published
  state="$(release_state)" || exit 1
  case "$state" in
    published)
      note "release ${RELEASE_ID} (${TAG}) is published: it and its tag are left as they are"
      return 0
      ;;
    gone) note "release ${RELEASE_ID} is already gone" ;;
    draft)
      api --method DELETE "repos/${GH_REPO}/releases/${RELEASE_ID}" >/dev/null ||
        die "deleting draft release ${RELEASE_ID} failed"
      note "deleted draft release ${RELEASE_ID} (${TAG})"
      ;;
  esac
  target="$(tag_target)" || exit 1
  read -r first commit <<<"$target"
  if [[ -z "$target" ]]; then
    note "tag ${TAG} is already gone"
  elif ! tag_is_ours "$first" "$commit"; then
    note "tag ${TAG} now points at ${commit}, not at ${GITHUB_SHA}: it was pushed again; left for that run"
  else
    published="$(published_release)" || exit 1
    if [[ -n "$published" ]]; then
      note "tag ${TAG} carries published release ${published}: left as it is"
    else
      api --method DELETE "repos/${GH_REPO}/git/refs/tags/$(urlencode "$TAG")" >/dev/null ||
        die "deleting tag ${TAG} failed (a ruleset may forbid it): delete it with 'git push --delete origin ${TAG}'"
      note "deleted tag ${TAG} (${GITHUB_SHA})"
    fi
  fi
  if [[ -n "${VERSION_TAGS:-}" ]]; then
    warn "the publish job may have added these image tags before it failed (its log lists the ones it did):" \
      "${VERSION_TAGS}"
  fi
}

main() {
  [[ $# -gt 0 ]] || die "usage: release.sh draft | upload FILE | publish VARIANT... | cleanup | output NAME VALUE"
  local command="$1"
  shift
  case "$command" in
    draft) cmd_draft "$@" ;;
    upload) cmd_upload "$@" ;;
    publish) cmd_publish "$@" ;;
    cleanup) cmd_cleanup "$@" ;;
    output)
      [[ $# -eq 2 ]] || die "usage: release.sh output NAME VALUE"
      set_output "$1" "$2"
      ;;
    urlencode)
      [[ $# -eq 1 ]] || die "usage: release.sh urlencode TEXT"
      urlencode "$1"
      ;;
    *) die "unknown command '${command}'" ;;
  esac
}

main "$@"
