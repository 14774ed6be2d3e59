#!/usr/bin/env bash
# Puts the `slipway` binary for this runner in place and writes its path to
# the step output `bin`.
#
# The binary comes from the GitHub release that matches the action's ref
# (`uses: owner/slipway@v1.2.3` downloads release v1.2.3), checked against
# the release's SHA256SUMS. A checksum that does not match fails the step.
# Only when the ref has no release asset (a branch, a commit, an unreleased
# tag, or a runner we ship no binary for) is it built from the action's own
# source with `cargo install --path action`.
#
# Environment (set by action.yml):
#   SLIPWAY_ACTION_REPOSITORY  owner/name of the action (github.action_repository)
#   SLIPWAY_ACTION_REF         the ref it was used at (github.action_ref)
#   SLIPWAY_VERSION            a release tag that overrides the ref, or empty
#   SLIPWAY_DOWNLOAD_URL       base URL of release downloads (tests point it
#                              at file://); default https://github.com/REPO/releases/download
set -euo pipefail

log() { echo "slipway install: $*" >&2; }
fail() { echo "::error title=slipway install::$*"; exit 1; }

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target= ;;
esac
exe=slipway
[ "${RUNNER_OS:-}" = Windows ] && exe=slipway.exe

version=${SLIPWAY_VERSION:-${SLIPWAY_ACTION_REF:-}}
repo=${SLIPWAY_ACTION_REPOSITORY:-}
base=${SLIPWAY_DOWNLOAD_URL:-https://github.com/$repo/releases/download}
# One directory per version, so a second step in the job reuses the binary.
root="${RUNNER_TEMP:?RUNNER_TEMP is not set: run this from action.yml}/slipway/${version:-source}"
bin="$root/bin/$exe"

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# Downloads $1 to $2. Returns 0 when done, 2 when there is no such asset;
# any other failure ends the step.
download() {
  local code rc=0
  code=$(curl -sSL --retry 3 --retry-connrefused -w '%{http_code}' -o "$2" "$1") || rc=$?
  if [ "$rc" -eq 0 ] && { [ "$code" = 200 ] || [ "$code" = 000 ]; }; then return 0; fi
  # 37: a file:// URL that does not exist.
  if [ "$rc" -eq 37 ] || [ "$code" = 404 ]; then return 2; fi
  fail "cannot download $1 (curl exit $rc, HTTP $code)"
}

from_release() {
  [ -n "$target" ] || { log "no prebuilt binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"; return 2; }
  [ -n "$version" ] || { log "no action ref to find a release by"; return 2; }
  local asset="slipway-$target.tar.gz" tmp rc=0
  tmp=$(mktemp -d) || fail "cannot make a temporary directory"
  download "$base/$version/$asset" "$tmp/$asset" || rc=$?
  if [ "$rc" -eq 2 ]; then log "release $version has no $asset"; return 2; fi
  download "$base/$version/SHA256SUMS" "$tmp/SHA256SUMS" || rc=$?
  [ "$rc" -eq 0 ] || fail "release $version has $asset but no SHA256SUMS to check it against"
  local want got
  want=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
  [ -n "$want" ] || fail "SHA256SUMS of release $version does not list $asset"
  got=$(sha256 "$tmp/$asset")
  [ "$got" = "$want" ] || fail "SHA-256 of $asset is $got, but SHA256SUMS of release $version says $want"
  # This function runs under `||`, where `set -e` is off: check each step.
  mkdir -p "$root/bin" || fail "cannot create $root/bin"
  tar -xzf "$tmp/$asset" -C "$root/bin" "$exe" || fail "$asset holds no $exe"
  chmod +x "$bin" || fail "cannot make $bin executable"
  log "slipway $version for $target, SHA-256 $got"
}

from_source() {
  command -v cargo >/dev/null || fail "no release asset to download and no cargo to build slipway with"
  log "building slipway from source with cargo install (a few minutes)"
  cargo install --locked --quiet --path "${GITHUB_ACTION_PATH:?}/action" --root "$root" --bin slipway
}

if [ ! -x "$bin" ]; then
  rc=0
  from_release || rc=$?
  if [ "$rc" -eq 2 ]; then from_source; fi
fi
echo "bin=$bin" >> "${GITHUB_OUTPUT:?}"
