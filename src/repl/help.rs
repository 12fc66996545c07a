//! Help texts of the REPL language: one summary line per command for `help`,
//! and a longer text for `help <command>`. Also the source of completion
//! candidates in the line shell.

/// (command, usage, one-line summary)
pub const SUMMARY: &[(&str, &str, &str)] = &[
    (
        "put",
        "put <key> <value> [n=N] [w=W]",
        "quorum write: stored once W servers acknowledge",
    ),
    (
        "get",
        "get <key> [n=N] [r=R]",
        "quorum read: a value returned by R servers",
    ),
    (
        "del",
        "del <key> [n=N] [w=W]",
        "quorum delete: a tombstone on W servers (v2 only)",
    ),
    (
        "cat",
        "cat <key>... <dest> [n= r= w=]",
        "concatenate values into <dest>",
    ),
    (
        "substr",
        "substr <key> <pos> <len> <dest> [n= r= w=]",
        "copy bytes pos..pos+len (pos<0 counts from the end)",
    ),
    (
        "find",
        "find <key1> <key2> [n= r=]",
        "position of key2's value in key1's value, or -1",
    ),
    (
        "where",
        "where <key>",
        "the key's SHA-1 and preference list (no network)",
    ),
    (
        "ring",
        "ring",
        "nodes in ring order: SHA-1, server, node, status",
    ),
    (
        "dump",
        "dump [<server>]",
        "contents of one server, or of all",
    ),
    (
        "kill",
        "kill <server>",
        "SIGKILL a spawned server (a crash)",
    ),
    (
        "stop",
        "stop <server>",
        "SIGTERM a spawned server (a clean stop)",
    ),
    (
        "start",
        "start <server>",
        "start a spawned server that is down",
    ),
    (
        "restart",
        "restart <server>",
        "stop, then start a spawned server",
    ),
    (
        "pause",
        "pause <server>",
        "SIGSTOP a spawned server (alive but silent)",
    ),
    ("resume", "resume <server>", "SIGCONT a paused server"),
    (
        "status",
        "status",
        "each server: address, nodes, pid, state, last answer",
    ),
    (
        "health",
        "health",
        "each server: keys, hints held, keys moving, replica divergence",
    ),
    (
        "slow",
        "slow on|off|<ms>",
        "slow motion: show a quorum forming reply by reply, on the ring too",
    ),
    (
        "replay",
        "replay [<ms>]",
        "the last operation again, travelling on the ring, and its time line",
    ),
    (
        "skew",
        "skew [<±ms>|off]",
        "set this session's clock ahead or behind: versions and re-stamps",
    ),
    (
        "sloppy",
        "sloppy on|off",
        "sloppy quorum: hints written for silent servers count toward W",
    ),
    (
        "whatif",
        "whatif add <ip:port> nodes=<k> | remove <server> | nodes <server>=<k>... | off",
        "which keys would move",
    ),
    (
        "balance",
        "balance",
        "each server's share of the key space: primary, replica, stored keys",
    ),
    (
        "loss",
        "loss <server> <percent>",
        "drop that share of datagrams to and from a server",
    ),
    (
        "delay",
        "delay <server> <ms>",
        "delay every request to a server",
    ),
    (
        "heal",
        "heal [<server>]",
        "remove loss and delay of a server; alone: every cut and fault, then watch convergence",
    ),
    (
        "partition",
        "partition <servers> | <servers> [| …]  or  partition <servers> -> <servers>",
        "cut the network between groups of servers (namespaces mode)",
    ),
    (
        "net",
        "net",
        "the network: each server's host and side, the cuts and faults in force",
    ),
    (
        "add",
        "add <ip:port> [nodes=<k>] [metrics=<ip:port>] [data_dir=<dir>] [sync=<policy>] [server_option=<name>=<value>]...",
        "a new server joins: file rewritten, started, ring reloaded",
    ),
    (
        "remove",
        "remove <server>",
        "a server leaves: hands its keys over, then stopped",
    ),
    (
        "lesson",
        "lesson [<number>|<file>|next|back|end]",
        "guided lessons: list them, run one step by step, leave it",
    ),
    (
        "export",
        "export ring <file.svg> | transcript <file.md>",
        "slides: the ring as SVG, or the session as Markdown",
    ),
    (
        "help",
        "help [<command>]",
        "this list, or one command in detail",
    ),
    (
        "quit",
        "quit",
        "stop the servers dkvs-tui started and leave",
    ),
];

/// Longer explanations for `help <command>`.
fn detail(command: &str) -> Option<&'static str> {
    Some(match command {
        "put" => {
            "Sends the value to the key's N servers at once and succeeds as soon as W of them stored it.\nN, W default to [defaults] of cluster.toml (else 3 and 2), lowered to the ring's size when not given."
        }
        "get" => {
            "Asks the key's N servers at once and succeeds as soon as R of them returned the same value.\n`not found` replies are not values; if R servers say not found, the key is not found.\nWith protocol v2 the value must be the newest version seen (an older one is never returned), and servers that answered an older version or not found are sent the newest one afterwards (read repair, shown after the verdict)."
        }
        "del" => {
            "Writes a tombstone with a new version to the key's N servers at once and succeeds as soon as W of them stored it (or already keep a newer version); gets then say not found.\nNeeds protocol v2: a server that speaks only v1 cannot delete and counts as a refusal."
        }
        "cat" => {
            "Gets every source key (quorum R), concatenates the values in order, puts the result under <dest> (quorum W)."
        }
        "substr" => {
            "Gets <key>, copies <len> bytes starting at <pos> (0 = first byte, -1 = last byte) and puts them under <dest>.\nFails unless the range lies inside the value."
        }
        "find" => {
            "Gets both keys and prints the leftmost position of key2's value inside key1's value (-1 when absent)."
        }
        "where" => {
            "Shows the key's SHA-1, the first node at or after it, and the walk around the ring: nodes used (one per server) and nodes skipped because their server was already chosen. Also drawn on the ring."
        }
        "ring" => {
            "Lists every virtual node in ring order with its SHA-1, server, node number and the server's state."
        }
        "dump" => {
            "Sends the dump request to one server (by number or ip:port) or to every server, and prints the pairs each holds."
        }
        "kill" | "stop" | "start" | "restart" | "pause" | "resume" => {
            "<server> is a position 1..S from `status`, or ip:port. Only servers dkvs-tui started can be controlled.\nkill = SIGKILL (crash), stop = SIGTERM, pause = SIGSTOP (the process lives but does not answer), resume = SIGCONT."
        }
        "status" => {
            "Each server's address, virtual nodes, pid, state (up, down, paused, starting, unreachable) and the age of its last answer to a probe."
        }
        "health" => {
            "Asks every server for its STATS and shows, one row each: the keys it holds, the hints it keeps for servers that missed writes (hinted handoff), the keys it still has to hand over after a membership change (moving), and at its last anti-entropy round the Merkle buckets that differed from a replica's (diverging), the records repaired and the replicas that did not answer. The same table as `dkvs-dump-ring --health`."
        }
        "slow" => {
            "In slow motion every reply of a quorum operation appears one by one, <ms> apart (default 700), so a class can watch W or R being reached.\nOn the screen, the requests travel from the centre of the ring (the client) to the replicas' nodes and the replies come back in the order they really arrived, one every <ms>: • a request, ✓ a counted reply, ○ one that did not count, ∘ a late one (after the quorum), ✗ a refusal, ⌛ a server that never answered, ↻ a read repair and ↪ a hint after the verdict; the centre shows ✓ W=2 (or ✗) at the quorum moment. The timeline strip under the results shows the real times."
        }
        "replay" => {
            "Plays the last data command again without touching the servers: its operations travel on the ring as in slow motion, <ms> between events (1..60000; default the slow-motion pace, else 600), one operation after the other for cat and substr. It prints a summary (replies, the quorum's moment, late, refused and silent servers, read repairs and hints) and the time line as text: each reply's server number where it arrived on a real time axis, the quorum as ┼ and │ quorum 0.45 ms."
        }
        "skew" => {
            "Moves this session's clock <ms> ahead (+) or behind (-) the machine's, as a badly set clock would; `skew off` puts it back, `skew` alone shows it. Puts and deletes carry a version from this clock.\nA write superseded by a newer version the servers keep is re-stamped past it: put a key, `skew -30000`, put it again — the trace shows `superseded by … re-stamped …, stored`. A clock more than the servers' maximum offset (500 ms by default) ahead is refused, with by how much: try `skew +5000`."
        }
        "sloppy" => {
            "Dynamo's sloppy quorum. Off (the default), a put counts only the key's own N servers toward W; a server that stays silent gets its write kept as a hint on the next server of the ring, delivered when it answers again, but never counted.\n`sloppy on`: at the first resend, while W is not reached, each silent server's write goes to the next server of the ring as a hint, and that server's acknowledgement counts toward W: writes succeed during a partition, on whichever side the client is, and the hints bring the data home after `heal`. The price: a get right after may not find the value on the key's own servers."
        }
        "whatif" => {
            "Shows what a membership change would do without doing it: the nodes a new server would add (or a removed server would take away), the share of the key space that would change owners, and how many stored keys would move.\n`whatif nodes 1=10 3=5` previews new virtual-node counts: each server's share before and after (as `balance` shows it) and the share of the key space whose preference list would change. Nothing is changed."
        }
        "balance" => {
            "Each server's share of the key space, computed exactly from the ring: as primary (the arcs ending at its nodes) and as a replica (the keys whose preference list of N servers includes it), against the ideal 1/S and N/S, and the standard deviation of each column in percentage points. The keys column is each server's stored key count from STATS (— when it does not answer).\nMore virtual nodes per server mean a smaller standard deviation: try `whatif nodes 1=50 2=50 3=50 4=50 5=50`."
        }
        "loss" | "delay" | "heal" => {
            "Puts a fault proxy (inside dkvs-tui) between this session and one server: loss drops <percent> of the datagrams each way, delay holds every request <ms> back; both can be combined. Lost requests are resent (after 50, 150, 350, 750 ms), so watch quorums slow down and fail.\nOnly this session's gets and puts go through the proxy: dumps, probes and other clients talk to the server directly. `heal <server>` (or loss 0 and delay 0) removes it.\n`heal` alone removes everything: every partition cut and every loss and delay. After a partition it then watches the replicas converge — hints delivered, anti-entropy repairs — and shows each server's progress (`3 hints to deliver`, `2 keys differ`, `in sync`) in the server list, `status` and the event log."
        }
        "partition" => {
            "Cuts real links between servers: in namespaces mode ([cluster] network = \"namespaces\" in cluster.toml, dkvs-tui run as root) every server is a host of its own, and nftables rules in the hosts drop the packets.\n`partition 1,2 | 3,4,5` splits the servers into groups that no longer reach each other, both ways, replacing the cuts in force; servers not named reach everyone. `client` is this machine (the REPL, probes, dkvs-client): `partition client,1 | 2,3,4,5` leaves the client with server 1 only, so writes to the others become hints and quorums needing them fail, with the reason.\n`partition 1 -> 2` is one way: 1's packets no longer reach 2, 2's still reach 1; it adds to the cuts in force. `net` lists them; `heal` ends them all. The server list and the ring show each server's side (A, B, …)."
        }
        "net" => {
            "Shows the network mode (loopback, or namespaces with the hosts' subnet and bridge), each server's host and side, the client's side, the cuts in force (partitions and one-way cuts) and the loss and delay faults."
        }
        "add" => {
            "Membership change, for real (`whatif add` only shows it): adds a [[server]] table to the cluster file (comments kept; a server removed in this session goes back where it stood, after it finished leaving), with the fields given (nodes default 1; metrics, data_dir and sync as in cluster.toml; server_option=max-memory=512MiB, repeatable, for its server_options; servers.txt holds nodes only), starts the server (a new ip:port on 127.0.0.0/8, the port free), tells every other running server to reload the file (SIGHUP) and switches this screen to the new ring.\nThe servers then move the keys the new server now owns to it (anti-entropy and handoff); the events log shows the key counts as they change.\nRefused in namespaces mode, whose hosts are made at start from cluster.toml."
        }
        "remove" => {
            "Membership change, for real (`whatif remove` only shows it): takes the server out of the cluster file, tells every running server to reload it (SIGHUP) — the removed one hands its keys to their new owners — and switches this screen to the new ring. The removed server is stopped once it holds no keys, or after 30 s; the events log shows the progress.\nOnly a server dkvs-tui started can be removed, never the last one. Refused in namespaces mode, whose hosts are made at start from cluster.toml."
        }
        "lesson" => {
            "`lesson` lists the bundled lessons; `lesson 2` runs the second, `lesson FILE` a lesson file of your own (format: docs/TEACHING.md). Each step says what to look at and runs real commands, shown as `$ <command>` before their output; a step may wait for you to type a command (`→ your turn: …`).\n`lesson next` goes to the next step (Enter on an empty line), `lesson back` to the previous one, the cluster first put back as it was when that step began (Backspace), `lesson end` leaves (Esc). Leaving or finishing puts the cluster back as the lesson found it: servers started, stopped, resumed, added or removed again, faults healed, slow motion, skew and the what-if view as they were, keys written during the lesson deleted; one line per thing undone."
        }
        "export" => {
            "`export ring FILE.svg` writes the ring as drawn, as an SVG picture for slides: the arcs in their owners' colours, one mark per virtual node (hollow when its server is not up, with its server, node and SHA-1 as a tooltip), the legend with each server's state, and the last key's walk (replicas ranked #1..#N, skipped nodes dim).\n`export transcript FILE.md` writes the session so far as Markdown: each command as a heading with ✓ or ✗, its output (traces, verdicts, tables) in a code block; `export` lines are left out, and only the last 10000 lines are kept. Either file is created or replaced whole; `dkvs-tui --export FILE` writes it when the session ends."
        }
        "help" => "help lists every command; help <command> explains one.",
        "quit" => {
            "Stops every server dkvs-tui started (never the others) and exits. Ctrl-C and q (outside the REPL line) also quit."
        }
        _ => return None,
    })
}

/// The lines `help` prints.
pub fn help_lines(topic: Option<&str>) -> Result<Vec<String>, String> {
    match topic {
        None => {
            let mut lines =
                vec!["commands (options are k=v words; <server> is 1..S or ip:port):".to_string()];
            for (_, usage, summary) in SUMMARY {
                lines.push(format!("  {usage:<46} {summary}"));
            }
            Ok(lines)
        }
        Some(t) => {
            let t = if t == "q" || t == "exit" { "quit" } else { t };
            let (_, usage, summary) =
                SUMMARY
                    .iter()
                    .find(|(name, _, _)| *name == t)
                    .ok_or_else(|| {
                        format!("no help for `{t}`: type `help` for the list of commands")
                    })?;
            let mut lines = vec![format!("{usage} — {summary}")];
            lines.extend(
                detail(t)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| format!("  {l}")),
            );
            Ok(lines)
        }
    }
}
