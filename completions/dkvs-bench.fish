complete -c dkvs-bench -l server -d 'Drive this one server directly with v1 datagrams instead of the ring' -r
complete -c dkvs-bench -s c -l concurrency -d 'Operations in flight' -r
complete -c dkvs-bench -l keys -d 'Number of distinct keys' -r
complete -c dkvs-bench -l dist -d 'Key distribution: uniform, zipf (s = 0.99) or zipf:S' -r
complete -c dkvs-bench -l value-size -d 'Bytes per value written by puts (e.g. 100, 4KiB; at most 32753)' -r
complete -c dkvs-bench -l get-ratio -d 'Fraction of gets, 0..1 (the rest are puts)' -r
complete -c dkvs-bench -l mix -d 'Shorthand for the mix: get (all gets), put (all puts) or GETS:PUTS (e.g. 9:1)' -r
complete -c dkvs-bench -s d -l duration -d 'Run this long (e.g. 500ms, 30s, 5m; a bare number is seconds, decimals allowed; at most 1d) [default: 10s unless --requests]' -r
complete -c dkvs-bench -l requests -d 'Stop after this many operations' -r
complete -c dkvs-bench -l rate -d 'Open loop: this many operations per second in total (latency counted from the intended send time)' -r
complete -c dkvs-bench -s n -d 'Replication factor for ring operations' -r
complete -c dkvs-bench -s w -d 'Write quorum for ring operations' -r
complete -c dkvs-bench -s r -d 'Read quorum for ring operations' -r
complete -c dkvs-bench -l protocol -d 'Protocol of ring operations: v2 (v1 to servers that speak only v1) or v1 only' -r
complete -c dkvs-bench -l seed -d 'Seed of the key and operation choices' -r
complete -c dkvs-bench -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-bench -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-bench -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-bench -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-bench -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-bench -l fill -d 'Put every key once, in order, then stop (to load data before a get run)'
complete -c dkvs-bench -l json -d 'Print the result as one JSON object on stdout'
complete -c dkvs-bench -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-bench -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-bench -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-bench -s V -l version -d 'Print version'
