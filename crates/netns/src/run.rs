//! Running `ip` and `nft` with a time limit: a command that blocks is
//! killed, and a failure carries the command line and its stderr.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::NetnsError;

/// How long one `ip` or `nft` command may take (they take milliseconds).
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// Runs `program args…` (with `stdin` as its input, if any) and returns
/// its stdout; an error if it cannot start, fails, or outlives [`LIMIT`].
pub(crate) fn run<I, S>(program: &str, args: I, stdin: Option<&str>) -> Result<String, NetnsError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args);
    let command = describe(&cmd);
    tracing::debug!(%command, "netns: run");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let io = |source| NetnsError::Io {
        command: command.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(io)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_owned();
        // A thread, so a child that does not read cannot block us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(text.as_bytes());
        });
    }
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + LIMIT;
    let status = wait(&mut child, deadline).map_err(io)?;
    let Some(status) = status else {
        return Err(NetnsError::Timeout {
            command,
            limit: LIMIT,
        });
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let stdout = out.recv_timeout(left).unwrap_or_default();
    let stderr = err.recv_timeout(left).unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(NetnsError::Command {
            command,
            status: status.to_string(),
            stderr: stderr.trim().to_owned(),
        })
    }
}

/// The command line, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Reads a pipe to its end on a thread; the text arrives on the channel.
fn reader(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    rx
}

/// Waits for `child` until `deadline`; past it, kills and reaps it and
/// returns `None`.
fn wait(child: &mut Child, deadline: Instant) -> std::io::Result<Option<std::process::ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_failures_are_reported() {
        assert_eq!(run("echo", ["hi"], None).unwrap(), "hi\n");
        assert_eq!(run("cat", Vec::<&str>::new(), Some("in")).unwrap(), "in");
        match run("sh", ["-c", "echo oops >&2; exit 3"], None) {
            Err(NetnsError::Command {
                command, stderr, ..
            }) => {
                assert!(command.starts_with("sh -c"));
                assert_eq!(stderr, "oops");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            run("/nonexistent/dkvs-netns", Vec::<&str>::new(), None),
            Err(NetnsError::Io { .. })
        ));
    }
}
