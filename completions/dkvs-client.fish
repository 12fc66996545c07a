# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dkvs_client_global_optspecs
    string join \n n= w= r= json hints= protocol= s/servers= t/timeout= key-file= v/verbose q/quiet color= exit-codes= h/help V/version
end

function __fish_dkvs_client_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dkvs_client_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dkvs_client_using_subcommand
    set -l cmd (__fish_dkvs_client_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -s V -l version -d 'Print version'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "get" -d 'Print the value R servers agree on: `get -- <key>`'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "put" -d 'Store a value on W servers: `put -- <key> <value>` (`-` reads standard input)'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "del" -d 'Delete a key: a versioned tombstone on W servers (protocol v2; v1-only servers refuse): `del -- <key>`'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "cat" -d 'Concatenate values into <dest>: `cat -- <key1> [<key2>...] <dest>`'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "substr" -d 'Copy part of a value into <dest>: `substr -- <key> <position> <length> <dest>`'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "find" -d 'Print the position of <needle-key>\'s value in <haystack-key>\'s value, or -1'
complete -c dkvs-client -n "__fish_dkvs_client_needs_command" -f -a "stats" -d 'Ask every server for its counters and print one table (a row per server)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l value-file -d 'Read the value from this file instead' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand put" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand del" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand cat" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand substr" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand find" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s n -d 'Replication factor: servers each request goes to [default: 3, lowered to the ring]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s w -d 'Write quorum: acknowledgements a put or del needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s r -d 'Read quorum: identical values a get needs [default: 2, lowered to N]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -l hints -d 'Hinted handoff for writes a home server does not answer: off, store (hint the next server of the ring; hints never count toward W) or count (sloppy quorum: hints count toward W)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -l protocol -d 'Protocol: v2 (v1 to servers that speak only v1) or v1 only (the original protocol: no versions, no del)' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s s -l servers -l config -d 'The cluster file: servers.txt format, or cluster.toml when it ends in .toml [default: $DKVS_SERVERS, else ./servers.txt, else ./cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s t -l timeout -d 'Operation deadline (e.g. 500ms, 2s; a bare number is milliseconds; at most 1h) [default: timeout_ms of cluster.toml, else 1s]' -r
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -l key-file -d 'Sign every request with the first key of FILE (`<id> <hex secret>` per line; see docs/SECURITY.md) [default: $DKVS_KEY_FILE, else key_file of cluster.toml]' -r -F
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -l json -d 'Print the answer (or the failure) as one JSON object on stdout, for scripts'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-client -n "__fish_dkvs_client_using_subcommand stats" -s h -l help -d 'Print help (see more with \'--help\')'
