complete -c dkvs-tui -l lesson -d 'Start with a guided lesson: a bundled lesson\'s number (see the REPL\'s `lesson`) or a lesson file' -r
complete -c dkvs-tui -l export -d 'When the session ends, write FILE: the ring as SVG (FILE.svg) or the session\'s commands and results as Markdown (FILE.md); repeatable' -r -F
complete -c dkvs-tui -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-tui -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-tui -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-tui -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-tui -s s -l servers -l config -d 'The cluster file, like the positional CONFIG [default: $DKVS_SERVERS, else ./cluster.toml, else ./servers.txt]' -r -F
complete -c dkvs-tui -l shell -d 'A line shell instead of the full-screen UI'
complete -c dkvs-tui -l no-echo -d 'In piped mode, do not echo each command as `> <line>` before its output'
complete -c dkvs-tui -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-tui -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-tui -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-tui -s V -l version -d 'Print version'
