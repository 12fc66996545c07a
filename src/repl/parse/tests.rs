//! Tests of the REPL parser: every command's forms and its errors.

use super::*;
use crate::config::parse_servers_txt;

fn cfg() -> ClusterConfig {
    parse_servers_txt("127.0.0.1 1234 3\n127.0.0.1 1235 2\n127.0.0.1 1236 2\n127.0.0.1 1237 1\n127.0.0.1 1238 1\n", "t")
        .unwrap()
}

fn p(line: &str) -> Result<Option<ReplCommand>, ParseError> {
    parse_line(line, &cfg())
}

fn ok(line: &str) -> ReplCommand {
    p(line).unwrap_or_else(|e| panic!("{line}: {e}")).unwrap()
}

fn bad(line: &str) -> String {
    match p(line) {
        Err(e) => e.0,
        Ok(c) => panic!("{line} parsed as {c:?}"),
    }
}

#[test]
fn words_and_quotes() {
    let w = split_words(r#"put "two words" a\b "q\"x\\y" """#).unwrap();
    let t: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(t, vec!["put", "two words", "a\\b", "q\"x\\y", ""]);
    assert!(w[1].quoted && !w[2].quoted);
    assert!(split_words("put \"open").is_err());
    assert!(split_words("put \"open\\").is_err());
    assert_eq!(split_words("   ").unwrap(), vec![]);
    assert_eq!(split_words("a\tb").unwrap().len(), 2);
}

#[test]
fn data_commands() {
    assert_eq!(
        ok("put a b n=4 w=3"),
        ReplCommand::Data(
            Command::Put {
                key: b"a".to_vec(),
                value: b"b".to_vec()
            },
            QuorumOptions::default().n(4).w(3)
        )
    );
    assert_eq!(
        ok("get a r=1"),
        ReplCommand::Data(
            Command::Get { key: b"a".to_vec() },
            QuorumOptions::default().r(1)
        )
    );
    assert_eq!(
        ok(r#"put k "" "#),
        ReplCommand::Data(
            Command::Put {
                key: b"k".to_vec(),
                value: vec![]
            },
            QuorumOptions::default()
        )
    );
    assert_eq!(
        ok(r#"put "n=3" x"#),
        ReplCommand::Data(
            Command::Put {
                key: b"n=3".to_vec(),
                value: b"x".to_vec()
            },
            QuorumOptions::default()
        )
    );
    assert!(
        matches!(ok("cat a b c dest w=1"), ReplCommand::Data(Command::Cat { ref sources, .. }, _) if sources.len() == 3)
    );
    assert!(matches!(
        ok("substr example -2 2 d"),
        ReplCommand::Data(
            Command::Substr {
                position: -2,
                length: 2,
                ..
            },
            _
        )
    ));
    assert!(matches!(
        ok("find ab a n=2 r=1"),
        ReplCommand::Data(Command::Find { .. }, _)
    ));
    assert!(matches!(
        ok("put url http://x?a=b"),
        ReplCommand::Data(Command::Put { .. }, _)
    ));
}

#[test]
fn other_commands() {
    assert_eq!(ok("where coucou"), ReplCommand::Where(b"coucou".to_vec()));
    assert_eq!(ok("ring"), ReplCommand::Ring);
    assert_eq!(ok("dump"), ReplCommand::Dump(None));
    assert_eq!(ok("dump 2"), ReplCommand::Dump(Some(1)));
    assert_eq!(ok("dump 127.0.0.1:1238"), ReplCommand::Dump(Some(4)));
    assert_eq!(ok("kill 1"), ReplCommand::Process(ProcessAction::Kill, 0));
    assert_eq!(ok("stop 2"), ReplCommand::Process(ProcessAction::Stop, 1));
    assert_eq!(ok("start 3"), ReplCommand::Process(ProcessAction::Start, 2));
    assert_eq!(
        ok("restart 4"),
        ReplCommand::Process(ProcessAction::Restart, 3)
    );
    assert_eq!(
        ok("pause 127.0.0.1:1235"),
        ReplCommand::Process(ProcessAction::Pause, 1)
    );
    assert_eq!(
        ok("resume 5"),
        ReplCommand::Process(ProcessAction::Resume, 4)
    );
    assert_eq!(ok("status"), ReplCommand::Status);
    assert_eq!(ok("health"), ReplCommand::Health);
    assert_eq!(ok("help"), ReplCommand::Help(None));
    assert_eq!(ok("help put"), ReplCommand::Help(Some("put".into())));
    assert_eq!(ok("quit"), ReplCommand::Quit);
    assert_eq!(ok("q"), ReplCommand::Quit);
    assert_eq!(ok("slow on"), ReplCommand::Slow(Slow::On(DEFAULT_SLOW_MS)));
    assert_eq!(ok("slow 250"), ReplCommand::Slow(Slow::On(250)));
    assert_eq!(ok("slow off"), ReplCommand::Slow(Slow::Off));
    assert_eq!(ok("skew +300"), ReplCommand::Skew(Some(300)));
    assert_eq!(ok("skew -5000"), ReplCommand::Skew(Some(-5000)));
    // Durations take units, as on every command line.
    assert_eq!(ok("slow 1.5s"), ReplCommand::Slow(Slow::On(1500)));
    assert_eq!(ok("skew -2s"), ReplCommand::Skew(Some(-2000)));
    assert_eq!(ok("skew +300ms"), ReplCommand::Skew(Some(300)));
    assert_eq!(ok("skew off"), ReplCommand::Skew(Some(0)));
    assert_eq!(ok("skew"), ReplCommand::Skew(None));
    assert_eq!(
        ok("whatif add 127.0.0.1:1239 nodes=2"),
        ReplCommand::WhatIf(WhatIf::Add {
            addr: "127.0.0.1:1239".parse().unwrap(),
            nodes: 2
        })
    );
    assert_eq!(
        ok("whatif remove 1"),
        ReplCommand::WhatIf(WhatIf::Remove(0))
    );
    assert_eq!(ok("whatif off"), ReplCommand::WhatIf(WhatIf::Off));
    assert_eq!(ok("loss 2 30"), ReplCommand::Fault(Fault::Loss(30), 1));
    assert_eq!(ok("loss 1 100%"), ReplCommand::Fault(Fault::Loss(100), 0));
    assert_eq!(
        ok("delay 127.0.0.1:1236 250"),
        ReplCommand::Fault(Fault::Delay(250), 2)
    );
    assert_eq!(ok("delay 3 2s"), ReplCommand::Fault(Fault::Delay(2000), 2));
    assert_eq!(ok("heal 5"), ReplCommand::Fault(Fault::Heal, 4));
    assert_eq!(
        ok("add 127.0.0.1:1239"),
        ReplCommand::Add {
            addr: "127.0.0.1:1239".parse().unwrap(),
            server: crate::membership::NewServer::nodes(1)
        }
    );
    assert_eq!(
        ok("add 127.4.5.6:80 nodes=3"),
        ReplCommand::Add {
            addr: "127.4.5.6:80".parse().unwrap(),
            server: crate::membership::NewServer::nodes(3)
        }
    );
    assert_eq!(
        ok("add 127.0.0.1:1239 nodes=2 metrics=127.0.0.1:9200 data_dir=d sync=periodic"),
        ReplCommand::Add {
            addr: "127.0.0.1:1239".parse().unwrap(),
            server: crate::membership::NewServer {
                nodes: 2,
                metrics: Some("127.0.0.1:9200".parse().unwrap()),
                data_dir: Some("d".into()),
                sync: Some(crate::config::SyncPolicy::Periodic),
                options: Vec::new(),
            }
        }
    );
    assert!(bad("add 127.0.0.1:1239 metrics=x").contains("metrics=x is not an ip:port"));
    assert!(bad("add 127.0.0.1:1239 sync=often").contains("not a sync policy"));
    assert!(
        bad("add 127.0.0.1:1239 colour=red")
            .contains("nodes=, metrics=, data_dir=, sync= and server_option=")
    );
    assert_eq!(
        ok("whatif add 127.0.0.1:1239 nodes=2 metrics=127.0.0.1:9200"),
        ReplCommand::WhatIf(WhatIf::Add {
            addr: "127.0.0.1:1239".parse().unwrap(),
            nodes: 2
        })
    );
    assert!(bad("add 127.0.0.1:1239 server_option=quiet").contains("give NAME=VALUE"));
    assert_eq!(ok("remove 5"), ReplCommand::Remove(4));
    assert_eq!(ok("remove 127.0.0.1:1235"), ReplCommand::Remove(1));
    assert_eq!(p("").unwrap(), None);
    assert_eq!(p("   ").unwrap(), None);
}

#[test]
fn errors() {
    assert!(bad("frobnicate").contains("unknown command `frobnicate`"));
    assert!(bad("\"get\" a").contains("unknown command"));
    assert!(bad("put a").starts_with("usage: put"));
    assert!(bad("put a b c").starts_with("usage: put"));
    assert!(bad("get").starts_with("usage: get"));
    assert!(bad("get a b").starts_with("usage: get"));
    assert!(bad("cat a").starts_with("usage: cat"));
    assert!(bad("substr a 1 2").starts_with("usage: substr"));
    assert!(bad("substr a x 2 d").contains("not an integer"));
    assert!(bad("find a").starts_with("usage: find"));
    assert!(bad("get a w=2").contains("does not take w="));
    assert!(bad("put a b r=2").contains("does not take r="));
    assert!(bad("get a x=1").contains("does not take x="));
    assert!(bad("get a n=0").contains("strictly positive"));
    assert!(bad("get a n=-1").contains("strictly positive"));
    assert!(bad("get a r=abc").contains("strictly positive"));
    assert!(bad("put \"a b").contains("unterminated quote"));
    assert!(bad("kill 0").contains("unknown server `0`"));
    assert!(bad("kill 6").contains("unknown server `6`"));
    assert!(bad("kill 127.0.0.1:9999").contains("unknown server"));
    assert!(bad("kill").starts_with("usage: kill"));
    assert!(bad("dump nope").contains("unknown server"));
    assert!(bad("ring extra").starts_with("usage: ring"));
    assert!(bad("status n=2").contains("takes no options"));
    assert!(bad("where").starts_with("usage: where"));
    assert!(bad("where \"\"").contains("must not be empty"));
    assert!(bad("slow fast").starts_with("usage: slow"));
    assert!(bad("skew soon").starts_with("usage: skew"));
    assert!(bad("skew 99999999999").starts_with("usage: skew"));
    assert!(bad("skew 1 2").contains("skew"));
    assert!(bad("whatif").starts_with("usage: whatif"));
    assert!(bad("whatif add nowhere").contains("not an ip:port"));
    assert!(bad("whatif add 127.0.0.1:1234").contains("already in the ring"));
    assert!(bad("whatif add 127.0.0.1:1239 nodes=0").contains("strictly positive"));
    assert!(bad("whatif add 127.0.0.1:1239 weight=2").contains("does not take weight="));
    assert!(bad("whatif remove 9").contains("unknown server"));
    assert!(bad("help a b").starts_with("usage: help"));
    assert!(bad("loss 1").starts_with("usage: loss"));
    assert!(bad("loss 1 101").starts_with("usage: loss"));
    assert!(bad("loss 1 -5").starts_with("usage: loss"));
    assert!(bad("loss 9 5").contains("unknown server"));
    assert!(bad("delay 1 soon").starts_with("usage: delay"));
    assert!(bad("delay 1 10001").starts_with("usage: delay"));
    assert!(bad("heal 1 2").starts_with("usage: heal"));
    assert!(bad("heal 1 x=2").contains("takes no options"));
    assert!(bad("add").starts_with("usage: add <ip:port>"));
    assert!(bad("add 127.0.0.1:1 127.0.0.1:2").starts_with("usage: add"));
    assert!(bad("add nowhere").contains("add: `nowhere` is not an ip:port"));
    assert!(bad("add 127.0.0.1:0").contains("port must be"));
    assert!(bad("add 127.0.0.1:1238").contains("already in the ring"));
    assert!(bad("add 10.0.0.1:1239").contains("not on 127.0.0.0/8"));
    assert!(bad("add 127.0.0.1:1239 nodes=0").contains("strictly positive"));
    assert!(bad("add 127.0.0.1:1239 nodes=10001").contains("at most 10000"));
    assert!(bad("add 127.0.0.1:1239 n=2").contains("add does not take n="));
    assert!(bad("remove").starts_with("usage: remove"));
    assert!(bad("remove 6").contains("unknown server `6`"));
    assert!(bad("remove 1 nodes=2").contains("takes no options"));
    let one = parse_servers_txt("127.0.0.1 1234 1\n", "t").unwrap();
    let e = parse_line("remove 1", &one).unwrap_err();
    assert!(e.0.contains("the ring would be empty"), "{e}");
}

#[test]
fn balance_and_whatif_nodes() {
    assert_eq!(ok("balance"), ReplCommand::Balance);
    assert!(bad("balance 1").starts_with("usage: balance"));
    assert!(bad("balance n=2").contains("takes no options"));
    assert_eq!(
        ok("whatif nodes 1=10"),
        ReplCommand::WhatIf(WhatIf::Nodes(vec![(0, 10)]))
    );
    assert_eq!(
        ok("whatif nodes 1=10 127.0.0.1:1236=5"),
        ReplCommand::WhatIf(WhatIf::Nodes(vec![(0, 10), (2, 5)]))
    );
    assert!(bad("whatif nodes").starts_with("usage: whatif"));
    assert!(bad("whatif nodes 9=2").contains("unknown server"));
    assert!(bad("whatif nodes 1=0").contains("k must be an integer"));
    assert!(bad("whatif nodes 1=x").contains("k must be an integer"));
    assert!(bad("whatif nodes 1").contains("is not <server>=<k>"));
    assert!(bad("whatif nodes 1=2 1=3").contains("named twice"));
    // A lowercase name is an option, not a server: refused.
    assert!(bad("whatif nodes 1=2 nodes=3").contains("takes no options"));
}
