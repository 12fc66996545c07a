//! Starting `dkvs-tui` in namespaces mode (`[cluster] network =
//! "namespaces"`): removing what a crashed run left, making one host per
//! spawned server, and opening the servers' dump and budget defaults to the
//! hosts' subnet. Where namespaces cannot be made (not root, not Linux) it
//! says why and runs the same cluster on loopback instead.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use dkvs_netns::{Hosts, HostsSpec, NetnsError};

use crate::config::{ClusterConfig, Network};

/// What [`prepare`] made.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The hosts, in namespaces mode (`None` on loopback).
    pub hosts: Option<Hosts>,
    /// What to tell the user (the fallback, leftovers removed).
    pub notes: Vec<String>,
    /// The cluster file written for the servers in the loopback fallback,
    /// in a directory of its own, removed when this is dropped.
    pub fallback_dir: Option<FallbackDir>,
}

/// The loopback fallback's directory, removed when dropped (an exit by a
/// signal leaves it to the next start's [`remove_stale_fallbacks`]).
#[derive(Debug)]
pub struct FallbackDir(PathBuf);

impl Drop for FallbackDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The fallback's directory for this process: `$TMPDIR/dkvs-tui-<pid>`.
fn fallback_dir_path() -> PathBuf {
    std::env::temp_dir().join(format!("dkvs-tui-{}", std::process::id()))
}

/// Whether `path` is the cluster file the loopback fallback wrote (a copy
/// that is gone at exit: `add` and `remove` must not edit it).
pub fn is_fallback_file(path: &Path) -> bool {
    path.parent() == Some(fallback_dir_path().as_path())
}

/// The servers' options that default to 127.0.0.0/8, opened to the hosts'
/// subnet too unless `server_options` sets them.
const LOOPBACK_DEFAULTS: [&str; 2] = ["--allow-dump", "--budget-exempt"];

/// Makes the hosts of a namespaces-mode `config` (nothing on loopback).
/// Without namespaces it rewrites `config` to loopback, with a note why.
/// `Err` is a message for the user (a subnet in use, a failed command).
pub fn prepare(config: &mut ClusterConfig) -> Result<Prepared, String> {
    let Some((subnet, len)) = config.network.subnet() else {
        return Ok(Prepared::default());
    };
    let mut prepared = Prepared::default();
    if let Err(e) = dkvs_netns::available() {
        let note = fall_back(config, &e, &mut prepared)?;
        prepared.notes.push(note);
        return Ok(prepared);
    }
    match dkvs_netns::cleanup_stale() {
        Ok(0) => {}
        Ok(n) => prepared.notes.push(format!(
            "removed {n} namespaces and links an earlier run left behind"
        )),
        Err(e) => prepared
            .notes
            .push(format!("could not remove an earlier run's leftovers: {e}")),
    }
    let hosted: Vec<usize> = (0..config.servers.len())
        .filter(|&i| config.servers.get(i).is_some_and(|s| s.spawn))
        .collect();
    if hosted.is_empty() {
        prepared.notes.push(
            "namespaces: no server to start here (every one has spawn = false), so no host is made"
                .into(),
        );
        return Ok(prepared);
    }
    let spec = HostsSpec {
        hosts: hosted.len(),
        subnet_octet: Some(subnet.octets()[1]),
        addresses: hosted
            .iter()
            .map(|&i| config.servers.get(i).map(|s| s.ip))
            .collect(),
    };
    let hosts = Hosts::create(&spec).map_err(|e| {
        let text = e.to_string();
        let advice = if text.contains("in use") || text.contains("taken") {
            "; another program uses this subnet: choose another with [cluster] subnet = \"10.<n>.0.0/24\" in cluster.toml"
        } else {
            ""
        };
        format!("cannot make the hosts on {subnet}/{len}: {text}{advice}")
    })?;
    let outside = config.servers.iter().filter(|s| !s.spawn).count();
    if outside > 0 {
        prepared.notes.push(format!(
            "namespaces: {outside} server(s) with spawn = false stay outside the hosts' network: this machine reaches them, the hosts do not (no hints or anti-entropy with them)"
        ));
    }
    let cidr = format!("{subnet}/{len}");
    for &i in &hosted {
        if let Some(server) = config.servers.get_mut(i) {
            open_defaults(&mut server.server_args, &cidr);
            if let Some(note) = move_metrics(server) {
                prepared.notes.push(note);
            }
        }
    }
    prepared.notes.push(format!(
        "namespaces: {} hosts on {cidr}, this machine at {} (bridge {})",
        hosts.len(),
        hosts.client_addr(),
        hosts.bridge()
    ));
    prepared.hosts = Some(hosts);
    Ok(prepared)
}

/// Adds `--allow-dump` and `--budget-exempt` for loopback and `cidr`
/// unless the server's options already set them.
fn open_defaults(args: &mut Vec<String>, cidr: &str) {
    for option in LOOPBACK_DEFAULTS {
        if !args.iter().any(|a| a == option) {
            args.extend([
                option.into(),
                "127.0.0.0/8".into(),
                option.into(),
                cidr.into(),
            ]);
        }
    }
}

/// A hosted server's metrics endpoint on loopback would be inside its
/// host, out of this machine's reach: it moves to the host's address,
/// same port. Returns the note saying so.
fn move_metrics(server: &mut crate::config::ServerSpec) -> Option<String> {
    let metrics = server.metrics?;
    if !metrics.ip().is_loopback() {
        return None;
    }
    let moved = std::net::SocketAddr::new(server.ip.into(), metrics.port());
    server.metrics = Some(moved);
    Some(format!(
        "{}: metrics served at {moved} (its host's address) instead of {metrics}",
        server.addr()
    ))
}

/// The loopback fallback: every host address 10.o.0.k becomes 127.0.0.1
/// when the ports differ, else 127.0.0.k, and the servers get a cluster
/// file saying so. Returns the note for the user.
fn fall_back(
    config: &mut ClusterConfig,
    why: &NetnsError,
    prepared: &mut Prepared,
) -> Result<String, String> {
    let mut ports: Vec<u16> = config.servers.iter().map(|s| s.port).collect();
    ports.sort_unstable();
    let distinct = ports.windows(2).all(|w| w.first() != w.get(1));
    for server in config.servers.iter_mut().filter(|s| s.spawn) {
        server.ip = if distinct {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::new(127, 0, 0, server.ip.octets()[3])
        };
    }
    config.network = Network::Loopback;
    let mut copy = String::new();
    if let Some(source) = config.source.clone() {
        let dir = fallback_dir_path();
        let file = dir.join("cluster.toml");
        make_private_dir(&dir).map_err(|e| {
            format!(
                "cannot make the directory {} for the loopback cluster file: {e}",
                dir.display()
            )
        })?;
        prepared.fallback_dir = Some(FallbackDir(dir.clone()));
        write_fallback(&source, config, &file)
            .map_err(|e| format!("cannot run {} on loopback: {e}", source.display()))?;
        copy = format!(
            " (the servers read {}: use it with dkvs-client)",
            file.display()
        );
        config.source = Some(file);
    }
    Ok(format!(
        "{why}; running on loopback instead{copy}: no partitions, `loss` and `delay` still work"
    ))
}

/// The user's file with every server's address written out and
/// `network = "loopback"`, for the spawned servers' `--servers`.
fn write_fallback(source: &Path, config: &ClusterConfig, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(source).map_err(|e| e.to_string())?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    if let Some(cluster) = doc.get_mut("cluster").and_then(|c| c.as_table_like_mut()) {
        cluster.insert("network", toml_edit::value("loopback"));
        cluster.remove("subnet");
    }
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(defaults) = doc.get_mut("defaults").and_then(|d| d.as_table_like_mut()) {
        // Each server's own directory is written below, absolute.
        defaults.remove("data_dir");
        if let Some(key) = &config.defaults.key_file {
            let key = absolute(key).display().to_string();
            defaults.insert("key_file", toml_edit::value(key));
        }
    }
    if let Some(servers) = doc
        .get_mut("server")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        for (table, spec) in servers.iter_mut().zip(&config.servers) {
            table.insert("ip", toml_edit::value(spec.ip.to_string()));
            match &spec.data_dir {
                Some(d) => {
                    let d = absolute(d).display().to_string();
                    table.insert("data_dir", toml_edit::value(d))
                }
                None => table.remove("data_dir"),
            };
        }
    }
    std::fs::write(file, doc.to_string()).map_err(|e| e.to_string())?;
    // The copy must describe the same servers (an inline `server = [...]`
    // array, say, is not rewritten).
    let written = ClusterConfig::load(file).map_err(|e| e.to_string())?;
    let addrs = |c: &ClusterConfig| c.servers.iter().map(|s| s.addr()).collect::<Vec<_>>();
    if addrs(&written) != addrs(config) {
        return Err("the rewritten copy does not list the same servers (write each server as a [[server]] table)".into());
    }
    Ok(())
}

/// A directory only this user can enter; one that exists already (made by
/// someone else for this PID) is an error.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

/// Removes the fallback files of runs whose process is gone (a crashed
/// `dkvs-tui` cannot remove its own).
pub fn remove_stale_fallbacks() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("dkvs-tui-"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_opened_unless_set() {
        let mut args = vec!["--allow-dump".to_string(), "none".to_string()];
        open_defaults(&mut args, "10.9.0.0/24");
        assert_eq!(
            args,
            [
                "--allow-dump",
                "none",
                "--budget-exempt",
                "127.0.0.0/8",
                "--budget-exempt",
                "10.9.0.0/24"
            ]
        );
    }

    #[test]
    fn loopback_metrics_move_to_the_host() {
        let mut spec = crate::config::ServerSpec::new(Ipv4Addr::new(10, 9, 0, 2), 7000, 1);
        spec.metrics = Some("127.0.0.1:9101".parse().unwrap());
        let note = move_metrics(&mut spec).unwrap();
        assert_eq!(spec.metrics, Some("10.9.0.2:9101".parse().unwrap()));
        assert!(note.contains("10.9.0.2:9101"), "{note}");
        assert_eq!(move_metrics(&mut spec), None);
    }

    #[test]
    fn the_fallback_file_names_every_address() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("c.toml");
        let text = "[cluster]\nnetwork = \"namespaces\"\n\n[defaults]\ndata_dir = \"d\"\n\n\
                    [[server]]\nport = 7000\n\n[[server]]\nport = 7000\n";
        std::fs::write(&source, text).unwrap();
        let mut config = ClusterConfig::load(&source).unwrap();
        let why = NetnsError::Unavailable {
            reason: "not root".into(),
        };
        let mut prepared = Prepared::default();
        let note = fall_back(&mut config, &why, &mut prepared).unwrap();
        assert!(
            note.contains("not root") && note.contains("loopback"),
            "{note}"
        );
        let addrs: Vec<String> = config
            .servers
            .iter()
            .map(|s| s.addr().to_string())
            .collect();
        // Same ports: one loopback address each, as on the hosts.
        assert_eq!(addrs, ["127.0.0.2:7000", "127.0.0.3:7000"]);
        let written = ClusterConfig::load(config.source.as_deref().unwrap()).unwrap();
        assert_eq!(written.servers, config.servers);
        assert_eq!(written.network, Network::Loopback);
        let dir = prepared.fallback_dir.as_ref().unwrap().0.clone();
        assert!(is_fallback_file(config.source.as_deref().unwrap()));
        drop(prepared);
        assert!(!dir.exists(), "removed when dropped");
    }
}
