#!/usr/bin/env bash
# Every test: the tool's tests (`cargo test`: unit, emulator, PTY and snapshot tests), then a
# compile check of the Windows target that dist-workspace.toml ships, so Windows keeps building.
#
# On a fresh machine it first installs what the tests use beyond Rust and Python: zsh and fish
# (completion scripts are checked with each shell's parser), man (the manual page is rendered),
# and the mingw C compiler plus the Rust target for the Windows check (aws-lc-sys builds C).
# Installing needs root and Debian's apt (as on CI); elsewhere install them by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need_apt=()
command -v zsh >/dev/null || need_apt+=(zsh)
command -v fish >/dev/null || need_apt+=(fish)
command -v man >/dev/null || need_apt+=(man-db)
command -v x86_64-w64-mingw32-gcc >/dev/null || need_apt+=(gcc-mingw-w64-x86-64)
if ((${#need_apt[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing ${need_apt[*]} (apt-get)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "error: the tests need ${need_apt[*]}; install them (Debian: apt-get install ${need_apt[*]})" >&2
        exit 1
    fi
fi
if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    rustup target add x86_64-pc-windows-gnu
fi

cargo test
echo "checking that the Windows target compiles (x86_64-pc-windows-gnu)" >&2
cargo check --target x86_64-pc-windows-gnu --lib --bins
