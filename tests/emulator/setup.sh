#!/usr/bin/env bash
# Creates (once) the emulator's Python virtualenv with the pinned requirements and prints the
# path of its python. Safe to call concurrently (flock) and fast when already set up.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${ECHO_EMULATOR_VENV:-${CARGO_TARGET_DIR:-$root/target}/emulator-venv}"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.requirements.sha256" ] || [ "$(cat "$venv/.requirements.sha256")" != "$want" ]; then
  echo "setting up the AWS emulator in $venv (moto from PyPI, about a minute, once) ..." >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" > "$venv/.requirements.sha256"
fi
echo "$venv/bin/python"
