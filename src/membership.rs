//! Rewriting a cluster file when a server joins or leaves (issue 8 item 4).
//!
//! It exists so `dkvs-tui`'s `add` and `remove` commands change the
//! configuration the way a person would: the same file, edited in place,
//! with its comments, order and layout kept — only one `[[server]]` table
//! (or one `servers.txt` line) appears or disappears. The servers then
//! reload the file on SIGHUP (`anti_entropy`), so the file is the one
//! place membership is written down.
//!
//! The edit itself is pure ([`apply`]: text in, text out, checked by the
//! same parsers as every tool, `config`); [`rewrite_file`] adds the file:
//! read, edit, check, write to a temporary file beside it and rename over
//! it (so a reader never sees half a file), and read the result back as
//! every tool would (`ClusterConfig::load`). `cluster.toml` is edited with
//! `toml_edit`, which keeps comments and formatting; `servers.txt` line by
//! line.

use std::net::SocketAddrV4;
use std::path::Path;

use crate::config::{ClusterConfig, parse_cluster_toml, parse_servers_txt};

/// The fields of a `[[server]]` table that `add` may set, beside the
/// address (`servers.txt` has `nodes` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServer {
    /// Its virtual nodes (>= 1).
    pub nodes: u32,
    /// `metrics`: where it serves Prometheus metrics.
    pub metrics: Option<std::net::SocketAddr>,
    /// `data_dir`: where it keeps its pairs durably.
    pub data_dir: Option<std::path::PathBuf>,
    /// `sync`: its sync policy.
    pub sync: Option<crate::config::SyncPolicy>,
    /// `server_options`: `dkvs-server` options by long name, in order; a
    /// name given twice is a list.
    pub options: Vec<(String, String)>,
}

impl NewServer {
    /// A server with `nodes` virtual nodes and no other field.
    pub fn nodes(nodes: u32) -> NewServer {
        NewServer {
            nodes,
            metrics: None,
            data_dir: None,
            sync: None,
            options: Vec::new(),
        }
    }

    /// The fields beyond `nodes` that are set, by their `cluster.toml` name.
    fn extra_fields(&self) -> Vec<&'static str> {
        [
            ("metrics", self.metrics.is_some()),
            ("data_dir", self.data_dir.is_some()),
            ("sync", self.sync.is_some()),
            ("server_options", !self.options.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// One membership change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new server at `addr`: listed at position `at` (0-based; where a
    /// removed server stood) when given and possible, else last.
    Add {
        /// Its address.
        addr: SocketAddrV4,
        /// Its fields.
        server: NewServer,
        /// Where in the file's list of servers.
        at: Option<usize>,
    },
    /// The server at this address leaves the file.
    Remove(SocketAddrV4),
}

/// Why a change was refused: one line for the user. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MembershipError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, MembershipError> {
    Err(MembershipError(message.into()))
}

/// True when `path` is read as `cluster.toml` (its name ends in `.toml`),
/// as `ClusterConfig::load` decides.
pub fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// The file's text after `change`, checked by the file format's parser.
/// `toml` selects the format; `file` names it in messages. Refuses a
/// duplicate address, an unknown one, and removing the last server.
pub fn apply(
    text: &str,
    toml: bool,
    change: Change,
    file: &str,
) -> Result<String, MembershipError> {
    let parse = |t: &str| {
        if toml {
            parse_cluster_toml(t, file)
        } else {
            parse_servers_txt(t, file)
        }
    };
    let before = parse(text).map_err(|e| MembershipError(e.to_string()))?;
    match &change {
        Change::Add { addr, .. } if before.servers.iter().any(|s| s.addr() == *addr) => {
            return refuse(format!("{addr} is already in {file}"));
        }
        Change::Add { server, .. } if server.nodes == 0 => {
            return refuse("nodes must be at least 1");
        }
        Change::Add { server, .. } if !toml && !server.extra_fields().is_empty() => {
            return refuse(format!(
                "{file} is in servers.txt format, which has no {} field; use a cluster.toml",
                server.extra_fields().join(" or ")
            ));
        }
        Change::Remove(addr) if !before.servers.iter().any(|s| s.addr() == *addr) => {
            return refuse(format!("{addr} is not in {file}"));
        }
        Change::Remove(_) if before.servers.len() < 2 => {
            return refuse(format!(
                "{file} lists one server only: the ring cannot be empty"
            ));
        }
        _ => {}
    }
    let after = if toml {
        edit_toml(text, change)?
    } else {
        edit_servers_txt(text, change)
    };
    // The result must be a valid file of the same format.
    parse(&after)
        .map_err(|e| MembershipError(format!("the rewritten file would be invalid: {e}")))?;
    Ok(after)
}

fn edit_toml(text: &str, change: Change) -> Result<String, MembershipError> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| MembershipError(e.message().to_string()))?;
    let Some(servers) = doc
        .get_mut("server")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    else {
        return refuse(
            "the file has no [[server]] tables to edit (inline `server = [...]` is not rewritten)",
        );
    };
    match change {
        Change::Add { addr, server, at } => {
            let mut table = toml_edit::Table::new();
            table.insert("ip", toml_edit::value(addr.ip().to_string()));
            table.insert("port", toml_edit::value(i64::from(addr.port())));
            table.insert("nodes", toml_edit::value(i64::from(server.nodes)));
            if let Some(m) = server.metrics {
                table.insert("metrics", toml_edit::value(m.to_string()));
            }
            if let Some(d) = &server.data_dir {
                table.insert("data_dir", toml_edit::value(d.display().to_string()));
            }
            if let Some(s) = server.sync {
                table.insert("sync", toml_edit::value(s.to_string()));
            }
            if !server.options.is_empty() {
                table.insert(
                    "server_options",
                    toml_edit::value(options_table(&server.options)),
                );
            }
            // A blank line before it, as between the other tables.
            table.decor_mut().set_prefix("\n");
            insert_table(servers, table, at);
        }
        Change::Remove(addr) => {
            let position = servers.iter().position(|t| {
                let ip = t.get("ip").and_then(toml_edit::Item::as_str);
                let port = t.get("port").and_then(toml_edit::Item::as_integer);
                ip.and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok()) == Some(*addr.ip())
                    && port == Some(i64::from(addr.port()))
            });
            let Some(position) = position else {
                return refuse(format!("{addr}: no [[server]] table with this ip and port"));
            };
            servers.remove(position);
        }
    }
    Ok(doc.to_string())
}

/// `add`'s `server_option=NAME=VALUE` words as the inline table of
/// `server_options`: `true`/`false` as booleans, a name given twice as a
/// list, anything else a string.
fn options_table(options: &[(String, String)]) -> toml_edit::InlineTable {
    let mut table = toml_edit::InlineTable::new();
    for (name, _) in options {
        if table.contains_key(name) {
            continue;
        }
        let values: Vec<&str> = options
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        let value: toml_edit::Value = match values.as_slice() {
            ["true"] => true.into(),
            ["false"] => false.into(),
            [one] => (*one).into(),
            many => many.iter().copied().collect::<toml_edit::Array>().into(),
        };
        table.insert(name, value);
    }
    table
}

/// Puts `table` at position `at` of `servers` (last when `None` or past
/// the end). toml_edit has no insert: the tables are pushed back in order.
fn insert_table(
    servers: &mut toml_edit::ArrayOfTables,
    table: toml_edit::Table,
    at: Option<usize>,
) {
    let at = at.unwrap_or(usize::MAX).min(servers.len());
    let mut tables: Vec<toml_edit::Table> = servers.iter().cloned().collect();
    tables.insert(at, table);
    servers.clear();
    for t in tables {
        servers.push(t);
    }
}

/// Whether `line` of a servers.txt lists a server (not blank, not a comment).
fn lists_a_server(line: &str) -> bool {
    let line = line.trim();
    !line.is_empty() && !line.starts_with('#')
}

fn edit_servers_txt(text: &str, change: Change) -> String {
    match change {
        Change::Add { addr, server, at } => {
            let mut out = String::new();
            let new = format!("{} {} {}\n", addr.ip(), addr.port(), server.nodes);
            let mut seen = 0;
            let mut placed = false;
            for line in text.split_inclusive('\n') {
                if !placed && at == Some(seen) && lists_a_server(line) {
                    out.push_str(&new);
                    placed = true;
                }
                seen += usize::from(lists_a_server(line));
                out.push_str(line);
            }
            if !placed {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&new);
            }
            out
        }
        Change::Remove(addr) => text
            .split_inclusive('\n')
            .filter(|line| {
                let line = line.trim_end_matches('\n').trim_end_matches('\r');
                let mut fields = line.split(' ');
                let listed = match (fields.next(), fields.next()) {
                    (Some(ip), Some(port)) if !line.starts_with('#') => {
                        ip.parse::<std::net::Ipv4Addr>().ok() == Some(*addr.ip())
                            && port.parse::<u16>().ok() == Some(addr.port())
                    }
                    _ => false,
                };
                !listed
            })
            .collect(),
    }
}

/// Applies `change` to the file at `path`: reads it, edits it ([`apply`]),
/// writes the result to a temporary file in the same directory and renames
/// it over the original (same permissions), then reads it back with
/// `ClusterConfig::load`. On any error the file is unchanged.
pub fn rewrite_file(path: &Path, change: Change) -> Result<ClusterConfig, MembershipError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| MembershipError(format!("cannot read {name}: {e}")))?;
    let after = apply(&text, is_toml(path), change, &name)?;
    let Some(file_name) = path.file_name() else {
        return refuse(format!("{name} is not a file name"));
    };
    let mut temporary = file_name.to_os_string();
    temporary.push(format!(".dkvs-tui-{}.tmp", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let written = std::fs::write(&temporary, after.as_bytes())
        .and_then(|()| {
            let permissions = std::fs::metadata(path)?.permissions();
            std::fs::set_permissions(&temporary, permissions)
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return refuse(format!("cannot write {name}: {e}"));
    }
    match ClusterConfig::load(path) {
        Ok(config) => Ok(config),
        Err(e) => {
            // Put the old text back: the change did not happen.
            let _ = std::fs::write(path, text.as_bytes());
            refuse(format!("{name} cannot be read back: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = "\
# my cluster
[defaults]
n = 2 # two copies

# the first one
[[server]]
ip = \"127.0.0.1\"
port = 1234
nodes = 3 # big

# the second one
[[server]]
ip = \"127.0.0.1\"
port = 1235
nodes = 2

# the third one
[[server]]
ip = \"127.0.0.1\"
port = 1236
nodes = 1
";

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn ports(text: &str, toml: bool) -> Vec<(u16, u32)> {
        let c = if toml {
            parse_cluster_toml(text, "t").unwrap()
        } else {
            parse_servers_txt(text, "t").unwrap()
        };
        c.servers.iter().map(|s| (s.port, s.nodes)).collect()
    }

    #[test]
    fn toml_add_keeps_comments_and_appends_a_table() {
        let out = apply(
            TOML,
            true,
            Change::Add {
                addr: addr("127.0.0.1:1237"),
                server: NewServer::nodes(2),
                at: None,
            },
            "t",
        )
        .unwrap();
        assert!(out.starts_with(TOML), "{out}");
        assert_eq!(
            &out[TOML.len()..],
            "\n[[server]]\nip = \"127.0.0.1\"\nport = 1237\nnodes = 2\n"
        );
        assert_eq!(
            ports(&out, true),
            [(1234, 3), (1235, 2), (1236, 1), (1237, 2)]
        );
        assert_eq!(parse_cluster_toml(&out, "t").unwrap().defaults.n, Some(2));
    }

    #[test]
    fn toml_remove_takes_the_table_and_its_comment_only() {
        let out = apply(TOML, true, Change::Remove(addr("127.0.0.1:1235")), "t").unwrap();
        assert_eq!(ports(&out, true), [(1234, 3), (1236, 1)]);
        assert!(!out.contains("the second one"), "{out}");
        for kept in [
            "# my cluster",
            "n = 2 # two copies",
            "# the first one",
            "nodes = 3 # big",
            "# the third one",
        ] {
            assert!(out.contains(kept), "{kept}: {out}");
        }
        // Remove then add the last one again: the other tables are untouched.
        let out = apply(TOML, true, Change::Remove(addr("127.0.0.1:1236")), "t").unwrap();
        assert_eq!(ports(&out, true), [(1234, 3), (1235, 2)]);
        assert!(
            out.starts_with("# my cluster\n[defaults]\nn = 2 # two copies\n\n# the first one\n")
        );
    }

    #[test]
    fn add_puts_a_server_back_where_it_stood_with_its_fields() {
        let server = NewServer {
            nodes: 3,
            metrics: Some("127.0.0.1:9101".parse().unwrap()),
            data_dir: Some("data/one".into()),
            sync: Some(crate::config::SyncPolicy::Periodic),
            options: [
                ("max-memory", "512MiB"),
                ("allow", "127.0.0.0/8"),
                ("allow", "10.0.0.0/8"),
                ("quiet", "true"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        };
        let change = Change::Add {
            addr: addr("127.0.0.1:1240"),
            server: server.clone(),
            at: Some(0),
        };
        let out = apply(TOML, true, change.clone(), "t").unwrap();
        let c = parse_cluster_toml(&out, "t").unwrap();
        let first = &c.servers[0];
        assert_eq!((first.port, first.nodes), (1240, 3), "{out}");
        assert_eq!(first.metrics, server.metrics);
        assert_eq!(first.data_dir.as_deref(), Some(Path::new("data/one")));
        assert_eq!(first.sync, server.sync);
        assert_eq!(
            first.server_args,
            [
                "--allow",
                "127.0.0.0/8",
                "--allow",
                "10.0.0.0/8",
                "--max-memory",
                "512MiB",
                "--quiet"
            ]
        );
        assert_eq!(ports(&out, true)[1..], [(1234, 3), (1235, 2), (1236, 1)]);
        assert!(out.contains("# the first one"), "{out}");
        // servers.txt: the position, but no field it cannot hold.
        let txt = "# c\n127.0.0.1 1234 3\n127.0.0.1 1235 2\n";
        let plain = Change::Add {
            addr: addr("127.0.0.1:1240"),
            server: NewServer::nodes(2),
            at: Some(1),
        };
        let out = apply(txt, false, plain, "s.txt").unwrap();
        assert_eq!(
            out,
            "# c\n127.0.0.1 1234 3\n127.0.0.1 1240 2\n127.0.0.1 1235 2\n"
        );
        let e = apply(txt, false, change, "s.txt").unwrap_err();
        assert!(
            e.0.contains("no metrics or data_dir or sync or server_options field"),
            "{}",
            e.0
        );
    }

    #[test]
    fn servers_txt_add_and_remove_keep_other_lines() {
        let text = "# a comment\n127.0.0.1 1234 3\n\n127.0.0.1 1235 2\n127.0.0.1 1236 1";
        let out = apply(
            text,
            false,
            Change::Add {
                addr: addr("127.0.0.2:1234"),
                server: NewServer::nodes(4),
                at: None,
            },
            "t",
        )
        .unwrap();
        assert_eq!(out, format!("{text}\n127.0.0.2 1234 4\n"));
        let out = apply(&out, false, Change::Remove(addr("127.0.0.1:1235")), "t").unwrap();
        assert_eq!(
            out,
            "# a comment\n127.0.0.1 1234 3\n\n127.0.0.1 1236 1\n127.0.0.2 1234 4\n"
        );
        assert_eq!(ports(&out, false), [(1234, 3), (1236, 1), (1234, 4)]);
    }

    #[test]
    fn refusals() {
        let add = |a: &str, nodes| Change::Add {
            addr: addr(a),
            server: NewServer::nodes(nodes),
            at: None,
        };
        let e = apply(TOML, true, add("127.0.0.1:1234", 1), "c.toml").unwrap_err();
        assert_eq!(e.0, "127.0.0.1:1234 is already in c.toml");
        let e = apply(TOML, true, add("127.0.0.1:1239", 0), "c.toml").unwrap_err();
        assert!(e.0.contains("at least 1"), "{e}");
        let e = apply(TOML, true, Change::Remove(addr("127.0.0.1:9")), "c.toml").unwrap_err();
        assert_eq!(e.0, "127.0.0.1:9 is not in c.toml");
        let one = "[[server]]\nip = \"127.0.0.1\"\nport = 1\nnodes = 1\n";
        let e = apply(one, true, Change::Remove(addr("127.0.0.1:1")), "c.toml").unwrap_err();
        assert!(e.0.contains("cannot be empty"), "{e}");
        let e = apply(
            "127.0.0.1 1 1\n",
            false,
            Change::Remove(addr("127.0.0.1:1")),
            "s",
        )
        .unwrap_err();
        assert!(e.0.contains("cannot be empty"), "{e}");
        // An invalid file is not edited.
        assert!(apply("nonsense", true, add("127.0.0.1:2", 1), "c.toml").is_err());
        assert!(apply("127.0.0.1 x 1\n", false, add("127.0.0.1:2", 1), "s").is_err());
    }

    #[test]
    fn rewrite_file_writes_in_place_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("dkvs-membership-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.toml");
        std::fs::write(&path, TOML).unwrap();
        let config = rewrite_file(
            &path,
            Change::Add {
                addr: addr("127.0.0.1:1240"),
                server: NewServer::nodes(1),
                at: None,
            },
        )
        .unwrap();
        assert_eq!(config.servers.len(), 4);
        assert_eq!(config.source.as_deref(), Some(path.as_path()));
        let config = rewrite_file(&path, Change::Remove(addr("127.0.0.1:1234"))).unwrap();
        assert_eq!(config.servers.len(), 3);
        assert!(
            !std::fs::read_to_string(&path)
                .unwrap()
                .contains("# the first one")
        );
        // A refused change leaves the file as it was; no temporary file stays.
        let before = std::fs::read_to_string(&path).unwrap();
        assert!(rewrite_file(&path, Change::Remove(addr("127.0.0.1:1"))).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let e = rewrite_file(
            &dir.join("missing.toml"),
            Change::Remove(addr("127.0.0.1:1")),
        )
        .unwrap_err();
        assert!(e.0.starts_with("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
