//! A tmux session driving a program through a real terminal, for the tests
//! that need one (`tui_screen`, `bench`): `send-keys` types, `capture-pane`
//! reads the screen. Every session lives on its own tmux server (`-L`),
//! killed by a Drop guard, so parallel tests never see each other.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// True when a `tmux` binary runs (`.ci/run` installs it when missing).
pub fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One tmux server + session running a shell command; killed on drop.
pub struct Tmux {
    /// The tmux server socket name (`-L`).
    pub socket: String,
    /// The session (and window) name.
    pub session: String,
}

impl Tmux {
    pub fn start(tag: &str, command: &str) -> Tmux {
        let unique = format!(
            "dkvs-tui-test-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_micros()
        );
        let t = Tmux {
            socket: unique.clone(),
            session: unique,
        };
        let status = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", &t.session, "-x", "120", "-y", "40"])
            .arg(command)
            .env_remove("TMUX")
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        // Keep the pane's text after the command ends.
        let _ = t.tmux(&["set-option", "-t", &t.session, "remain-on-exit", "on"]);
        t
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.session])
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    pub fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", &self.session, "-l", text]);
        self.keys(&["Enter"]);
    }

    /// Polls the screen until `pred` holds, up to `secs` seconds.
    pub fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn alternate_on(&self) -> bool {
        self.tmux(&[
            "display-message",
            "-p",
            "-t",
            &self.session,
            "#{alternate_on}",
        ])
        .trim()
            == "1"
    }

    pub fn pane_pid(&self) -> u32 {
        self.tmux(&["display-message", "-p", "-t", &self.session, "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}
