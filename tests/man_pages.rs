//! Man pages and shell completions: generated from the clap definitions
//! (`dkvs::cli_defs`), committed under `man/` and `completions/`, and kept
//! honest here.
//!
//! - `committed_copies_are_fresh` regenerates every page and completion
//!   script in memory and fails when a committed copy differs. Run
//!   `DKVS_REGENERATE=1 cargo test --test tests man_pages::committed` to rewrite them.
//! - `man_pages_render_without_warnings` renders every page (generated and
//!   hand-written section 5) with `groff -man -Tutf8 -ww -z`.
//! - `pages_have_the_usual_sections_and_code_as_code`: each tool's page
//!   has EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES
//!   (`dkvs::cli_defs::man`), and no page shows a literal backtick.
//! - `help_version_and_man_agree` runs each binary: every long option of
//!   `--help` (and of each subcommand's `--help`) appears in its page, and
//!   `--version` is the page's source line.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap_complete::Shell;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every generated file: (path relative to the root, contents).
fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for cmd in dkvs::cli_defs::commands() {
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        add_pages(&cmd, &mut files);
        let name = cmd.get_name().to_string();
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut out);
            files.push((Path::new("completions").join(file), out));
        }
    }
    files
}

/// The page of `cmd` and of each visible subcommand (`dkvs-client-put.1`…).
fn add_pages(cmd: &clap::Command, files: &mut Vec<(PathBuf, Vec<u8>)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        add_pages(sub, files);
    }
    let man = clap_mangen::Man::new(cmd.clone()).manual("dkvs manual");
    let mut out = Vec::new();
    man.render(&mut out).expect("render a man page into memory");
    // EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES added, option headings
    // as subsections, code spans in bold, the after-help paragraph
    // (`cli_defs::SEE_ALSO`) titled SEE ALSO: `cli_defs::man::finish`.
    let page = dkvs::cli_defs::man::finish(
        &String::from_utf8(out).expect("clap_mangen writes UTF-8"),
        cmd,
    );
    files.push((
        Path::new("man").join(man.get_filename()),
        ascii_roff(&page).into_bytes(),
    ));
}

/// `page` with every non-ASCII character written as a roff `\[uXXXX]`
/// escape, so that any man reader (with or without `preconv`) shows it.
fn ascii_roff(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", c as u32));
        }
    }
    out
}

#[test]
fn committed_copies_are_fresh() {
    let regenerate = std::env::var_os("DKVS_REGENERATE").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, contents) in generated() {
        let full = root().join(&path);
        if regenerate {
            std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&full, &contents).expect("write a generated file");
        } else if std::fs::read(&full).ok().as_deref() != Some(&contents[..]) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing generated files {stale:?}: run `DKVS_REGENERATE=1 cargo test --test tests man_pages::committed` and commit them"
    );
}

/// Every page under man/.
fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("man"))
        .expect("man/ exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "1" || e == "5"))
        .collect();
    pages.sort();
    pages
}

#[test]
fn man_pages_render_without_warnings() {
    let pages = pages();
    assert!(
        pages.len() >= 7,
        "expected the tools' and section 5 pages, found {pages:?}"
    );
    for page in pages {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("groff is installed (.ci/run installs it)");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: groff warnings:\n{}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn pages_have_the_usual_sections_and_code_as_code() {
    for cmd in dkvs::cli_defs::commands() {
        let name = cmd.get_name();
        let text = page_text(name);
        for section in [
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(text.contains(section), "{name}.1 lacks {section}");
        }
    }
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("a page");
        assert!(
            !text.contains('`'),
            "{}: a literal backtick (code spans are set in bold)",
            page.display()
        );
    }
    let server = page_text("dkvs-server");
    for heading in ["Network", "Limits", "Storage", "Cluster", "Logging"] {
        assert!(
            server.contains(&format!(".SS \"{heading} options\"")),
            "dkvs-server.1 lacks the {heading} options"
        );
    }
}

/// The long options (`--name`) a help text mentions in its option list.
fn long_options(help: &str) -> Vec<String> {
    let mut options = Vec::new();
    for line in help.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        for word in line.split([' ', ',', '=', '<', '[']) {
            if let Some(name) = word.strip_prefix("--")
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                options.push(format!("--{name}"));
            }
        }
    }
    options
}

/// Runs `binary args` and returns its stdout (it must exit 0).
fn stdout_of(binary: &Path, args: &[&str]) -> String {
    let out = Command::new(binary)
        .args(args)
        .output()
        .expect("run a binary");
    assert!(out.status.success(), "{} {args:?} failed", binary.display());
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// A page's roff source with `\-` unescaped, as the options read.
fn page_text(name: &str) -> String {
    let path = root().join("man").join(format!("{name}.1"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("\\-", "-")
}

/// Checks one command (and its subcommands) of `binary` against its pages.
fn check_agreement(binary: &Path, cmd: &clap::Command, prefix: &[&str], page: &str) {
    let mut args: Vec<&str> = prefix.to_vec();
    args.push("--help");
    let help = stdout_of(binary, &args);
    let text = page_text(page);
    let options = long_options(&help);
    assert!(
        options.iter().any(|o| o == "--help"),
        "{page}: no options found in --help"
    );
    for option in options {
        assert!(
            text.contains(&option),
            "{page}.1 lacks {option} that `{} --help` lists",
            prefix.join(" ")
        );
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut sub_prefix = prefix.to_vec();
        sub_prefix.push(sub.get_name());
        assert!(
            text.contains(sub.get_name()),
            "{page}.1 does not list the subcommand {}",
            sub.get_name()
        );
        check_agreement(
            binary,
            sub,
            &sub_prefix,
            &format!("{page}-{}", sub.get_name()),
        );
    }
}

#[test]
fn help_version_and_man_agree() {
    let binaries = [
        env!("CARGO_BIN_EXE_dkvs-client"),
        env!("CARGO_BIN_EXE_dkvs-dump-ring"),
        env!("CARGO_BIN_EXE_dkvs-bench"),
        env!("CARGO_BIN_EXE_dkvs-tui"),
        env!("CARGO_BIN_EXE_dkvs-fault-proxy"),
        env!("CARGO_BIN_EXE_dkvs-server"),
    ];
    for cmd in dkvs::cli_defs::commands() {
        let name = cmd.get_name().to_string();
        let binary = binaries
            .iter()
            .map(Path::new)
            .find(|b| b.file_name().is_some_and(|f| f == name.as_str()))
            .unwrap_or_else(|| panic!("no binary for {name}"));
        check_agreement(binary, &cmd, &[], &name);
        let version = stdout_of(binary, &["--version"]);
        assert!(
            page_text(&name).contains(version.trim()),
            "{name}.1 does not carry `{}`",
            version.trim()
        );
    }
}

#[test]
fn every_binary_has_completions() {
    let bash_ok = |file: &Path| {
        Command::new("bash")
            .arg("-n")
            .arg(file)
            .status()
            .map(|s| s.success())
            .unwrap_or(true) // no bash here: nothing to check
    };
    for cmd in dkvs::cli_defs::commands() {
        let name = cmd.get_name();
        for file in [
            format!("{name}.bash"),
            format!("_{name}"),
            format!("{name}.fish"),
        ] {
            let path = root().join("completions").join(&file);
            assert!(path.is_file(), "completions/{file} is missing");
            if file.ends_with(".bash") {
                assert!(bash_ok(&path), "bash -n rejects completions/{file}");
            }
        }
    }
}

/// Every command line the EXAMPLES sections show is one the tool's own
/// definition accepts (parsed, not run: they name real ports and files).
#[test]
fn man_page_examples_parse() {
    use clap::CommandFactory as _;
    let tools: [(&str, clap::Command); 6] = [
        ("dkvs-client", dkvs::cli_defs::client::Cli::command()),
        ("dkvs-server", dkvs::cli_defs::server::Cli::command()),
        ("dkvs-dump-ring", dkvs::cli_defs::dump_ring::Cli::command()),
        ("dkvs-bench", dkvs::cli_defs::bench::Cli::command()),
        ("dkvs-tui", dkvs::cli_defs::tui::Cli::command()),
        (
            "dkvs-fault-proxy",
            dkvs::cli_defs::fault_proxy::Cli::command(),
        ),
    ];
    let mut checked = 0;
    for (name, cmd) in tools {
        let extras = dkvs::cli_defs::man::extras(name).expect("sections for every tool");
        for (what, lines) in extras.examples {
            let joined = lines.replace("\\\n", " ");
            for line in joined.lines().filter(|l| l.starts_with(name)) {
                let words = line.split_whitespace();
                if let Err(e) = cmd.clone().try_get_matches_from(words) {
                    panic!("{name} example {what:?}: `{line}` does not parse:\n{e}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} examples found");
}
