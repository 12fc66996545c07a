//! `server_options` in `cluster.toml`: any `dkvs-server` option for the
//! servers `dkvs-tui` spawns, as a TOML table turned into command-line
//! words. The names are checked against the server's own options by the
//! app, which owns them; here only the shape is.

use toml::Value;

/// Options `cluster.toml` sets with a field of its own, and that field.
const OWN_FIELDS: &[(&str, &str)] = &[
    ("data-dir", "data_dir"),
    ("sync", "sync"),
    ("metrics", "metrics"),
    ("key-file", "key_file (in [defaults])"),
    ("servers", "the cluster file itself (dkvs-tui passes it)"),
];

/// One option's words: `--name value` per value, `--name` for `true`,
/// nothing for `false`; `Err` says what is wrong with the entry.
fn words(name: &str, value: &Value, out: &mut Vec<String>) -> Result<(), String> {
    let flag = format!("--{name}");
    match value {
        Value::Boolean(true) => out.push(flag),
        Value::Boolean(false) => {}
        Value::String(s) => out.extend([flag, s.clone()]),
        Value::Integer(i) => out.extend([flag, i.to_string()]),
        Value::Float(f) => out.extend([flag, f.to_string()]),
        Value::Array(items) => {
            for item in items {
                if matches!(item, Value::Array(_) | Value::Table(_)) {
                    return Err(format!("`{name}`: a list holds strings or numbers only"));
                }
                words(name, item, out)?;
            }
        }
        Value::Table(_) | Value::Datetime(_) => {
            return Err(format!(
                "`{name}`: give a string, a number, true or a list (like max-memory = \"512MiB\")"
            ));
        }
    }
    Ok(())
}

/// The command-line words of `[defaults]`'s table and a server's, the
/// server's entries replacing the defaults' of the same name. `Err`: the
/// offending option and why.
pub fn server_args(
    defaults: Option<&toml::Table>,
    server: Option<&toml::Table>,
) -> Result<Vec<String>, String> {
    // Merged by bare name: `max-memory` and `--max-memory` are one option.
    let mut merged: Vec<(&str, &String, &Value)> = Vec::new();
    for table in [defaults, server].into_iter().flatten() {
        for (name, value) in table {
            let bare = name.trim_start_matches('-');
            merged.retain(|(b, _, _)| *b != bare);
            merged.push((bare, name, value));
        }
    }
    let mut out = Vec::new();
    for (bare, name, value) in merged {
        if bare.is_empty() || bare.contains(char::is_whitespace) {
            return Err(format!("`{name}` is not an option name (like max-memory)"));
        }
        if matches!(bare, "help" | "version") {
            return Err(format!("`{bare}` is not a server setting"));
        }
        if let Some((_, field)) = OWN_FIELDS.iter().find(|(n, _)| *n == bare) {
            return Err(format!("`{bare}` has a field of its own: use {field}"));
        }
        words(bare, value, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn tables_become_words_and_the_server_wins() {
        let d =
            table("max-memory = \"1GiB\"\nallow = [\"10.0.0.0/8\", \"127.0.0.1\"]\nquiet = true");
        let s = table("max-memory = 1024\nverbose = false");
        assert_eq!(
            server_args(Some(&d), Some(&s)).unwrap(),
            [
                "--allow",
                "10.0.0.0/8",
                "--allow",
                "127.0.0.1",
                "--quiet",
                "--max-memory",
                "1024"
            ]
        );
        assert_eq!(server_args(None, None).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn own_fields_and_bad_shapes_are_refused() {
        let e = server_args(None, Some(&table("data-dir = \"x\""))).unwrap_err();
        assert!(e.contains("use data_dir"), "{e}");
        let e = server_args(Some(&table("x = { y = 1 }")), None).unwrap_err();
        assert!(e.contains("give a string"), "{e}");
        let e = server_args(Some(&table("\" \" = 1")), None).unwrap_err();
        assert!(e.contains("not an option name"), "{e}");
        let e = server_args(Some(&table("help = true")), None).unwrap_err();
        assert!(e.contains("not a server setting"), "{e}");
        // One option however it is spelt: the server's value wins.
        let d = table("max-memory = \"1GiB\"");
        let s = table("\"--max-memory\" = \"2GiB\"");
        assert_eq!(
            server_args(Some(&d), Some(&s)).unwrap(),
            ["--max-memory", "2GiB"]
        );
    }
}
