#!/usr/bin/env bash
# Sweep 100,000 seeds as 50 shards with GNU parallel, then merge the results.
# Each shard is an ordinary `kafka-sim sweep`; any batch engine can run them.
set -euo pipefail
SCENARIO=${1:-scenarios/random-faults-unclean.toml}
SHARDS=50
mkdir -p results
seq 0 $((SHARDS - 1)) | parallel --jobs "$(nproc)" \
  kafka-sim sweep "$SCENARIO" --seeds 0..100000 --shard {}/$SHARDS --jobs 1 --out results/shard-{}.jsonl
kafka-sim merge results/shard-*.jsonl
