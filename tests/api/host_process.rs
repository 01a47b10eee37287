//! The `spin_host` example as a child process: for tests that kill a host (crash) or run
//! several instances the way several `spin up` processes would (scale-out).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::helpers::TEST_TOKEN_SIGNING_KEY;
use crate::host;

/// A host running as a child process, killed on drop if still alive.
pub struct HostProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

impl HostProcess {
    /// Starts a host on `state_dir` with `admin_key` as the bootstrap key, a per-key
    /// limit high enough never to throttle, and `extra_args` (e.g. `--key-value
    /// rate_limits=redis://…`); returns once it serves.
    pub fn start(state_dir: &Path, admin_key: &str, extra_args: &[String]) -> Self {
        let component = host::build_component().expect("building the component");
        let mut child = Command::new(example_binary())
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .arg("--component")
            .arg(component)
            .args(["--variable", &format!("admin_api_key={admin_key}")])
            .args(["--variable", "rate_limit_per_minute=1000000"])
            .args(["--variable", "webhook_loopback_http=true"])
            .args([
                "--variable".to_owned(),
                format!("token_signing_key={TEST_TOKEN_SIGNING_KEY}"),
            ])
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the spin_host example");
        let stdout = child.stdout.take().expect("child stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base_url = loop {
            let line = lines
                .next()
                .expect("the host printed its address")
                .expect("reading the host's stdout");
            if let Some(url) = line.strip_prefix("Serving ") {
                break url.trim().to_string();
            }
        };
        // Keep draining the access log so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, base_url }
    }

    /// SIGKILL: no shutdown code runs in the host.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the host");
        self.child.wait().expect("reap the host");
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `spin_host` example next to this test binary (target/<profile>/examples/).
fn example_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile_dir.join("examples").join("spin_host")
}
