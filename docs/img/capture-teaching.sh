#!/bin/sh
# Reproduces the screenshots of docs/TEACHING.md: the real dkvs-tui at
# 100x30 running bundled lessons on the bundled cluster.toml, captured as
# text with `tmux capture-pane -p` into docs/img/teaching-*.txt.
#
#   docs/img/capture-teaching.sh [DKVS_TUI]
#
# DKVS_TUI defaults to target/release/dkvs-tui, else target/debug/dkvs-tui
# (build first). Needs tmux, and the bundled cluster's ports free
# (127.0.0.1:1234-1238): quit any dkvs-tui running on it. The cluster file
# is copied to a temporary directory, so the repository's copy is never
# rewritten. Times, pids and latencies differ from run to run.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
tui=${1:-}
if [ -z "$tui" ]; then
    if [ -x "$root/target/release/dkvs-tui" ]; then
        tui=$root/target/release/dkvs-tui
    else
        tui=$root/target/debug/dkvs-tui
    fi
fi
[ -x "$tui" ] || { echo "no dkvs-tui at $tui: run cargo build --release" >&2; exit 1; }
tui=$(cd "$(dirname "$tui")" && pwd)/$(basename "$tui")
command -v tmux >/dev/null || { echo "tmux is needed" >&2; exit 1; }

work=$(mktemp -d)
sock=dkvs-teaching-$$
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
cp "$root/cluster.toml" "$work/cluster.toml"

screen() { tmux -L "$sock" capture-pane -p -t s 2>/dev/null; }

# wait_for TEXT: poll the screen (20 s at most) until it shows TEXT and the
# REPL runs nothing.
wait_for() {
    i=0
    while :; do
        s=$(screen)
        case $s in
            *running…*) ;;
            *"$1"*) return 0 ;;
        esac
        i=$((i + 1))
        [ $i -lt 200 ] || { echo "timed out waiting for: $1" >&2; screen >&2; exit 1; }
        sleep 0.1
    done
}

type_line() {
    tmux -L "$sock" send-keys -t s -l "$1"
    tmux -L "$sock" send-keys -t s Enter
}

# next K N: Enter, then wait for step K of N.
next() {
    tmux -L "$sock" send-keys -t s Enter
    wait_for "step $1/$2"
}

# stop: quit dkvs-tui (it stops its servers) and wait for it to exit.
stop() {
    tmux -L "$sock" has-session -t s 2>/dev/null || return 0
    type_line quit
    i=0
    while tmux -L "$sock" has-session -t s 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 200 ] || { echo "dkvs-tui did not quit" >&2; exit 1; }
        sleep 0.1
    done
}

start() {
    stop
    cp "$root/cluster.toml" "$work/cluster.toml"
    tmux -L "$sock" -f /dev/null new-session -d -s s -x 100 -y 30 \
        "cd '$work' && env -u DKVS_LOG -u RUST_LOG -u NO_COLOR '$tui' cluster.toml"
    i=0
    until [ "$(screen | grep -c '● up')" -ge 5 ]; do
        i=$((i + 1))
        [ $i -lt 300 ] || { echo "the servers did not come up" >&2; screen >&2; exit 1; }
        sleep 0.1
    done
}

# save NAME: the screen into docs/img/teaching-NAME.txt (trailing blanks cut).
save() {
    screen | sed 's/[[:space:]]*$//' >"$root/docs/img/teaching-$1.txt"
    echo "docs/img/teaching-$1.txt"
}

# Lesson 1, step 2: where a key goes.
start
type_line "lesson 1"
wait_for "step 1/7"
next 2 7
save 1-where

# Lesson 2, step 4: ten virtual nodes each, previewed.
start
type_line "lesson 2"
wait_for "step 1/7"
next 2 7
next 3 7
next 4 7
save 2-vnodes

# Lesson 4, step 7: two servers down, R = 4 fails and R = 3 works.
start
type_line "lesson 4"
wait_for "step 1/9"
next 2 9
next 3 9
next 4 9
next 5 9
next 6 9
type_line "get k n=5 r=4"
wait_for "✓ done"
next 7 9
save 4-two-down

# Lesson 5, step 4: the hints held for server 2, in the health table.
start
type_line "lesson 5"
wait_for "step 1/8"
next 2 8
next 3 8
next 4 8
save 5-hints

stop
