#!/usr/bin/env bash
# The main job, from a fresh clone: installs what is missing, builds, and generates from a model.
#   tools/quickstart.sh [MODEL_DIR] [PROMPT_IDS]
# MODEL_DIR is a Hugging Face Mamba/Mamba-2 folder (config.json + safetensors); by default one
# of the small random test models. Until the server and tokenizer land, this runs the offline
# front end (ssm-run) on token ids.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-tests/fixtures/mamba2_g1_f32}
prompt_ids=${2:-1,2,3,4,5,6,7}
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --target ssm-run
./build/server/ssm-run generate --model "$model" --prompt-ids "$prompt_ids" --max-new-tokens 32
