//! The `cluster.toml` format (docs/CLI.md, "cluster.toml"): serde reads
//! the tables with their spans, and each value is checked so an error names
//! the file, the line and the field.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::network::{DEFAULT_SUBNET_OCTET, Network, host_addresses, parse_subnet};
use super::{
    ClusterConfig, ConfigError, DEFAULT_N, Defaults, MAX_NODES_PER_SERVER, Seen, ServerSpec,
    SyncPolicy, line_of, parse_ipv4, same_listener,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    cluster: Option<RawClusterTable>,
    defaults: Option<RawDefaults>,
    server: Option<Vec<Spanned<RawServer>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClusterTable {
    network: Option<Spanned<String>>,
    subnet: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    n: Option<Spanned<i64>>,
    w: Option<Spanned<i64>>,
    r: Option<Spanned<i64>>,
    timeout_ms: Option<Spanned<i64>>,
    data_dir: Option<Spanned<String>>,
    sync: Option<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    server_options: Option<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    ip: Option<Spanned<String>>,
    port: Spanned<i64>,
    nodes: Option<Spanned<i64>>,
    spawn: Option<bool>,
    data_dir: Option<Spanned<String>>,
    sync: Option<Spanned<String>>,
    metrics: Option<Spanned<String>>,
    server_options: Option<Spanned<toml::Table>>,
}

/// Parses the `cluster.toml` format (docs/CLI.md). `file` names the file in
/// errors.
pub fn parse_cluster_toml(text: &str, file: &str) -> Result<ClusterConfig, ConfigError> {
    let p = TomlParse { text, file };
    let raw: RawCluster = toml::from_str(text).map_err(|e| p.syntax_error(&e))?;
    let defaults = match &raw.defaults {
        Some(d) => p.defaults(d)?,
        None => Defaults::default(),
    };
    let default_dir = raw
        .defaults
        .as_ref()
        .and_then(|d| d.data_dir.as_ref())
        .map(|d| p.dir(d))
        .transpose()?;
    let default_sync = raw
        .defaults
        .as_ref()
        .and_then(|d| d.sync.as_ref())
        .map(|s| p.sync(s))
        .transpose()?;
    let inherited = ServerDefaults {
        dir: default_dir.as_deref(),
        sync: default_sync,
        options: raw
            .defaults
            .as_ref()
            .and_then(|d| d.server_options.as_ref()),
    };
    let network = p.network(raw.cluster.as_ref())?;
    let entries = raw.server.unwrap_or_default();
    let addrs = p.addresses(network, &entries)?;
    let mut servers: Vec<ServerSpec> = Vec::new();
    let mut seen = Seen::default();
    for (entry, (ip, spawn)) in entries.iter().zip(addrs) {
        let mut spec = p.server(entry.get_ref(), ip, &inherited, &servers, &mut seen)?;
        spec.spawn = spawn;
        servers.push(spec);
    }
    if servers.is_empty() {
        return Err(ConfigError::new(
            file,
            None,
            None,
            "no servers: add at least one [[server]] table with ip and port".into(),
        ));
    }
    Ok(ClusterConfig {
        source: None,
        servers,
        defaults,
        network,
    })
}

/// What `[defaults]` gives every server.
struct ServerDefaults<'a> {
    dir: Option<&'a Path>,
    sync: Option<SyncPolicy>,
    options: Option<&'a Spanned<toml::Table>>,
}

/// One `cluster.toml` being read: its text and name, for errors that give
/// the file, the line and the field.
struct TomlParse<'a> {
    text: &'a str,
    file: &'a str,
}

impl TomlParse<'_> {
    /// An error at `span` in field `field`.
    fn at(&self, span: Range<usize>, field: &str, msg: String) -> ConfigError {
        ConfigError::new(
            self.file,
            Some(line_of(self.text.as_bytes(), span.start)),
            Some(field),
            msg,
        )
    }

    /// A TOML syntax or shape error, with the key of its line as the field.
    fn syntax_error(&self, e: &toml::de::Error) -> ConfigError {
        let line = e.span().map(|s| line_of(self.text.as_bytes(), s.start));
        // The field is the key on the offending line, when there is one.
        let field = line.and_then(|l| {
            let src = self.text.split('\n').nth(l - 1)?;
            let (key, _) = src.split_once('=')?;
            let key = key.trim();
            (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
        });
        ConfigError {
            file: self.file.to_string(),
            line,
            field,
            message: e.message().trim().replace('\n', " "),
        }
    }

    /// An integer in 1..=max.
    fn positive(&self, v: &Spanned<i64>, field: &str, max: i64) -> Result<i64, ConfigError> {
        let value = *v.get_ref();
        if value < 1 || value > max {
            Err(self.at(
                v.span(),
                field,
                format!("{value} is out of range (1..={max})"),
            ))
        } else {
            Ok(value)
        }
    }

    /// The `[cluster]` table: `network` (`loopback` or `namespaces`) and,
    /// for namespaces, the hosts' `subnet`.
    fn network(&self, c: Option<&RawClusterTable>) -> Result<Network, ConfigError> {
        let Some(c) = c else {
            return Ok(Network::Loopback);
        };
        let namespaces = match &c.network {
            None => false,
            Some(n) => match n.get_ref().as_str() {
                "loopback" => false,
                "namespaces" => true,
                other => {
                    return Err(self.at(
                        n.span(),
                        "network",
                        format!("{other:?} is not a network (loopback or namespaces)"),
                    ));
                }
            },
        };
        let octet = match &c.subnet {
            Some(s) if !namespaces => {
                return Err(self.at(
                    s.span(),
                    "subnet",
                    "a subnet is for network = \"namespaces\" only".into(),
                ));
            }
            Some(s) => parse_subnet(s.get_ref()).map_err(|m| self.at(s.span(), "subnet", m))?,
            None => DEFAULT_SUBNET_OCTET,
        };
        Ok(if namespaces {
            Network::Namespaces { octet }
        } else {
            Network::Loopback
        })
    }

    /// Every server's address and `spawn`. On loopback each server gives
    /// its `ip`. With namespaces, spawned servers live on hosts of the
    /// subnet: an `ip` there chooses one, the others get the lowest free in
    /// file order; a server not spawned keeps any `ip`.
    fn addresses(
        &self,
        network: Network,
        entries: &[Spanned<RawServer>],
    ) -> Result<Vec<(Ipv4Addr, bool)>, ConfigError> {
        let mut given = Vec::with_capacity(entries.len());
        for e in entries {
            let s = e.get_ref();
            let ip =
                s.ip.as_ref()
                    .map(|ip| parse_ipv4(ip.get_ref()).map_err(|m| self.at(ip.span(), "ip", m)))
                    .transpose()?;
            given.push(ip);
        }
        let Some((subnet, _)) = network.subnet() else {
            return entries
                .iter()
                .zip(given)
                .map(|(e, ip)| match ip {
                    Some(ip) => Ok((ip, e.get_ref().spawn.unwrap_or(ip.is_loopback()))),
                    None => Err(self.at(
                        e.span(),
                        "ip",
                        "missing field `ip` (only [cluster] network = \"namespaces\" gives servers addresses)".into(),
                    )),
                })
                .collect();
        };
        // Which servers are hosts: those spawned (the default here).
        let mut hosted = Vec::new();
        for (e, ip) in entries.iter().zip(&given) {
            let spawn = e.get_ref().spawn.unwrap_or(true);
            if !spawn && ip.is_none() {
                return Err(self.at(
                    e.span(),
                    "ip",
                    "a server dkvs-tui does not start (spawn = false) needs its `ip`".into(),
                ));
            }
            if let (true, Some(ip)) = (spawn, ip)
                && !network.is_host_addr(*ip)
            {
                return Err(self.ip_error(
                    e,
                    format!(
                        "{ip} is not a host address of {subnet}/24 (.2 to .254); in namespaces mode a spawned server lives there: leave `ip` out, choose one there, or set spawn = false"
                    ),
                ));
            }
            if let (false, Some(ip)) = (spawn, ip)
                && network.is_host_addr(*ip)
            {
                return Err(self.ip_error(
                    e,
                    format!(
                        "{ip} is a host address of {subnet}/24, for the servers dkvs-tui starts; give a server it does not start (spawn = false) an address outside"
                    ),
                ));
            }
            hosted.push(spawn);
        }
        let octet = subnet.octets()[1];
        // The entry each requested address comes from, for errors.
        let entry_of: Vec<usize> = (0..hosted.len())
            .filter(|&i| hosted.get(i) == Some(&true))
            .collect();
        let requested: Vec<Option<Ipv4Addr>> = given
            .iter()
            .zip(&hosted)
            .filter(|(_, h)| **h)
            .map(|(ip, _)| *ip)
            .collect();
        let mut assigned = host_addresses(octet, &requested)
            .map_err(
                |(i, m)| match entry_of.get(i).and_then(|&e| entries.get(e)) {
                    Some(e) => self.ip_error(e, m),
                    None => ConfigError::new(self.file, None, Some("ip"), m),
                },
            )?
            .into_iter();
        given
            .into_iter()
            .zip(hosted)
            .map(|(ip, hosted)| match (hosted, ip) {
                (true, _) => assigned.next().map(|a| (a, true)).ok_or_else(|| {
                    ConfigError::new(self.file, None, Some("ip"), "no address left".into())
                }),
                (false, Some(ip)) => Ok((ip, false)),
                (false, None) => Err(ConfigError::new(
                    self.file,
                    None,
                    Some("ip"),
                    "missing field `ip`".into(),
                )),
            })
            .collect()
    }

    /// An error about a server's `ip`: at its `ip` line, else its table's.
    fn ip_error(&self, e: &Spanned<RawServer>, msg: String) -> ConfigError {
        let span = e.get_ref().ip.as_ref().map_or(e.span(), Spanned::span);
        self.at(span, "ip", msg)
    }

    /// The `[defaults]` table: N, W, R (W and R at most N), the deadline,
    /// the key file.
    fn defaults(&self, d: &RawDefaults) -> Result<Defaults, ConfigError> {
        let mut defaults = Defaults::default();
        let q = |v: &Option<Spanned<i64>>, name| -> Result<Option<u32>, ConfigError> {
            v.as_ref()
                .map(|v| self.positive(v, name, u32::MAX as i64).map(|x| x as u32))
                .transpose()
        };
        defaults.n = q(&d.n, "n")?;
        defaults.w = q(&d.w, "w")?;
        defaults.r = q(&d.r, "r")?;
        if let Some(t) = &d.timeout_ms {
            defaults.timeout_ms = self.positive(t, "timeout_ms", 3_600_000)? as u64;
        }
        if let Some(k) = &d.key_file {
            if k.get_ref().is_empty() {
                return Err(self.at(k.span(), "key_file", "an empty file name".into()));
            }
            defaults.key_file = Some(PathBuf::from(k.get_ref()));
        }
        let n = defaults.n.unwrap_or(DEFAULT_N);
        for (value, name) in [(&d.w, "w"), (&d.r, "r")] {
            if let Some(v) = value
                && *v.get_ref() as u32 > n
            {
                return Err(self.at(
                    v.span(),
                    name,
                    format!(
                        "{name} = {} is larger than n = {n}; a quorum cannot exceed the replicas",
                        v.get_ref()
                    ),
                ));
            }
        }
        Ok(defaults)
    }

    /// A `data_dir` value: a non-empty path.
    fn dir(&self, v: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        if v.get_ref().is_empty() {
            Err(self.at(v.span(), "data_dir", "an empty directory name".into()))
        } else {
            Ok(PathBuf::from(v.get_ref()))
        }
    }

    /// A `sync` value: always, periodic or none.
    fn sync(&self, v: &Spanned<String>) -> Result<SyncPolicy, ConfigError> {
        <SyncPolicy as clap::ValueEnum>::from_str(v.get_ref(), false).map_err(|_| {
            self.at(
                v.span(),
                "sync",
                format!(
                    "{:?} is not a sync policy (always, periodic or none)",
                    v.get_ref()
                ),
            )
        })
    }

    /// A `metrics` value: ADDR:PORT with a fixed port.
    fn metrics(&self, v: &Spanned<String>) -> Result<SocketAddr, ConfigError> {
        let text = v.get_ref();
        match text.parse::<SocketAddr>() {
            Ok(addr) if addr.port() != 0 => Ok(addr),
            Ok(_) => Err(self.at(
                v.span(),
                "metrics",
                format!("{text:?}: port 0 is no address to scrape; give a fixed port"),
            )),
            Err(_) => Err(self.at(
                v.span(),
                "metrics",
                format!("{text:?} is not an ADDR:PORT address (like \"127.0.0.1:9101\")"),
            )),
        }
    }

    /// `server_options` of `[defaults]` and of one server, as the words
    /// `dkvs-tui` adds to that server's command line.
    fn server_options(
        &self,
        defaults: Option<&Spanned<toml::Table>>,
        server: Option<&Spanned<toml::Table>>,
    ) -> Result<Vec<String>, ConfigError> {
        super::server_options::server_args(
            defaults.map(Spanned::get_ref),
            server.map(Spanned::get_ref),
        )
        .map_err(|m| {
            // Blame the server's table when it has one, else [defaults]'s.
            let span = server.or(defaults).map(Spanned::span).unwrap_or_default();
            self.at(span, "server_options", m)
        })
    }

    /// A per-server value already given to server `other` (0-based).
    fn taken(
        &self,
        v: &Spanned<String>,
        field: &str,
        what: &dyn fmt::Display,
        role: &str,
        other: usize,
    ) -> ConfigError {
        self.at(
            v.span(),
            field,
            format!(
                "{what} is already the {role} of server {}; one server per {role}",
                other + 1
            ),
        )
    }

    /// One `[[server]]` table, checked against the servers before it
    /// (`seen`: their addresses): one server per address, data directory
    /// and metrics address.
    fn server(
        &self,
        s: &RawServer,
        ip: Ipv4Addr,
        inherited: &ServerDefaults<'_>,
        servers: &[ServerSpec],
        seen: &mut Seen,
    ) -> Result<ServerSpec, ConfigError> {
        let port = self.positive(&s.port, "port", 65535)? as u16;
        let nodes = match &s.nodes {
            Some(n) => self.positive(n, "nodes", MAX_NODES_PER_SERVER as i64)? as u32,
            None => 1,
        };
        if let Some(prev) = seen.first(SocketAddrV4::new(ip, port), servers.len()) {
            return Err(self.at(
                s.port.span(),
                "port",
                format!(
                    "server {ip}:{port} is listed twice (first as server {}); each server must appear once",
                    prev + 1
                ),
            ));
        }
        let mut spec = ServerSpec::new(ip, port, nodes);
        // [defaults] data_dir is a parent: each server gets its own
        // directory in it, named after its address.
        spec.data_dir = match &s.data_dir {
            Some(d) => Some(self.dir(d)?),
            None => inherited.dir.map(|d| d.join(format!("{ip}-{port}"))),
        };
        spec.sync = s
            .sync
            .as_ref()
            .map(|v| self.sync(v))
            .transpose()?
            .or(inherited.sync);
        spec.server_args = self.server_options(inherited.options, s.server_options.as_ref())?;
        spec.metrics = s.metrics.as_ref().map(|v| self.metrics(v)).transpose()?;
        if let (Some(d), Some(mine)) = (&s.data_dir, &spec.data_dir)
            && let Some(other) = servers
                .iter()
                .position(|o| o.data_dir.as_ref() == Some(mine))
        {
            return Err(self.taken(d, "data_dir", &mine.display(), "data directory", other));
        }
        if let (Some(m), Some(mine)) = (&s.metrics, spec.metrics)
            && let Some(other) = servers
                .iter()
                .position(|o| o.metrics.is_some_and(|theirs| same_listener(theirs, mine)))
        {
            return Err(self.taken(m, "metrics", &mine, "metrics address", other));
        }
        Ok(spec)
    }
}
