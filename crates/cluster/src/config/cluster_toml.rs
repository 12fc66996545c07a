//! The `cluster.toml` format (docs/CLI.md, "cluster.toml"): serde reads
//! the tables with their spans, and each value is checked so an error names
//! the file, the line and the field.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{
    ClusterConfig, ConfigError, DEFAULT_N, Defaults, MAX_NODES_PER_SERVER, Seen, ServerSpec,
    SyncPolicy, line_of, parse_ipv4, same_listener,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    defaults: Option<RawDefaults>,
    server: Option<Vec<Spanned<RawServer>>>,
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
    ip: Spanned<String>,
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
    let mut servers: Vec<ServerSpec> = Vec::new();
    let mut seen = Seen::default();
    for entry in raw.server.unwrap_or_default() {
        let spec = p.server(&entry.into_inner(), &inherited, &servers, &mut seen)?;
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
        inherited: &ServerDefaults<'_>,
        servers: &[ServerSpec],
        seen: &mut Seen,
    ) -> Result<ServerSpec, ConfigError> {
        let ip = parse_ipv4(s.ip.get_ref()).map_err(|m| self.at(s.ip.span(), "ip", m))?;
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
        if let Some(spawn) = s.spawn {
            spec.spawn = spawn;
        }
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
