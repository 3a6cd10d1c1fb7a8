#!/usr/bin/env bash
# Scores the tracker of another commit (default: main) on the same recorded detections and
# ground truth: copies this checkout's src/track/mot_tests.rs and data into an export of that
# commit (`git archive`, nothing in the repository changes) and runs the same test there.
# Usage: tests/data/tracking/compare.sh [commit]   (prints the table; exits 1 if the test fails)
set -euo pipefail
rev=${1:-main}
root=$(cd "$(dirname "$0")/../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$root" archive "$rev" | tar -x -C "$tmp"
cp "$root/src/track/mot_tests.rs" "$tmp/src/track/"
mkdir -p "$tmp/tests/data/tracking"
cp "$root"/tests/data/tracking/{ground_truth.json,detections.jsonl} "$tmp/tests/data/tracking/"
grep -q 'mod mot_tests' "$tmp/src/track/mod.rs" || printf '\n#[cfg(test)]\nmod mot_tests;\n' >>"$tmp/src/track/mod.rs"
cd "$tmp"
# The scoring uses pathfinding's Kuhn-Munkres; older commits do not depend on it yet.
grep -q '^pathfinding' Cargo.toml || cargo add --offline --quiet pathfinding@4.16.0
# Shares this checkout's target directory: only the vigie crate recompiles.
CARGO_TARGET_DIR="$root/target" cargo test --release --lib mot_vtest -- --nocapture --test-threads=1
