#!/bin/sh
# Regenerates the screenshots from the real program: scripts/screenshots.sh
#
# Starts dkvs-tui on the bundled cluster (cluster.toml: 127.0.0.1, ports
# 1234-1238) in a private tmux server at a fixed size, types what each
# picture shows, captures the screen with its colours (tmux capture-pane
# -e) and turns it into a 48-colour PNG with assets/ansi_to_png.py:
#
#   assets/screenshot.png  120x40  put a b n=4 w=3, kill 3 from the
#                                  server list, get a n=4 (README, TUI.md)
#   assets/tour-put.png    100x32  where a, ring, put a hello n=4 w=3
#                                  (GETTING-STARTED.md, section 4)
#   assets/tour-kill.png   100x32  then get a, kill 3, server 3's log in
#                                  the big pane, get a, put b world
#                                  (section 5)
#
# Needs tmux, python3 with Pillow (pip install pillow), the DejaVu fonts
# (Debian: fonts-dejavu-core) and the bundled cluster's ports free (quit
# any dkvs-tui running it). Builds dkvs-tui with `cargo build --release`
# unless DKVS_TUI names a dkvs-tui binary to use.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

die() {
    echo "$0: $*" >&2
    exit 1
}

command -v tmux >/dev/null 2>&1 || die "needs tmux (Debian: apt-get install tmux)"
command -v python3 >/dev/null 2>&1 || die "needs python3"
python3 -c 'import PIL' 2>/dev/null ||
    die "needs Pillow for python3: pip install pillow"
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] ||
    die "needs the DejaVu fonts (Debian: apt-get install fonts-dejavu-core)"

# True when no process holds a port of the bundled cluster.
ports_free() {
    python3 - <<'EOF'
import socket, sys
for port in range(1234, 1239):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}
ports_free || die "a port of the bundled cluster (127.0.0.1:1234-1238) is taken: quit the dkvs-tui or server using it"

if [ -z "${DKVS_TUI:-}" ]; then
    cargo build --release --bin dkvs-tui
    DKVS_TUI="$root/target/release/dkvs-tui"
fi
[ -x "$DKVS_TUI" ] || die "no dkvs-tui at $DKVS_TUI"

# What the screen shows does not depend on the caller's environment.
unset NO_COLOR DKVS_LOG RUST_LOG DKVS_SERVERS DKVS_KEY_FILE DKVS_EXIT_CODES TMUX
work=$(mktemp -d)
sock="dkvs-screenshots-$$"
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
cp cluster.toml "$work/cluster.toml"

t() {
    tmux -L "$sock" "$@"
}

screen() {
    t capture-pane -p -t shot
}

# wait_for WHAT COMMAND...: until COMMAND (reading the screen on its
# standard input) succeeds, at most 30 s.
wait_for() {
    what=$1
    shift
    i=0
    until screen | "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 300 ]; then
            echo "$0: timed out waiting for $what; the screen:" >&2
            screen >&2
            exit 1
        fi
        sleep 0.1
    done
}

all_up() {
    [ "$(grep -c '● up')" -ge 5 ]
}

# type_line TEXT: types TEXT into the REPL line and runs it.
type_line() {
    t send-keys -t shot -l "$1"
    t send-keys -t shot Enter
}

# start COLS ROWS: dkvs-tui on the bundled cluster, all servers up.
start() {
    t -f /dev/null new-session -d -s shot -x "$1" -y "$2" \
        "cd '$work' && exec '$DKVS_TUI' cluster.toml"
    wait_for "all five servers up" all_up
}

# shoot NAME: the screen, once the sparklines caught up, as assets/NAME.
shoot() {
    sleep 2
    t capture-pane -e -p -t shot >"$work/screen.ansi"
    python3 assets/ansi_to_png.py "$work/screen.ansi" "assets/$1" 48
    echo "wrote assets/$1"
}

# stop: quits dkvs-tui (which stops its servers) and its tmux server.
stop() {
    type_line quit
    i=0
    until ports_free; do
        i=$((i + 1))
        [ "$i" -le 100 ] || die "the servers did not stop"
        sleep 0.1
    done
    t kill-server 2>/dev/null || true
}

# The README's picture.
start 120 40
type_line "put a b n=4 w=3"
wait_for "the put's verdict" grep -q 'OK — W=3 reached'
t send-keys -t shot Tab
t send-keys -t shot 3
t send-keys -t shot k
wait_for "server 3 down" grep -q '3 .*127.0.0.1:1236 .*✖ down'
t send-keys -t shot Tab
type_line "get a n=4"
wait_for "the get's verdict" grep -q 'OK b — R=2 reached'
shoot screenshot.png
stop

# The tour's two pictures.
start 100 32
type_line "where a"
type_line "ring"
type_line "put a hello n=4 w=3"
wait_for "the put's verdict" grep -q 'OK — W=3 reached'
shoot tour-put.png
type_line "get a"
wait_for "the get's verdict" grep -q 'OK hello — R=2 reached'
type_line "kill 3"
wait_for "server 3 down" grep -q '3 .*127.0.0.1:1236 .*✖ down'
t send-keys -t shot Tab
t send-keys -t shot 3
t send-keys -t shot l
wait_for "server 3's log" grep -q 'Log of 3'
t send-keys -t shot Tab
type_line "get a"
type_line "put b world"
wait_for "the put's verdict" grep -q 'OK — W=2 reached'
shoot tour-kill.png
stop
