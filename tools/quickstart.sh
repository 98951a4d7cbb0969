#!/usr/bin/env bash
# The main job, from a fresh clone: installs what is missing, builds, starts ssm-server on a
# model folder, streams one completion through ssm-client, and stops the server.
#   tools/quickstart.sh [MODEL_DIR] [PROMPT]
# MODEL_DIR is a Hugging Face Mamba/Mamba-2 folder (config.json + safetensors, and
# tokenizer.json for text prompts); by default the small demo model shipped in
# models/tinystories-mamba, which writes children's stories. A folder without tokenizer.json
# is prompted with token ids.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/tinystories-mamba}
prompt=${2:-Once upon a time}
port=${SSM_PORT:-50051}
bash tools/install_deps.sh
SSM_BUILD_TARGETS="ssm-server ssm-client" bash tools/build.sh

log=build/quickstart-server.log
echo "starting ssm-server on $model (log: $log)"
./build/server/ssm-server --model "$model" --port "$port" >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT
for _ in $(seq 100); do
  ./build/client/ssm-client --target "localhost:$port" health >/dev/null 2>&1 && break
  sleep 0.1
done
if [ -f "$model/tokenizer.json" ]; then
  printf '%s' "$prompt"
  ./build/client/ssm-client --target "localhost:$port" generate --prompt "$prompt" --max-tokens 96
else
  echo "($model has no tokenizer.json: prompting with token ids, printing the result as JSON)"
  ./build/client/ssm-client --target "localhost:$port" generate --prompt-ids 1,2,3,4,5 \
    --max-tokens 32 --json
fi
