complete -c dkvs-server -l allow -d 'Serve only sources in CIDR (repeatable; others are dropped silently; `none`: nobody) [default: everyone]' -r
complete -c dkvs-server -l allow-dump -d 'Answer dump requests only from CIDR (repeatable; `none`: nobody) [default: 127.0.0.0/8]' -r
complete -c dkvs-server -l max-memory -d 'Refuse puts once keys + values + 64 bytes per pair would exceed SIZE (e.g. 512MiB or 1.5G; K = 1024; a bare number is bytes) [default: 1GiB]' -r
complete -c dkvs-server -l reply-rate -d 'Reply bytes per second one source address may receive (counting 28 header bytes per datagram); beyond, requests are dropped [default: 16MiB]' -r
complete -c dkvs-server -l reply-burst -d 'Reply bytes one source may receive in a burst [default: 4MiB]' -r
complete -c dkvs-server -l budget-exempt -d 'Sources the reply budget does not apply to (repeatable; `none`) [default: 127.0.0.0/8]' -r
complete -c dkvs-server -l recv-buffer -d 'Receive buffer of the socket, the only queue of waiting requests (the kernel caps it at net.core.rmem_max) [default: 4MiB]' -r
complete -c dkvs-server -l key-file -d 'Accept only requests signed with a key of FILE (`<id> <hex secret>` per line; v1 and unsigned v2 are refused; see docs/SECURITY.md) [default: $DKVS_KEY_FILE]' -r -F
complete -c dkvs-server -l max-clock-offset -d 'Refuse a put or delete whose version is more than DURATION ahead of this server\'s clock (e.g. 500ms, 2s; a bare number is milliseconds): the writer\'s clock is wrong (it is told by how much). Smaller skews are absorbed by clients re-stamping their writes; see docs/RELIABILITY.md [default: 500ms]' -r
complete -c dkvs-server -l data-dir -d 'Keep the pairs in DIR (created if missing) so that they survive a restart or a crash; without it they live in memory only. One server per directory (a second one is refused); --max-memory then bounds the database\'s page cache. See docs/STORAGE.md' -r -F
complete -c dkvs-server -l sync -d 'With --data-dir: when puts reach the disk. `always`: a put is acknowledged only once synced (puts arriving together share one sync); `periodic`: synced every --sync-interval, a machine crash loses at most that much; `none`: left to the operating system. A crash of the server alone loses no acknowledged put in any policy' -r -f -a "always\t'A put is acknowledged only after it is on disk (its write-ahead log entry fdatasynced; puts that arrive together share one sync)'
periodic\t'A put is acknowledged once written to the operating system; the log is synced every `--sync-interval` (1 s by default): a crash of the machine loses at most that much, a crash of the server nothing'
none\t'A put is acknowledged once written to the operating system, which decides when it reaches the disk (plus a checkpoint every 10 s)'"
complete -c dkvs-server -l sync-interval -d 'With --sync periodic: time between syncs (e.g. 250ms, 2s; a bare number is milliseconds; at most 1h)' -r
complete -c dkvs-server -l max-disk -d 'With --data-dir: refuse puts once keys + records + 64 bytes per pair would exceed SIZE (e.g. 20GiB; K = 1024; a bare number is bytes) [default: no limit but the disk\'s; a full disk also refuses puts]' -r
complete -c dkvs-server -l tombstone-grace -d 'How long a deleted key\'s tombstone is kept before a background sweep purges it (protocol v2 deletes; e.g. 10d, 36h; a bare number is seconds). A replica that misses a delete and comes back after the grace can bring the value back: repair or replace replicas within it. See docs/STORAGE.md' -r
complete -c dkvs-server -l servers -d 'The cluster\'s servers.txt or cluster.toml: the server learns the ring, finds itself in it by its listen address and repairs its replicas with anti-entropy. Reloaded on SIGHUP (a bad file keeps the old ring). Without it the server knows no other server' -r -F
complete -c dkvs-server -l replicas -d 'With --servers: replicas per key N [default: cluster.toml\'s [defaults] n, else 3; lowered to the number of servers]' -r
complete -c dkvs-server -l ring-address -d 'With --servers: this server\'s address as the servers file lists it, when the other servers and the clients reach it through another address (a proxy, NAT) [default: the listen address]' -r
complete -c dkvs-server -l anti-entropy-interval -d 'With --servers: time between anti-entropy rounds (e.g. 500ms, 10s, 1m; a bare number is seconds, decimals allowed; at most 1d; 0 turns anti-entropy off)' -r
complete -c dkvs-server -l anti-entropy-rate -d 'With --servers: bytes per second anti-entropy may send and receive in all (e.g. 512KiB, 4M; K = 1024; a bare number is bytes)' -r
complete -c dkvs-server -l metrics -d 'Serve the server\'s counters (those of `dkvs-client stats`) and request latency histograms as Prometheus metrics over plain HTTP: `GET http://ADDR:PORT/metrics` (text format 0.0.4, docs/METRICS.md); none by default. Anyone who can reach ADDR can read them: prefer a loopback or private address' -r
complete -c dkvs-server -l protocol -d 'Protocols served: v2 (v2 and v1 on the same port) or v1 (protocol v1 only, as a server of the original design: no versions, no deletes, v2 requests get the v1 refusal). v1 is for mixed clusters, tests and teaching; it cannot be combined with --key-file or --servers, which need v2' -r
complete -c dkvs-server -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-server -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-server -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-server -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-server -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-server -s V -l version -d 'Print version'
