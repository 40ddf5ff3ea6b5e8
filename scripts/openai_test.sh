#!/usr/bin/env bash
# The official `openai` npm client against `cascade serve` in its three modes:
# the plaintext engine, --cascade (an embedded cluster of node processes) and
# --cluster (node daemons started here from a manifest, mutual TLS).
# Usage: scripts/openai_test.sh [CASCADE_BIN] [MODEL]
# Exits 77 (skipped) when node or the client (tests/openai/node_modules, put
# there by scripts/setup) is missing; it never downloads anything.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(realpath "${1:-$root/build/cascade}")"
model="$(realpath "${2:-${CASCADE_SHARED_DIR:-$root/../shared}/models/stories260K/stories260K.bin}")"
test_dir="$root/tests/openai"
if ! command -v node >/dev/null || [ ! -d "$test_dir/node_modules/openai" ]; then
  echo "skipped: needs node and tests/openai/node_modules (scripts/setup installs them)" >&2
  exit 77
fi
cd "$test_dir"
node openai_test.mjs "$bin" "$model" --quiet
node openai_test.mjs "$bin" "$model" --quiet --cascade 2,3

# --cluster: 2 CompNodes and 9 AttnNodes (alpha 2, beta 3) on loopback.
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
names=(client comp0 comp1); for i in $(seq 0 8); do names+=("attn$i"); done
"$bin" cert --dir "$work" "${names[@]}" 2>/dev/null
base=$((30000 + RANDOM % 20000))
nodes=""
start_node() {  # role index port
  local name="$1$2"
  if [ "$1" = comp ]; then extra=(-m "$model"); else extra=(); fi
  "$bin" node --role "$1" --listen "127.0.0.1:$3" --cert "$work/$name.pem" --key "$work/$name.key" \
    --ca "$work/ca.pem" --ready-file "$work/$name.ready" "${extra[@]}" >"$work/$name.log" 2>&1 &
  pids+=($!)
  nodes+="${nodes:+,}{\"role\":\"$1\",\"index\":$2,\"address\":\"127.0.0.1:$3\"}"
}
start_node comp 0 $base; start_node comp 1 $((base + 1))
for i in $(seq 0 8); do start_node attn "$i" $((base + 2 + i)); done
for n in "${names[@]:1}"; do
  for _ in $(seq 300); do [ -s "$work/$n.ready" ] && break; sleep 0.1; done
  [ -s "$work/$n.ready" ] || { echo "node $n did not start:"; cat "$work/$n.log"; exit 1; }
done
cat >"$work/cluster.json" <<JSON
{"ca":"ca.pem","client":{"cert":"client.pem","key":"client.key"},"nodes":[$nodes],
 "plan":{"alpha":2,"beta":3}}
JSON
node openai_test.mjs "$bin" "$model" --quiet --cluster "$work/cluster.json"
