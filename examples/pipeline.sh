#!/usr/bin/env bash
# Snapshot a machine file, restore it through a pipe with each strategy, print the copies.
set -euo pipefail
machine=${1:-$(dirname "$0")/small-machine.json}
for strategy in eat safe-list; do
  printf '%-10s ' "$strategy"
  swsim snapshot --machine "$machine" -o - | swsim restore - --strategy="$strategy" --json | jq .copies
done
