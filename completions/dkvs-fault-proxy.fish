complete -c dkvs-fault-proxy -l listen -d 'Address clients send to' -r
complete -c dkvs-fault-proxy -l upstream -d 'The server\'s address' -r
complete -c dkvs-fault-proxy -l drop -d 'Percentage of datagrams dropped' -r
complete -c dkvs-fault-proxy -l dup -d 'Percentage of datagrams sent twice' -r
complete -c dkvs-fault-proxy -l reorder -d 'Percentage of datagrams held back behind the next one' -r
complete -c dkvs-fault-proxy -l corrupt -d 'Percentage of datagrams with one bit flipped' -r
complete -c dkvs-fault-proxy -l delay -d 'Delay added to every datagram (e.g. 50ms, 1.5s; a bare number is milliseconds)' -r
complete -c dkvs-fault-proxy -l jitter -d 'Uniform jitter around the delay (± DURATION; a bare number is milliseconds)' -r
complete -c dkvs-fault-proxy -l seed -d 'Random seed [default: a random one, printed]' -r
complete -c dkvs-fault-proxy -l direction -d 'Which traffic the faults apply to' -r -f -a "both\t'Requests and replies'
request\t'Client to server only'
reply\t'Server to client only'"
complete -c dkvs-fault-proxy -l color -d 'Colour: auto (only on a terminal, and not when NO_COLOR is set), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c dkvs-fault-proxy -l exit-codes -d 'Exit statuses: dkvs\'s own, or the original course\'s error.h (docs/TEACHING.md) [default: $DKVS_EXIT_CODES, else dkvs]' -r -f -a "dkvs\t'dkvs\'s own: 0 success, 1 failure, 2 usage, 3 configuration, 4 not found, 5 quorum or network, 6 clock'
course\t'the course\'s error.h: 0 success, 130 failure or clock, 134 usage, 133 configuration, 137 not found, 132 quorum or network'"
complete -c dkvs-fault-proxy -l black-hole -d 'Drop everything (the server looks dead)'
complete -c dkvs-fault-proxy -s v -l verbose -d 'More logs on stderr (-v info, -vv debug, -vvv trace); DKVS_LOG or RUST_LOG also work'
complete -c dkvs-fault-proxy -s q -l quiet -d 'No log lines on stderr, not even error-level ones; a failure still prints its one ERROR line (DKVS_LOG or RUST_LOG still win)'
complete -c dkvs-fault-proxy -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dkvs-fault-proxy -s V -l version -d 'Print version'
