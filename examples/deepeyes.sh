#!/usr/bin/env bash
# The DeepEyes example from an empty machine: the Python environment, a synthetic
# DeepEyes-47k (with broken rows and ThinkLite images under 28 px), a tiny random
# Qwen2.5-VL, then examples/deepeyes.yaml (convert -> rl with the zoom tool) as local
# processes. A second run continues where the first stopped.
#   THYME_STORE  where artifacts go (default ./thyme-artifacts)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=${THYME_STORE:-$root/thyme-artifacts}
venv=$(bash "$root/tests/env/python-env.sh")
thyme="$venv/bin/thyme"

dataset="$store/thyme/datasets/deepeyes-47k"
if [ ! -f "$dataset/counts.json" ]; then
  "$thyme" synth-data "$dataset" --layout deepeyes --rows 16 --min-side 160 --max-side 320 --corrupt 0.05 --seed 0
fi
bench="$store/thyme/benchmarks/deepeyes"
if [ ! -f "$bench/answers.json" ]; then
  "$thyme" synth-bench "$bench" --benchmarks VStarBench --items 8 --side 224 --seed 0
fi
model="$store/thyme/models/tiny-qwen2.5-vl"
if [ ! -f "$model/config.json" ]; then
  "$thyme" tiny-model "$model"
fi
exec "$thyme" run "$root/examples/deepeyes.yaml" --store "$store"
