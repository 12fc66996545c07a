# Sourced by the bench scripts that drive 3 local release dkvs-servers
# (benches/anti_entropy.sh, benches/protocol_auth.sh). With FIRST_PORT set,
# defines: ip (a random 127.x.y.z), dir (a temporary directory, with
# servers.txt listing the 3 servers, ports FIRST_PORT..FIRST_PORT+2), start
# [server options] (starts the 3, stderr to $dir/server.log), stop (stops
# those started), and an EXIT trap that stops them, runs `on_exit` when the
# script defines it, and removes $dir.
ip="127.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))"
dir=$(mktemp -d)
ports=("$FIRST_PORT" "$((FIRST_PORT + 1))" "$((FIRST_PORT + 2))")
printf "%s %s 1\n" "$ip" "${ports[0]}" "$ip" "${ports[1]}" "$ip" "${ports[2]}" > "$dir/servers.txt"
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
trap 'stop; if declare -F on_exit >/dev/null; then on_exit; fi; rm -rf "$dir"' EXIT
start() {
  for p in "${ports[@]}"; do
    target/release/dkvs-server "$@" "$ip" "$p" 2>>"$dir/server.log" & pids+=($!)
  done
  sleep 0.5
}
