#!/usr/bin/env bash
# Starts the action server and the Rasa server, prints the URLs, stops both on Ctrl-C.
# Used by `make run`; ports from PORT (Rasa, default 5005) and ACTIONS_PORT (default 5055).
set -uo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-5005}"
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
WEB_PORT="${WEB_PORT:-8080}"
MODEL="${MODEL:-models/current.tar.gz}"
export ACTIONS_PORT PORT WEB_PORT
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
mkdir -p logs

pids=()
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    echo "Stopping (PIDs ${pids[*]})..."
    kill "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
  fi
  echo "Stopped."
}
trap stop INT TERM EXIT

.venv/bin/rasa run actions --port "$ACTIONS_PORT" --actions actions >logs/actions.log 2>&1 &
pids+=($!)
# No --enable-api: the public server exposes only the channels, not Rasa's model/admin HTTP API.
.venv/bin/rasa run --model "$MODEL" --port "$PORT" --credentials credentials.yml \
  --endpoints endpoints.yml --cors "*" >logs/rasa.log 2>&1 &
pids+=($!)
.venv/bin/python -m bot.web.app >logs/web.log 2>&1 &
pids+=($!)

echo "Starting the assistant (logs in logs/rasa.log and logs/actions.log)..."
for _ in $(seq 1 180); do
  if ! kill -0 "${pids[1]}" 2>/dev/null; then
    echo "error: the Rasa server exited; see logs/rasa.log:"; tail -n 20 logs/rasa.log; exit 1
  fi
  curl -fsS "http://localhost:$PORT/webhooks/rest/" >/dev/null 2>&1 && break
  sleep 1
done
cat <<MSG
The assistant is up:
  web page:       http://localhost:$WEB_PORT/   (the chat widget)
  REST webhook:   http://localhost:$PORT/webhooks/rest/webhook
  socket.io:      http://localhost:$PORT/socket.io/
  action server:  http://localhost:$ACTIONS_PORT/health
Try:  curl -s -XPOST http://localhost:$PORT/webhooks/rest/webhook -H 'Content-Type: application/json' -d '{"sender":"me","message":"hi"}'
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "Shutting down (a server exited or Ctrl-C; see logs/)."
