//! Cluster configuration: `servers.txt` and `cluster.toml` (docs/CLI.md,
//! "Files").
//!
//! Both formats describe the same thing — an ordered list of servers, each
//! with a number of virtual nodes — so both parse into one [`ClusterConfig`].
//! The ring is built from that list alone, which is why a `cluster.toml` and a
//! `servers.txt` listing the same servers in the same order give the same ring.
//! Every error names the file, the line and (where there is one) the field, so
//! a user can go straight to the mistake.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use crate::limits::AuthConfig;

mod network;
mod server_options;
mod sync_policy;
pub use network::{DEFAULT_SUBNET_OCTET, Network};
pub use sync_policy::SyncPolicy;

/// Environment variable naming the configuration file.
pub const SERVERS_ENV: &str = "DKVS_SERVERS";
/// Default N when neither the command nor the configuration gives one.
pub const DEFAULT_N: u32 = 3;
/// Default W.
pub const DEFAULT_W: u32 = 2;
/// Default R.
pub const DEFAULT_R: u32 = 2;
/// Default operation deadline in milliseconds (docs/CLI.md).
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// The largest number of virtual nodes one server may have.
pub const MAX_NODES_PER_SERVER: u32 = 1_000_000;

/// One server of the cluster: an IPv4 address, a UDP port and its virtual nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The address the server binds and clients send to.
    pub ip: Ipv4Addr,
    /// UDP port, 1..=65535.
    pub port: u16,
    /// Number of virtual nodes (>= 1) this server owns on the ring.
    pub nodes: u32,
    /// Whether `dkvs-tui` starts this server itself (`spawn`).
    pub spawn: bool,
    /// Where a spawned server keeps its pairs durably (`data_dir` in
    /// `cluster.toml`, per server or from `[defaults]`); `None`: in memory.
    pub data_dir: Option<PathBuf>,
    /// The sync policy of a durable spawned server (`sync`); `None`: the
    /// server's default.
    pub sync: Option<SyncPolicy>,
    /// Where a spawned server serves Prometheus metrics (`metrics` in
    /// `cluster.toml`, passed as `--metrics`); `None`: nowhere.
    pub metrics: Option<SocketAddr>,
    /// More words for a spawned server's command line (`server_options`
    /// of `[defaults]` and of the server, as `--name value`).
    pub server_args: Vec<String>,
}

impl ServerSpec {
    /// Builds a server with the default `spawn` rule (true for 127.0.0.0/8).
    pub fn new(ip: Ipv4Addr, port: u16, nodes: u32) -> ServerSpec {
        ServerSpec {
            ip,
            port,
            nodes,
            spawn: ip.is_loopback(),
            data_dir: None,
            sync: None,
            metrics: None,
            server_args: Vec::new(),
        }
    }

    /// The server's UDP address.
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.port)
    }

    /// The server's address as a generic socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.addr())
    }
}

impl fmt::Display for ServerSpec {
    /// `ip:port`, the way servers are named in output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// Cluster-wide defaults (`[defaults]` of `cluster.toml`). `None` means "not
/// given", which matters: values not given are lowered to what the ring can
/// serve, values given are checked (docs/ARCHITECTURE.md, "Quorums").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// Replication factor N.
    pub n: Option<u32>,
    /// Write quorum W.
    pub w: Option<u32>,
    /// Read quorum R.
    pub r: Option<u32>,
    /// Operation deadline in milliseconds.
    pub timeout_ms: u64,
    /// `key_file`: the key file that authenticates the cluster's datagrams
    /// (`docs/SECURITY.md`); relative to the `cluster.toml`'s directory once
    /// [`ClusterConfig::load`] has resolved it, and replaced by
    /// `DKVS_KEY_FILE` when that is set (for a `servers.txt` too).
    pub key_file: Option<PathBuf>,
    /// The keys of `key_file`, read by [`ClusterConfig::load`] (clients
    /// sign with the first; spawned servers get the file).
    pub keys: Option<AuthConfig>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            n: None,
            w: None,
            r: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            key_file: None,
            keys: None,
        }
    }
}

/// A parsed, validated cluster description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The file it was read from (used in messages), if any.
    pub source: Option<PathBuf>,
    /// The servers, in file order (this order numbers them 1..S).
    pub servers: Vec<ServerSpec>,
    /// Defaults for quorum operations.
    pub defaults: Defaults,
    /// Where `dkvs-tui` runs its servers (`[cluster] network`).
    pub network: Network,
}

/// Where the name of the cluster's key file came from, so that an error
/// about the file blames what the user wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileOrigin {
    /// The `--key-file` option.
    Option,
    /// The `DKVS_KEY_FILE` environment variable.
    Environment,
    /// The `key_file` field of `cluster.toml`.
    Field,
}

/// A configuration error: which file, which line, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The file, as the user named it.
    pub file: String,
    /// 1-based line number, when the error is tied to a line.
    pub line: Option<usize>,
    /// The field concerned, when there is one.
    pub field: Option<String>,
    /// What is wrong, and where possible what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No file to name (none was found): the message alone.
        if !self.file.is_empty() {
            write!(f, "{}", self.file)?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl ConfigError {
    fn new(file: &str, line: Option<usize>, field: Option<&str>, message: String) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line,
            field: field.map(str::to_string),
            message,
        }
    }
}

impl ClusterConfig {
    /// Builds a configuration from servers directly (no file), checking for
    /// duplicates.
    pub fn from_servers(servers: Vec<ServerSpec>) -> Result<ClusterConfig, ConfigError> {
        if servers.is_empty() {
            return Err(ConfigError::new(
                "<servers>",
                None,
                None,
                "no servers".into(),
            ));
        }
        let mut seen = Seen::default();
        for (i, s) in servers.iter().enumerate() {
            if seen.first(s.addr(), i).is_some() {
                return Err(ConfigError::new(
                    "<servers>",
                    None,
                    None,
                    format!("server {s} is listed twice"),
                ));
            }
        }
        Ok(ClusterConfig {
            source: None,
            servers,
            defaults: Defaults::default(),
            network: Network::Loopback,
        })
    }

    /// Reads a configuration file: `cluster.toml` format when the name ends in
    /// `.toml`, `servers.txt` format otherwise.
    pub fn load(path: &Path) -> Result<ClusterConfig, ConfigError> {
        ClusterConfig::load_with_key_file(path, None)
    }

    /// [`ClusterConfig::load`], with `key_file` (`--key-file`), when given,
    /// instead of `DKVS_KEY_FILE` and the file's `key_file`.
    pub fn load_with_key_file(
        path: &Path,
        key_file: Option<&Path>,
    ) -> Result<ClusterConfig, ConfigError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            ConfigError::new(&name, None, None, format!("cannot read the file: {e}"))
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = line_of(e.as_bytes(), e.utf8_error().valid_up_to());
            ConfigError::new(
                &name,
                Some(line),
                None,
                "the file is not valid UTF-8".into(),
            )
        })?;
        let mut config = if is_toml(path) {
            parse_cluster_toml(&text, &name)?
        } else {
            parse_servers_txt(&text, &name)?
        };
        // A relative data_dir or key_file is relative to the file's directory.
        let base = path.parent().unwrap_or(Path::new(""));
        for server in &mut config.servers {
            if let Some(dir) = &mut server.data_dir
                && dir.is_relative()
            {
                *dir = base.join(&*dir);
            }
        }
        if let Some(file) = &mut config.defaults.key_file
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
        // --key-file, else DKVS_KEY_FILE, override the file's key_file.
        let env = std::env::var_os(crate::limits::KEY_FILE_ENV).filter(|p| !p.is_empty());
        let field = config.defaults.key_file.take();
        let chosen = match (key_file, env) {
            (Some(flag), _) => Some((flag.to_path_buf(), KeyFileOrigin::Option)),
            (None, Some(env)) => Some((PathBuf::from(env), KeyFileOrigin::Environment)),
            (None, None) => field.map(|f| (f, KeyFileOrigin::Field)),
        };
        config.source = Some(path.to_path_buf());
        if let Some((file, origin)) = chosen {
            config.use_key_file(file, origin)?;
        }
        Ok(config)
    }

    /// Makes `path` the cluster's key file and reads its keys; an unusable
    /// file is an error that names it as the user gave it (`origin`):
    /// `--key-file PATH`, `DKVS_KEY_FILE=PATH`, or the `key_file` field of
    /// the configuration file, and says what to do.
    pub fn use_key_file(
        &mut self,
        path: PathBuf,
        origin: KeyFileOrigin,
    ) -> Result<(), ConfigError> {
        let keys = crate::limits::read_key_file_quietly(&path).map_err(|m| {
            let shown = path.display();
            let format = "`<id> <hex secret>` per line, docs/SECURITY.md";
            match origin {
                KeyFileOrigin::Option => ConfigError::new(
                    &format!("--key-file {shown}"),
                    None,
                    None,
                    format!("{m}; pass --key-file the path of a key file ({format})"),
                ),
                KeyFileOrigin::Environment => ConfigError::new(
                    &format!("{}={shown}", crate::limits::KEY_FILE_ENV),
                    None,
                    None,
                    format!(
                        "{m}; set {} to the path of a key file ({format}) or unset it",
                        crate::limits::KEY_FILE_ENV
                    ),
                ),
                KeyFileOrigin::Field => {
                    let file = self
                        .source
                        .as_ref()
                        .map_or_else(|| shown.to_string(), |s| s.display().to_string());
                    ConfigError::new(
                        &file,
                        None,
                        Some("key_file"),
                        format!("key file {shown}: {m}"),
                    )
                }
            }
        })?;
        self.defaults.key_file = Some(path);
        self.defaults.keys = Some(AuthConfig {
            keys: keys.into(),
            window_ms: crate::limits::AUTH_WINDOW_MS,
        });
        Ok(())
    }

    /// Finds and reads the configuration: `explicit` (from an option), else
    /// `$DKVS_SERVERS`, else `./servers.txt`, else `./cluster.toml`.
    pub fn locate(explicit: Option<&Path>) -> Result<ClusterConfig, ConfigError> {
        ClusterConfig::load(&locate_path(explicit)?)
    }

    /// [`ClusterConfig::locate`], with `key_file` (`--key-file`) as in
    /// [`ClusterConfig::load_with_key_file`].
    pub fn locate_with_key_file(
        explicit: Option<&Path>,
        key_file: Option<&Path>,
    ) -> Result<ClusterConfig, ConfigError> {
        ClusterConfig::load_with_key_file(&locate_path(explicit)?, key_file)
    }

    /// Number of distinct servers S.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// Finds a server by its 1-based position or by `ip:port` (REPL names).
    pub fn find_server(&self, name: &str) -> Option<usize> {
        if let Ok(pos) = name.parse::<usize>() {
            return (pos >= 1 && pos <= self.servers.len()).then(|| pos - 1);
        }
        let addr: SocketAddrV4 = name.parse().ok()?;
        self.servers.iter().position(|s| s.addr() == addr)
    }

    /// The file name used in messages.
    pub fn source_name(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "<servers>".to_string(),
        }
    }
}

/// The files the command-line tools look for in the current directory when
/// none is named, in order.
pub const DEFAULT_FILES: [&str; 2] = ["servers.txt", "cluster.toml"];
/// `dkvs-tui`'s: its own format first, since only `cluster.toml` can say
/// which servers to spawn.
pub const TUI_DEFAULT_FILES: [&str; 2] = ["cluster.toml", "servers.txt"];

/// Where the configuration comes from when no file is named: see [`ClusterConfig::locate`].
pub fn locate_path(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    locate_path_in(explicit, &DEFAULT_FILES)
}

/// The one lookup order of every tool: the file named (argument or
/// `--servers`), else `$DKVS_SERVERS`, else the first of `defaults` in the
/// current directory.
pub fn locate_path_in(explicit: Option<&Path>, defaults: &[&str]) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(SERVERS_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    for candidate in defaults {
        let p = PathBuf::from(candidate);
        if p.exists() {
            return Ok(p);
        }
    }
    let looked: Vec<String> = defaults.iter().map(|f| format!("./{f}")).collect();
    Err(ConfigError::new(
        "",
        None,
        None,
        format!(
            "no cluster file: none named (--servers FILE or {SERVERS_ENV}=FILE) and no {} in the current directory",
            looked.join(" or ")
        ),
    ))
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Parses the `servers.txt` format (docs/CLI.md). `file` names the file in
/// errors.
pub fn parse_servers_txt(text: &str, file: &str) -> Result<ClusterConfig, ConfigError> {
    let mut servers: Vec<ServerSpec> = Vec::new();
    let mut seen = Seen::default();
    for (index, raw_line) in text.split('\n').enumerate() {
        let lineno = index + 1;
        // Tolerate CRLF files: a trailing CR is not part of the last field.
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |field: Option<&str>, msg: String| {
            Err(ConfigError::new(file, Some(lineno), field, msg))
        };
        let fields: Vec<&str> = line.split(' ').collect();
        let &[ip, port, nodes] = fields.as_slice() else {
            let found = if fields.len() < 3 {
                format!("{} field(s)", fields.len())
            } else {
                format!("{} fields", fields.len())
            };
            return err(
                None,
                format!(
                    "expected `<ip> <port> <nodes>` separated by single spaces, found {found} in {line:?}"
                ),
            );
        };
        let ip = match parse_ipv4(ip) {
            Ok(ip) => ip,
            Err(m) => return err(Some("ip"), m),
        };
        let port = match parse_number(port, 1, 65535) {
            Ok(p) => p as u16,
            Err(m) => return err(Some("port"), m),
        };
        let nodes = match parse_number(nodes, 1, MAX_NODES_PER_SERVER as u64) {
            Ok(n) => n as u32,
            Err(m) => return err(Some("nodes"), m),
        };
        if let Some(prev) = seen.first(SocketAddrV4::new(ip, port), servers.len()) {
            return err(
                None,
                format!(
                    "server {ip} {port} is listed twice (first as server {}); each server must appear once",
                    prev + 1
                ),
            );
        }
        servers.push(ServerSpec::new(ip, port, nodes));
    }
    if servers.is_empty() {
        return Err(ConfigError::new(
            file,
            None,
            None,
            "no servers: add lines of the form `<ip> <port> <nodes>`".into(),
        ));
    }
    Ok(ClusterConfig {
        source: None,
        servers,
        defaults: Defaults::default(),
        network: Network::Loopback,
    })
}

/// Addresses already listed, for finding duplicates in linear time (a file
/// of 50,000 servers took seconds with a pairwise search).
#[derive(Default)]
struct Seen(std::collections::HashMap<SocketAddrV4, usize>);

impl Seen {
    /// Records `addr` as server `index` (0-based), or returns the index it
    /// was first listed as.
    fn first(&mut self, addr: SocketAddrV4, index: usize) -> Option<usize> {
        match self.0.entry(addr) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(index);
                None
            }
        }
    }
}

fn parse_ipv4(text: &str) -> Result<Ipv4Addr, String> {
    text.parse::<Ipv4Addr>().map_err(|_| {
        format!("{text:?} is not an IPv4 address in dotted-quad form (like 127.0.0.1)")
    })
}

/// Parses a decimal number in `min..=max`: digits only (no sign, no spaces).
fn parse_number(text: &str, min: u64, max: u64) -> Result<u64, String> {
    if text.is_empty() {
        return Err("missing value".into());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{text:?} is not a whole number"));
    }
    match text.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{text} is out of range ({min}..={max})")),
    }
}

/// 1-based line number of byte `offset` in `text`.
fn line_of(text: &[u8], offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    1 + before.iter().filter(|&&b| b == b'\n').count()
}

/// Whether TCP listeners on `a` and `b` would take the same port: the same
/// port on the same address, or on an unspecified address — 0.0.0.0 takes
/// it on every IPv4 address, :: on every address (dual stack, Linux's
/// default).
fn same_listener(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |wide: SocketAddr, other: SocketAddr| {
        wide.ip().is_unspecified() && (wide.is_ipv6() || other.is_ipv4())
    };
    a.port() == b.port() && (a.ip() == b.ip() || covers(a, b) || covers(b, a))
}

mod cluster_toml;
pub use cluster_toml::parse_cluster_toml;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol_v2::AuthKey;

    #[test]
    fn same_listener_follows_address_families() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(same_listener(a("127.0.0.1:9"), a("127.0.0.1:9")));
        assert!(!same_listener(a("127.0.0.1:9"), a("127.0.0.1:10")));
        assert!(!same_listener(a("127.0.0.1:9"), a("127.0.0.2:9")));
        assert!(same_listener(a("0.0.0.0:9"), a("127.0.0.1:9")));
        assert!(same_listener(a("127.0.0.1:9"), a("0.0.0.0:9")));
        assert!(!same_listener(a("0.0.0.0:9"), a("[::1]:9")));
        assert!(same_listener(a("[::]:9"), a("127.0.0.1:9")));
        assert!(same_listener(a("[::1]:9"), a("[::]:9")));
    }

    fn txt(s: &str) -> Result<ClusterConfig, ConfigError> {
        parse_servers_txt(s, "servers.txt")
    }

    #[test]
    fn servers_txt_basic() {
        let c = txt("127.0.0.1 1234 3\n# comment\n\n127.0.0.1 1235 2").unwrap();
        assert_eq!(c.servers.len(), 2);
        assert_eq!(c.servers[0].nodes, 3);
        assert_eq!(c.servers[1].port, 1235);
        assert!(c.servers[0].spawn);
        let remote = txt("8.8.8.8 1236 1\n").unwrap();
        assert!(!remote.servers[0].spawn);
    }

    #[test]
    fn servers_txt_errors_name_line_and_field() {
        let cases = [
            ("127.0.0.1 1234 3\n-127.0.0.1 1235 1\n", 2, Some("ip")),
            ("127.0.0.1 1234\n", 1, None),
            ("127.0.0.1 1234 1 9\n", 1, None),
            ("127.0.0.1 12a4 1\n", 1, Some("port")),
            ("127.0.0.1 -1234 1\n", 1, Some("port")),
            ("127.0.0.1 70000 1\n", 1, Some("port")),
            ("127.0.0.1 0 1\n", 1, Some("port")),
            ("127.0.0.1 1234 0\n", 1, Some("nodes")),
            ("127.0.0.1 1234 -3\n", 1, Some("nodes")),
            ("127.0.0.1 1234 x\n", 1, Some("nodes")),
            ("256.0.0.1 1234 1\n", 1, Some("ip")),
            ("localhost 1234 1\n", 1, Some("ip")),
            ("127.0.0.1  1234 1\n", 1, None),
            ("\n127.0.0.1 1234 1\n127.0.0.1 1234 2\n", 3, None),
        ];
        for (input, line, field) in cases {
            let e = txt(input).unwrap_err();
            assert_eq!(e.line, Some(line), "{input:?}: {e}");
            assert_eq!(e.field.as_deref(), field, "{input:?}: {e}");
            assert!(
                e.to_string().starts_with(&format!("servers.txt:{line}: ")),
                "{e}"
            );
        }
        assert!(txt("").is_err());
        assert!(txt("# only a comment\n").is_err());
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("servers.txt");
        std::fs::write(&path, b"127.0.0.1 1234 1\n# ok\n\xff 1 1\n").unwrap();
        let e = ClusterConfig::load(&path).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn servers_txt_crlf_tolerated() {
        let c = txt("127.0.0.1 1234 3\r\n127.0.0.1 1235 1\r\n").unwrap();
        assert_eq!(c.servers[1].nodes, 1);
    }

    fn toml_cfg(s: &str) -> Result<ClusterConfig, ConfigError> {
        parse_cluster_toml(s, "cluster.toml")
    }

    #[test]
    fn cluster_toml_basic() {
        let c = toml_cfg(
            "[defaults]\nn = 4\nw = 3\nr = 2\ntimeout_ms = 500\n\n[[server]]\nip = \"127.0.0.1\"\nport = 1234\nnodes = 3\n\n[[server]]\nip = \"10.0.0.1\"\nport = 1235\nnodes = 2\nspawn = true\n",
        )
        .unwrap();
        assert_eq!(c.defaults.n, Some(4));
        assert_eq!(c.defaults.w, Some(3));
        assert_eq!(c.defaults.timeout_ms, 500);
        assert_eq!(c.servers.len(), 2);
        assert!(c.servers[1].spawn);
    }

    #[test]
    fn cluster_toml_data_dir_and_sync() {
        let c = toml_cfg(
            "[defaults]\ndata_dir = \"data\"\nsync = \"periodic\"\n\n[[server]]\nip = \"127.0.0.1\"\nport = 1234\n\n[[server]]\nip = \"127.0.0.1\"\nport = 1235\ndata_dir = \"/srv/b\"\nsync = \"always\"\n\n[[server]]\nip = \"127.0.0.1\"\nport = 1236\n",
        )
        .unwrap();
        assert_eq!(
            c.servers[0].data_dir.as_deref(),
            Some(Path::new("data/127.0.0.1-1234"))
        );
        assert_eq!(c.servers[0].sync, Some(SyncPolicy::Periodic));
        assert_eq!(c.servers[1].data_dir.as_deref(), Some(Path::new("/srv/b")));
        assert_eq!(c.servers[1].sync, Some(SyncPolicy::Always));
        let plain = toml_cfg("[[server]]\nip = \"127.0.0.1\"\nport = 1234\n").unwrap();
        assert_eq!(
            (plain.servers[0].data_dir.as_ref(), plain.servers[0].sync),
            (None, None)
        );
        let e = toml_cfg("[[server]]\nip = \"127.0.0.1\"\nport = 1234\nsync = \"often\"\n")
            .unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (Some(4), Some("sync")));
        let e = toml_cfg(
            "[[server]]\nip = \"127.0.0.1\"\nport = 1234\ndata_dir = \"d\"\n[[server]]\nip = \"127.0.0.1\"\nport = 1235\ndata_dir = \"d\"\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (Some(8), Some("data_dir")));
        assert!(e.message.contains("server 1"), "{e}");
    }

    #[test]
    fn cluster_toml_metrics() {
        let server = |port: u16, metrics: &str| {
            format!("[[server]]\nip = \"127.0.0.1\"\nport = {port}\nmetrics = \"{metrics}\"\n")
        };
        let c = toml_cfg(&format!(
            "{}{}[[server]]\nip = \"127.0.0.1\"\nport = 1236\n",
            server(1234, "127.0.0.1:9101"),
            server(1235, "[::1]:9101")
        ))
        .unwrap();
        let got: Vec<Option<SocketAddr>> = c.servers.iter().map(|s| s.metrics).collect();
        assert_eq!(
            got,
            [
                Some("127.0.0.1:9101".parse().unwrap()),
                Some("[::1]:9101".parse().unwrap()),
                None
            ]
        );
        // Not an address, port 0, a name: errors on the field's line.
        for bad in [
            "127.0.0.1",
            "127.0.0.1:0",
            "localhost:9101",
            "",
            "127.0.0.1:70000",
        ] {
            let e = toml_cfg(&server(1234, bad)).unwrap_err();
            assert_eq!(
                (e.line, e.field.as_deref()),
                (Some(4), Some("metrics")),
                "{bad}: {e}"
            );
            assert!(
                e.to_string()
                    .starts_with("cluster.toml:4: field `metrics`: "),
                "{e}"
            );
        }
        let e = toml_cfg("[[server]]\nip = \"127.0.0.1\"\nport = 1\nmetrics = 9101\n").unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(4), Some("metrics")),
            "{e}"
        );
        // Two servers on one metrics port: the second is the error.
        for (first, second) in [
            ("127.0.0.1:9101", "127.0.0.1:9101"),
            ("0.0.0.0:9101", "127.0.0.2:9101"),
            ("127.0.0.2:9101", "[::]:9101"),
        ] {
            let e =
                toml_cfg(&format!("{}{}", server(1234, first), server(1235, second))).unwrap_err();
            assert_eq!(
                (e.line, e.field.as_deref()),
                (Some(8), Some("metrics")),
                "{e}"
            );
            assert!(e.message.contains("server 1"), "{e}");
        }
        // The same port on two addresses is two listeners.
        toml_cfg(&format!(
            "{}{}",
            server(1234, "127.0.0.1:9101"),
            server(1235, "127.0.0.2:9101")
        ))
        .unwrap();
        // Not a [defaults] key (per server only).
        let e = toml_cfg(&format!(
            "[defaults]\nmetrics = \"127.0.0.1:9101\"\n{}",
            server(1234, "127.0.0.1:9102")
        ))
        .unwrap_err();
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(2), Some("metrics")),
            "{e}"
        );
    }

    #[test]
    fn the_bundled_cluster_parses() {
        let c = toml_cfg(include_str!("../../../../cluster.toml")).unwrap();
        let shape: Vec<(u16, u32)> = c.servers.iter().map(|s| (s.port, s.nodes)).collect();
        assert_eq!(
            shape,
            [(1234, 3), (1235, 2), (1236, 2), (1237, 1), (1238, 1)]
        );
        let metrics: Vec<Option<SocketAddr>> = c.servers.iter().map(|s| s.metrics).collect();
        assert_eq!(metrics[0], Some("127.0.0.1:9101".parse().unwrap()));
        assert!(metrics[1..].iter().all(Option::is_none));
    }

    #[test]
    fn the_durable_example_parses() {
        let c = toml_cfg(include_str!("../../../../examples/durable-cluster.toml")).unwrap();
        assert_eq!(c.servers.len(), 5);
        assert!(c.servers.iter().all(|s| s.data_dir.is_some()));
        assert_eq!(
            c.servers[0].data_dir.as_deref(),
            Some(Path::new("data/127.0.0.1-1234"))
        );
    }

    #[test]
    fn cluster_toml_relative_data_dir_resolves_against_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cluster.toml");
        std::fs::write(
            &path,
            "[[server]]\nip = \"127.0.0.1\"\nport = 1234\ndata_dir = \"d1\"\n",
        )
        .unwrap();
        let c = ClusterConfig::load(&path).unwrap();
        assert_eq!(c.servers[0].data_dir, Some(tmp.path().join("d1")));
    }

    #[test]
    fn cluster_toml_errors_name_line_and_field() {
        let server = "[[server]]\nip = \"127.0.0.1\"\nport = 1234\nnodes = 3\n";
        let cases = [
            (format!("{server}colour = 1\n"), 5, Some("colour")),
            (
                "[[server]]\nip = \"127.0.0.1\"\nport = \"x\"\n".to_string(),
                3,
                Some("port"),
            ),
            (
                "[[server]]\nip = \"127.0.0.1\"\nport = 0\n".to_string(),
                3,
                Some("port"),
            ),
            (
                "[[server]]\nip = \"127.0.0.1\"\nport = 1\nnodes = 0\n".to_string(),
                4,
                Some("nodes"),
            ),
            (
                "[[server]]\nip = \"nope\"\nport = 1\n".to_string(),
                2,
                Some("ip"),
            ),
            (format!("{server}{server}"), 7, Some("port")),
            (format!("[defaults]\nn = 2\nw = 3\n{server}"), 3, Some("w")),
            (format!("[defaults]\nr = 4\n{server}"), 2, Some("r")),
        ];
        for (input, line, field) in cases {
            let e = toml_cfg(&input).unwrap_err();
            assert_eq!(e.line, Some(line), "{input:?}: {e}");
            assert_eq!(e.field.as_deref(), field, "{input:?}: {e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        assert!(toml_cfg("").is_err());
        assert!(toml_cfg("[defaults]\nn = 3\n").is_err());
    }

    #[test]
    fn find_server_by_position_or_address() {
        let c = txt("127.0.0.1 1234 3\n127.0.0.1 1235 2\n").unwrap();
        assert_eq!(c.find_server("1"), Some(0));
        assert_eq!(c.find_server("2"), Some(1));
        assert_eq!(c.find_server("3"), None);
        assert_eq!(c.find_server("0"), None);
        assert_eq!(c.find_server("127.0.0.1:1235"), Some(1));
        assert_eq!(c.find_server("127.0.0.1:9"), None);
        assert_eq!(c.find_server("bogus"), None);
    }

    #[test]
    fn key_file_resolved_against_the_toml_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let server = "[[server]]\nip = \"127.0.0.1\"\nport = 1\n";
        let toml = dir.path().join("cluster.toml");
        let write = |defaults: &str| {
            std::fs::write(&toml, format!("[defaults]\n{defaults}\n{server}")).unwrap();
        };
        write("key_file = \"keys\"");
        let e = ClusterConfig::load(&toml).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("key_file"), "{e}");
        std::fs::write(dir.path().join("keys"), format!("3 {}\n", "ab".repeat(16))).unwrap();
        let c = ClusterConfig::load(&toml).unwrap();
        assert_eq!(c.defaults.key_file, Some(dir.path().join("keys")));
        let keys = c.defaults.keys.unwrap();
        assert_eq!(keys.signer().map(AuthKey::id), Some(3));
        write("key_file = \"\"");
        let e = ClusterConfig::load(&toml).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (Some(2), Some("key_file")));
        // Unknown keys stay errors.
        write("key_files = \"keys\"");
        assert!(ClusterConfig::load(&toml).is_err());
    }
}
