#!/usr/bin/env bash
# The OpenThinkIMG example, from an empty machine: make a synthetic chart-QA dump, a tiny
# random Qwen2.5-VL (the policy and the Point tool) and a tiny random SAM, then run
# examples/openthinkimg.yaml (tool servers, convert, V-ToolRL) as local processes.
#   THYME_STORE  where artifacts go (default ./thyme-artifacts)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
store=${THYME_STORE:-$root/thyme-artifacts}
venv=$(bash "$root/tests/env/python-env.sh")
thyme="$venv/bin/thyme"

dataset="$store/thyme/datasets/charts"
[ -f "$dataset/counts.json" ] || "$thyme" synth-charts "$dataset" --rows 8 --seed 0
model="$store/thyme/models/tiny-qwen2.5-vl"
[ -f "$model/config.json" ] || "$thyme" tiny-model "$model"
sam="$store/thyme/models/tiny-sam"
[ -f "$sam/config.json" ] || "$thyme" tools tiny-model sam "$sam"
exec "$thyme" run "$root/examples/openthinkimg.yaml" --store "$store"
