#!/usr/bin/env bash
# Start or stop echo-onboard's local AWS emulator (moto + tests/emulator/echo_emulator.py) on a
# free loopback port, for trying the CLI by hand. The test suite starts its own instances.
#   tests/emulator/emulator.sh start   # prints the endpoint and the env to use
#   tests/emulator/emulator.sh stop
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state="${CARGO_TARGET_DIR:-$root/target}/emulator-run"
mkdir -p "$state"
case "${1:-}" in
  start)
    if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "already running at $(cat "$state/endpoint")"; exit 0
    fi
    python="$("$here/setup.sh")"
    cd "$here"
    nohup "$python" echo_emulator.py --port "${PORT:-0}" >"$state/stdout" 2>"$state/log" &
    echo $! >"$state/pid"
    for _ in $(seq 1 100); do
      if grep -q '^READY ' "$state/stdout" 2>/dev/null; then break; fi
      sleep 0.2
    done
    endpoint="$(sed -n 's/^READY //p' "$state/stdout")"
    [ -n "$endpoint" ] || { echo "emulator did not start; see $state/log" >&2; exit 1; }
    echo "$endpoint" >"$state/endpoint"
    echo "emulator running at $endpoint (log: $state/log)"
    echo "export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=eu-west-1"
    ;;
  stop)
    if [ -f "$state/pid" ]; then kill "$(cat "$state/pid")" 2>/dev/null || true; rm -f "$state/pid" "$state/endpoint"; fi
    echo "emulator stopped"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
