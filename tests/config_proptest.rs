//! Property tests of the configuration parsers (`servers.txt` and
//! `cluster.toml`): any input gives `Ok` or a one-line error naming the file
//! (and a line that exists), never a panic; valid descriptions parse to the
//! same servers and the same ring in both formats.

use std::net::Ipv4Addr;

use dkvs::config::{ClusterConfig, ConfigError, parse_cluster_toml, parse_servers_txt};
use dkvs::ring::Ring;
use proptest::prelude::*;

/// Checks the invariants of any parse result of `text`.
fn check(text: &str, result: &Result<ClusterConfig, ConfigError>, file: &str) {
    match result {
        Ok(c) => {
            assert!(!c.servers.is_empty());
            for (i, s) in c.servers.iter().enumerate() {
                assert!(s.port >= 1 && s.nodes >= 1, "{s:?}");
                assert!(
                    !c.servers[..i]
                        .iter()
                        .any(|o| o.ip == s.ip && o.port == s.port),
                    "duplicate accepted: {text:?}"
                );
            }
            if let (Some(n), Some(w)) = (c.defaults.n, c.defaults.w) {
                assert!(w <= n);
            }
            if let (Some(n), Some(r)) = (c.defaults.n, c.defaults.r) {
                assert!(r <= n);
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(shown.starts_with(file), "{shown}");
            assert!(!shown.contains('\n'), "multi-line error: {shown:?}");
            assert!(!e.message.is_empty());
            if let Some(line) = e.line {
                let lines = text.split('\n').count();
                assert!(
                    line >= 1 && line <= lines,
                    "line {line} of a {lines}-line text: {shown}"
                );
            }
        }
    }
}

/// Words likely to appear in (broken) servers.txt lines.
fn txt_word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("127.0.0.1".to_string()),
        Just("10.0.0.255".to_string()),
        Just("256.1.1.1".to_string()),
        Just("-127.0.0.1".to_string()),
        Just("1.2.3".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("65535".to_string()),
        Just("65536".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("#".to_string()),
        Just("".to_string()),
        Just("\r".to_string()),
        (1u32..70000).prop_map(|n| n.to_string()),
        "[0-9a-z.+-]{0,6}",
        any::<String>(),
    ]
}

fn txt_line() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(txt_word(), 0..5).prop_map(|w| w.join(" ")),
        (
            prop_oneof![
                Just(Ipv4Addr::LOCALHOST),
                any::<u32>().prop_map(Ipv4Addr::from)
            ],
            0u32..70000,
            0u32..5
        )
            .prop_map(|(ip, port, nodes)| format!("{ip} {port} {nodes}")),
        Just(String::new()),
        "#.*",
    ]
}

/// Keys and values likely to appear in (broken) cluster.toml files.
fn toml_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("ip"),
        Just("port"),
        Just("nodes"),
        Just("spawn"),
        Just("n"),
        Just("w"),
        Just("r"),
        Just("timeout_ms"),
        Just("metrics"),
        Just("colour"),
    ];
    let value = prop_oneof![
        Just("\"127.0.0.1\"".to_string()),
        Just("\"nope\"".to_string()),
        Just("\"127.0.0.1:9101\"".to_string()),
        Just("\"[::]:0\"".to_string()),
        Just("true".to_string()),
        Just("1.5".to_string()),
        Just("[1, 2]".to_string()),
        Just("{}".to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0i64..70000).prop_map(|n| n.to_string()),
        "\"[^\"\\\\]{0,8}\"",
    ];
    prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => Just("[[server]]".to_string()),
        1 => Just("[defaults]".to_string()),
        1 => Just("[server]".to_string()),
        1 => Just(String::new()),
        1 => any::<String>(),
    ]
}

/// A valid server list: distinct addresses, 1..5 nodes each.
fn servers() -> impl Strategy<Value = Vec<(Ipv4Addr, u16, u32)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just(Ipv4Addr::LOCALHOST),
                any::<u32>().prop_map(Ipv4Addr::from)
            ],
            1u16..=65535,
            1u32..5,
        ),
        1..8,
    )
    .prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|(ip, port, _)| seen.insert((*ip, *port)));
        v
    })
}

fn as_txt(servers: &[(Ipv4Addr, u16, u32)]) -> String {
    servers
        .iter()
        .map(|(ip, port, nodes)| format!("{ip} {port} {nodes}\n"))
        .collect()
}

fn as_toml(servers: &[(Ipv4Addr, u16, u32)]) -> String {
    servers
        .iter()
        .map(|(ip, port, nodes)| {
            format!("[[server]]\nip = \"{ip}\"\nport = {port}\nnodes = {nodes}\n\n")
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn servers_txt_arbitrary_text_never_panics(text in any::<String>()) {
        let result = parse_servers_txt(&text, "servers.txt");
        check(&text, &result, "servers.txt");
    }

    #[test]
    fn servers_txt_plausible_lines_never_panic(
        lines in proptest::collection::vec(txt_line(), 0..8),
        trailing_newline in any::<bool>(),
    ) {
        let mut text = lines.join("\n");
        if trailing_newline {
            text.push('\n');
        }
        let result = parse_servers_txt(&text, "servers.txt");
        check(&text, &result, "servers.txt");
    }

    #[test]
    fn cluster_toml_arbitrary_text_never_panics(text in any::<String>()) {
        let result = parse_cluster_toml(&text, "cluster.toml");
        check(&text, &result, "cluster.toml");
    }

    #[test]
    fn cluster_toml_plausible_lines_never_panic(
        lines in proptest::collection::vec(toml_line(), 0..14),
    ) {
        let text = lines.join("\n");
        let result = parse_cluster_toml(&text, "cluster.toml");
        check(&text, &result, "cluster.toml");
    }

    /// The same servers in both formats: the same configuration, the same ring.
    #[test]
    fn both_formats_agree(servers in servers()) {
        let txt = parse_servers_txt(&as_txt(&servers), "servers.txt").unwrap();
        let toml = parse_cluster_toml(&as_toml(&servers), "cluster.toml").unwrap();
        let addrs = |c: &ClusterConfig| -> Vec<(Ipv4Addr, u16, u32)> {
            c.servers.iter().map(|s| (s.ip, s.port, s.nodes)).collect()
        };
        prop_assert_eq!(addrs(&txt), servers.clone());
        prop_assert_eq!(addrs(&toml), servers);
        prop_assert_eq!(Ring::new(&txt), Ring::new(&toml));
        // The last line may lack its newline (docs/CLI.md, `servers.txt`).
        let text = as_txt(&addrs(&txt));
        let bare = parse_servers_txt(text.trim_end_matches('\n'), "servers.txt").unwrap();
        prop_assert_eq!(addrs(&bare), addrs(&txt));
    }

    /// One broken line in a valid servers.txt: the error names that line.
    #[test]
    fn servers_txt_error_names_the_broken_line(
        servers in servers(),
        at in any::<prop::sample::Index>(),
        broken in prop_oneof![
            Just("127.0.0.1 1"),
            Just("127.0.0.1 1 1 1"),
            Just("127.0.0.1 0 1"),
            Just("127.0.0.1 1 0"),
            Just("-1.0.0.1 1 1"),
            Just("x 1 1"),
            Just("127.0.0.1  1 1"),
        ],
    ) {
        let mut lines: Vec<String> = as_txt(&servers).lines().map(String::from).collect();
        let position = at.index(lines.len() + 1);
        lines.insert(position, broken.to_string());
        let text = lines.join("\n");
        let e = parse_servers_txt(&text, "servers.txt").unwrap_err();
        prop_assert_eq!(e.line, Some(position + 1), "{}", e);
    }

    /// Comments, empty lines and CRLF line ends change nothing.
    #[test]
    fn servers_txt_comments_and_blank_lines_ignored(
        servers in servers(),
        noise in proptest::collection::vec(prop_oneof![Just(""), Just("# a comment"), Just("#127.0.0.1 1 1")], 0..4),
    ) {
        let mut text = String::new();
        for n in &noise {
            text.push_str(n);
            text.push('\n');
        }
        text.push_str(&as_txt(&servers));
        let a = parse_servers_txt(&text, "servers.txt").unwrap();
        let b = parse_servers_txt(&as_txt(&servers).replace('\n', "\r\n"), "servers.txt").unwrap();
        prop_assert_eq!(a.servers, b.servers);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Loading arbitrary bytes from a file (including invalid UTF-8) is an
    /// error or a configuration, never a panic, in both formats.
    #[test]
    fn load_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["servers.txt", "cluster.toml"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            if let Err(e) = ClusterConfig::load(&path) {
                let shown = e.to_string();
                prop_assert!(!shown.contains('\n'), "{:?}", shown);
                prop_assert!(shown.starts_with(&path.display().to_string()), "{}", shown);
            }
        }
    }
}
