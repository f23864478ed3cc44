#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium opens the report of a shipped
# scenario and the report of a copy renamed to a script tag, and check.mjs checks that each
# draws, steps with the arrow keys, stays inside its file and shows the name as text.
# Chromium comes from Debian's package; when it is missing it is installed, and when that
# fails the check fails: it is never skipped.
set -euo pipefail
cd "$(dirname "$0")/../../.."
chromium=/usr/bin/chromium
if [ ! -x "$chromium" ]; then
  echo "browser check: $chromium is missing; installing Debian's chromium package"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update && $sudo apt-get install -y chromium; } || [ ! -x "$chromium" ]; then
    echo "browser check: FAILED: cannot install chromium (apt-get install -y chromium); the HTML report's browser check needs it" >&2
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (the HTML report in headless Chromium)"
    exit 1
  fi
fi
(cd sim/tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo build -q -p kafka-sim --bin kafka-sim
bin=target/debug/kafka-sim
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin" report scenarios/unclean-election-loses-acked.toml --out "$out/unclean-election-loses-acked.html"
"$bin" report scenarios/group-rebalance-on-member-crash.toml --out "$out/group-rebalance-on-member-crash.html"
# The what-if page: both runs of a change on one time axis, one cursor for both.
"$bin" what-if scenarios/unclean-election-loses-acked.toml \
  --set cluster.config.unclean.leader.election.enable=false --out "$out/what-if.html" >/dev/null
name='</script><script>alert(1)</script>'
awk -v name="$name" '!done && /^name = / { print "name = \"" name "\""; done = 1; next } { print }' \
  scenarios/acks-1-loses-on-leader-crash.toml >"$out/hostile.toml"
"$bin" report "$out/hostile.toml" --out "$out/hostile.html"
node sim/tests/browser/check.mjs --chromium "$chromium" \
  --report "$out/unclean-election-loses-acked.html" \
  --report "$out/group-rebalance-on-member-crash.html" \
  --report "$out/what-if.html" \
  --hostile "$out/hostile.html" --name "$name"
