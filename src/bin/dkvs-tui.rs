//! `dkvs-tui`: runs a whole local cluster in one terminal (docs/TUI.md).
//!
//! Modes:
//! - `dkvs-tui [cluster.toml]` on a terminal: the full-screen UI
//!   (`dkvs::tui`), with the supervisor and the interpreter.
//! - `--shell`, or standard input not a terminal: no full screen; an
//!   interactive line shell on a terminal, else piped commands read line by
//!   line (each echoed as `> <line>`, then its output; exit status 1 if any
//!   command failed).
//! - `dkvs-tui --serve-internal [-v] <IP> <PORT>` (hidden): one storage
//!   server, how the supervisor starts its children from this same
//!   executable so `cargo run --release` is enough.
//!
//! Every spawned server is stopped on every exit path: `quit`, Ctrl-D, end
//! of input, SIGINT / SIGTERM / SIGHUP (clean stop, then exit 130 / 143 /
//! 129), and panic (SIGKILL from the panic hook). In the interactive shell
//! Ctrl-C is the shell's: it clears the line at the prompt and cancels a
//! running command. Children run in their own process group (a Ctrl-C never
//! reaches them directly) and exit by themselves if `dkvs-tui` disappears
//! without cleaning up (SIGKILL).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use dkvs::cli;
use dkvs::cli_defs::tui::Cli;
use dkvs::client::Client;
use dkvs::commands::exit;
use dkvs::config::ClusterConfig;
use dkvs::repl::{Interpreter, shell};
use dkvs::supervisor::{Launcher, SERVE_FLAG, Supervisor};

/// `--color`: `never` selects the monochrome theme and `always` a coloured
/// one even under `NO_COLOR`, by setting the variable the theme reads
/// (`dkvs::tui::theme`); `auto` leaves the environment as it is.
fn apply_color_choice(choice: clap::ColorChoice) {
    // SAFETY: called from `main` before the runtime, the supervisor or any
    // other thread exists, so nothing can read the environment concurrently
    // (the only hazard of `set_var`/`remove_var`).
    match choice {
        clap::ColorChoice::Never => unsafe { std::env::set_var("NO_COLOR", "1") },
        clap::ColorChoice::Always => unsafe { std::env::remove_var("NO_COLOR") },
        clap::ColorChoice::Auto => {}
    }
}

/// Exit status after a signal: 128 + its number, as shells report it.
fn signal_status(signal: i32) -> i32 {
    128 + signal
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == SERVE_FLAG) {
        // The supervisor reads this child's statuses: dkvs's own, always.
        return serve_internal(&args[2..]);
    }
    cli::main_with(cli::FailLine::None, run)
}

/// The cluster, the supervisor and the UI or shell, until the end; returns
/// our exit status.
fn run(cli: Cli) -> u8 {
    let session = match session_lines(&cli) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => return cli::config_failure(false, &e),
    };
    dkvs::hosts_mode::remove_stale_fallbacks();
    let prepared = match dkvs::hosts_mode::prepare(&mut config) {
        Ok(p) => p,
        Err(e) => return cli::fail(false, e, exit::FAILED),
    };

    let stdin_tty = std::io::stdin().is_terminal();
    let stdout_tty = std::io::stdout().is_terminal();
    let full_screen = !cli.shell && stdin_tty && stdout_tty;
    if !full_screen {
        cli.cluster.log.init_logging();
    }
    apply_color_choice(cli.cluster.log.color);
    let timeout = cli.cluster.timeout(&config);
    let runtime = match start_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let launcher = match launcher(&cli, &config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let base = launcher.args.get(1..).unwrap_or_default();
    if let Err(e) = dkvs::serve_cli::check_spawn_options(&config, base) {
        return cli::config_failure(false, &e);
    }
    let config = Arc::new(config);
    let supervisor = runtime.block_on(async {
        Supervisor::start_with_hosts(config.clone(), launcher, prepared.hosts, &prepared.notes)
    });
    kill_children_on_panic(supervisor.clone());
    let interrupts = shell::Interrupts::new();
    if !full_screen {
        // The full-screen UI listens to signals itself and returns normally.
        watch_signals(&runtime, supervisor.clone(), interrupts.clone());
    }

    let client = Client::new((*config).clone()).with_timeout(timeout);
    let mut interpreter = Interpreter::new(client, Some(supervisor.clone()));
    let code = if full_screen {
        run_full_screen(&runtime, interpreter, supervisor.clone(), &session)
    } else {
        let echo = !cli.no_echo;
        run_shell(
            &runtime,
            &mut interpreter,
            &supervisor,
            &interrupts,
            (stdin_tty, echo),
            &session,
        )
    };
    runtime.block_on(supervisor.shutdown());
    // The fallback's directory goes with `prepared`.
    drop(prepared.fallback_dir);
    code
}

/// The lines `--lesson` runs first and `--export` runs last; `Err` is the
/// exit code of a usage error (an `--export` file that is neither `.svg`
/// nor `.md`), already reported.
fn session_lines(cli: &Cli) -> Result<shell::SessionLines, u8> {
    let mut session = shell::SessionLines::default();
    if let Some(lesson) = &cli.lesson {
        session
            .first
            .push(format!("lesson {}", dkvs::export::repl_word(lesson)));
    }
    for path in &cli.export {
        match dkvs::export::export_line(path) {
            Ok(line) => session.last.push(line),
            Err(e) => return Err(cli::fail(false, e, exit::USAGE)),
        }
    }
    Ok(session)
}

/// The runtime of the supervisor and the interpreter; `Err` is the exit
/// code, already reported.
fn start_runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            cli::fail(
                false,
                format!("cannot start the runtime: {e}"),
                exit::FAILED,
            )
        })
}

/// How the supervisor starts a server: this executable in server mode, as
/// verbose as this one and reading the ring from the configuration file;
/// `Err` is the exit code, already reported.
fn launcher(cli: &Cli, config: &ClusterConfig) -> Result<Launcher, u8> {
    let mut launcher = match Launcher::current_exe() {
        Ok(l) => l,
        Err(e) => {
            return Err(cli::fail(
                false,
                format!("cannot find this executable: {e}"),
                exit::FAILED,
            ));
        }
    };
    for _ in 1..cli.cluster.log.verbose {
        launcher.args.push("-v".into());
    }
    // Spawned servers learn the ring from the same file (absolute, so
    // their working directory does not matter) and reload it on SIGHUP,
    // which `add` and `remove` send after rewriting it.
    if let Some(source) = &config.source {
        let path = std::fs::canonicalize(source).unwrap_or_else(|_| source.clone());
        launcher.args.push("--servers".into());
        launcher.args.push(path.into());
    }
    Ok(launcher)
}

/// Panic: SIGKILL every child at once (the UI's own hook restores the
/// terminal first when it wraps this one).
fn kill_children_on_panic(supervisor: Supervisor) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        supervisor.kill_all_now();
        previous(info);
    }));
}

/// Shell modes: the interactive line shell on a terminal, else the piped
/// commands of standard input, once the children have started.
fn run_shell(
    runtime: &tokio::runtime::Runtime,
    interpreter: &mut Interpreter,
    supervisor: &Supervisor,
    interrupts: &shell::Interrupts,
    (stdin_tty, echo): (bool, bool),
    session: &shell::SessionLines,
) -> u8 {
    // Let the children bind their ports before the first command.
    runtime.block_on(supervisor.wait_started(Duration::from_secs(3)));
    let result = if stdin_tty {
        shell::run_interactive(runtime, interpreter, interrupts, session).map(|_| true)
    } else {
        let stdin = std::io::stdin();
        shell::run_piped(
            runtime,
            interpreter,
            stdin.lock(),
            &mut std::io::stdout(),
            echo,
            session,
        )
    };
    match result {
        Ok(true) => exit::OK,
        Ok(false) => exit::FAILED,
        Err(e) => {
            eprintln!("ERROR: {e}");
            exit::FAILED
        }
    }
}

/// The configuration: the positional file, else --servers, else
/// $DKVS_SERVERS, else ./cluster.toml, else ./servers.txt.
fn load_config(cli: &Cli) -> Result<ClusterConfig, dkvs::config::ConfigError> {
    let named = cli.config.as_deref().or(cli.cluster.servers.as_deref());
    let path = dkvs::config::locate_path_in(named, &dkvs::config::TUI_DEFAULT_FILES)?;
    ClusterConfig::load(&path)
}

/// The full-screen UI (`dkvs::tui`), until quit or a signal.
fn run_full_screen(
    runtime: &tokio::runtime::Runtime,
    interpreter: Interpreter,
    supervisor: Supervisor,
    session: &shell::SessionLines,
) -> u8 {
    match dkvs::tui::run(runtime, interpreter, supervisor, session) {
        Ok(true) => exit::OK,
        Ok(false) => exit::FAILED,
        Err(e) => {
            eprintln!("ERROR: the screen failed: {e} (try --shell)");
            exit::FAILED
        }
    }
}

/// Shell modes: on SIGINT, SIGTERM or SIGHUP stop the children cleanly and
/// exit with 128 + the signal number — except a SIGINT while an interactive
/// command runs, which only cancels that command.
fn watch_signals(
    runtime: &tokio::runtime::Runtime,
    supervisor: Supervisor,
    interrupts: Arc<shell::Interrupts>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let _guard = runtime.enter();
    let kinds = [
        (SignalKind::interrupt(), 2),
        (SignalKind::terminate(), 15),
        (SignalKind::hangup(), 1),
    ];
    let mut streams = Vec::new();
    for (kind, number) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, number)),
            Err(e) => eprintln!("WARNING: cannot watch signal {number}: {e}"),
        }
    }
    runtime.spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (mut stream, number) in streams {
            let tx = tx.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if tx.send(number).is_err() {
                        return;
                    }
                }
            });
        }
        let number = loop {
            match rx.recv().await {
                None => return,
                Some(2) if interrupts.cancel_command() => continue,
                Some(number) => break number,
            }
        };
        supervisor.shutdown().await;
        std::process::exit(signal_status(number));
    });
}

/// The hidden server mode: `--serve-internal`, then `dkvs-server`'s own
/// command line (`cli_defs::server`), so every server option works for the
/// servers `dkvs-tui` spawns (`server_options` in `cluster.toml`). Its
/// metrics endpoint is best effort (a taken port costs the scrape, not the
/// server). Exits by itself if its parent disappears (e.g. `dkvs-tui` was
/// SIGKILLed), so a crashed manager never leaves servers behind.
fn serve_internal(args: &[std::ffi::OsString]) -> ExitCode {
    use clap::Parser as _;
    let words =
        std::iter::once(std::ffi::OsString::from("dkvs-server")).chain(args.iter().cloned());
    let cli = match dkvs::cli_defs::server::Cli::try_parse_from(words) {
        Ok(cli) => cli,
        Err(e) => {
            // One ERROR line: what the supervisor shows of a child's end.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("ERROR: {}", first.trim_start_matches("error: "));
            return ExitCode::from(exit::USAGE);
        }
    };
    exit_with_parent();
    ExitCode::from(dkvs::serve_cli::run(cli, true))
}

/// Exits (status 0) as soon as the parent process is gone, checked every
/// half second from a thread of its own.
fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            if std::os::unix::process::parent_id() != parent {
                // No log line: stderr is a pipe to the dead parent, and a
                // failed write must not stop this thread before the exit.
                std::process::exit(0);
            }
        }
    });
}
