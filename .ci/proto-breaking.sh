#!/usr/bin/env bash
# Checks the contracts under proto/ against the previous commit: buf lint, then buf breaking with
# the FILE rules of buf.yaml (a removed or renumbered field, a changed type, a renamed message or
# enum value, a moved file, ... fail it). The working tree is compared, so uncommitted edits count.
#
#   .ci/proto-breaking.sh            # against HEAD~1
#   .ci/proto-breaking.sh origin/main  # against any other commit
#
# With no previous commit (a first commit, a shallow clone) or no proto/ in it there is nothing to
# compare with: it says so and succeeds. buf comes from the npm registry at a pinned version, so
# the machine needs node and npm only.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=1.75.0
base=${1:-HEAD~1}

buf() {
  npm exec --yes --package="@bufbuild/buf@$BUF_VERSION" -- buf "$@"
}

command -v npm >/dev/null 2>&1 || { echo "proto-breaking.sh: npm not found (buf is run from the npm registry)" >&2; exit 1; }

if ! commit=$(git rev-parse --verify --quiet "$base^{commit}"); then
  if (($# > 0)); then
    echo "proto-breaking.sh: $base is not a commit" >&2
    exit 1
  fi
  echo "proto-breaking.sh: no commit $base to compare with (first commit or shallow clone); nothing to check"
  exit 0
fi
if ! git cat-file -e "$commit:proto" 2>/dev/null; then
  echo "proto-breaking.sh: $base ($commit) has no proto/ directory; nothing to check"
  exit 0
fi

echo "buf $BUF_VERSION: lint proto/"
buf lint

echo "buf $BUF_VERSION: breaking changes in proto/ against $base ($commit)"
# The earlier tree is read from git (subdir=proto: its own module root, so file paths such as
# csm/intake/v1/intake.proto match on both sides).
buf breaking --against ".git#ref=$commit,subdir=proto"
echo "proto/: no breaking change against $base"
