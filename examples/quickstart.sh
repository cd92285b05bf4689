#!/usr/bin/env bash
# The quickstart, from an empty machine: install what it needs, make a synthetic
# Thyme-SFT dump, a synthetic V*-format benchmark and a tiny random Qwen2.5-VL, then run
# examples/quickstart.yaml (convert -> sft -> rl -> eval) as local processes. A second run continues where the first
# stopped; delete the store directory to start over.
#   THYME_STORE  where artifacts go (default ./thyme-artifacts)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=${THYME_STORE:-$root/thyme-artifacts}
bash "$root/tests/env/system-packages.sh"          # runsc, for the RL stage's sandbox
venv=$(bash "$root/tests/env/python-env.sh")
thyme="$venv/bin/thyme"

dataset="$store/thyme/datasets/quickstart"
if [ ! -f "$dataset/counts.json" ]; then
  "$thyme" synth-data "$dataset" --rows 48 --shards 2 --min-side 128 --max-side 320 --corrupt 0.05 --seed 0
fi
bench="$store/thyme/benchmarks/quickstart"
if [ ! -f "$bench/answers.json" ]; then
  "$thyme" synth-bench "$bench" --benchmarks VStarBench --items 8 --side 224 --seed 0
fi
model="$store/thyme/models/tiny-qwen2.5-vl"
if [ ! -f "$model/config.json" ]; then
  "$thyme" tiny-model "$model"
fi
exec "$thyme" run "$root/examples/quickstart.yaml" --store "$store"
