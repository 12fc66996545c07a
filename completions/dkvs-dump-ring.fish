complete -c dkvs-dump-ring -l idle -d 'After the first datagram of a dump, how long to wait for the next one (ms)' -r
complete -c dkvs-dump-ring -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-dump-ring -s t -l timeout -d 'Operation deadline in milliseconds [default: timeout_ms of cluster.toml, else 1000]' -r
complete -c dkvs-dump-ring -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-dump-ring -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-dump-ring -l health -d 'Instead of the contents, print each server\'s health as one table: keys, hints held for other servers, keys being handed off after a membership change, and replica divergence at the last anti-entropy round (from the servers\' STATS; exit 5 when a server is silent, or when every server refused as unauthenticated)'
complete -c dkvs-dump-ring -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-dump-ring -s q -l quiet -d 'No logs at all on stderr, not even errors (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-dump-ring -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-dump-ring -s V -l version -d 'Print version'
