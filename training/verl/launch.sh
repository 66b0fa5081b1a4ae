#!/usr/bin/env bash
# Launch clarify PPO on verl with this repository's absolute paths (Ray workers on other nodes do not share
# the driver's working directory). Usage, from any directory:
#
#   bash training/verl/launch.sh 8gpu  [hydra overrides ...]   # one node, 8 GPUs
#   bash training/verl/launch.sh 2node [hydra overrides ...]   # after `ray start` on both nodes (README.md)
#
# Environment: DATA (folder with train.parquet / val.parquet, default <repo>/data/verl), MODEL (default
# Qwen/Qwen2.5-7B-Instruct or a local copy), PYTHON (default python).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
layout=${1:?"usage: launch.sh 8gpu|2node [overrides...]"}
shift
case "$layout" in
  8gpu | 2node) ;;
  *) echo "unknown layout '$layout' (8gpu or 2node)" >&2; exit 2 ;;
esac
data=${DATA:-$repo/data/verl}
exec "${PYTHON:-python}" -m verl.trainer.main_ppo \
  --config-path="$repo/training/verl/config" \
  --config-name="clarify_qwen7b_$layout" \
  data.train_files="$data/train.parquet" \
  data.val_files="$data/val.parquet" \
  actor_rollout_ref.model.path="${MODEL:-Qwen/Qwen2.5-7B-Instruct}" \
  actor_rollout_ref.rollout.agent.agent_loop_config_path="$repo/training/verl/agent_loops.yaml" \
  trainer.default_local_dir="$repo/checkpoints/verl/clarify_qwen7b_$layout" \
  "$@"
