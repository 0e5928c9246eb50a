//! The real `outpost --daemon` as a child process, and the CLI beside it
//! with an environment of the test's choosing.

use std::path::Path;
use std::time::Duration;

/// The data dir's own API token (the owner's, an admin).
pub fn owner_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join(outpost::daemon::TOKEN_FILE))
        .unwrap()
        .trim()
        .to_string()
}

/// `outpost --config CONFIG ARGS...` with extra environment variables.
pub async fn run_env(config: &Path, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let out =
            <std::process::Command as assert_cmd::cargo::CommandCargoExt>::cargo_bin("outpost")
                .unwrap()
                .env_remove("OUTPOST_CONFIG")
                .env_remove("OUTPOST_DATA_DIR")
                .env_remove("OUTPOST_SECRET_KEY")
                .envs(envs)
                .arg("--config")
                .arg(&config)
                .args(&args)
                .output()
                .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// The real `outpost --daemon`, with the sealing key in its environment;
/// stopped (SIGTERM) when dropped.
pub struct DaemonProcess {
    pub child: std::process::Child,
    pub url: String,
}

impl DaemonProcess {
    pub async fn start(config: &Path, data_dir: &Path, secret_key: &str) -> DaemonProcess {
        let child =
            <std::process::Command as assert_cmd::cargo::CommandCargoExt>::cargo_bin("outpost")
                .unwrap()
                .env_remove("OUTPOST_CONFIG")
                .env_remove("OUTPOST_DATA_DIR")
                .env("OUTPOST_SECRET_KEY", secret_key)
                .arg("--config")
                .arg(config)
                .arg("--daemon")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let url = loop {
            let holder = outpost::store::current_holder(data_dir);
            if let Some(url) = holder
                .filter(|h| h.mode == "daemon" && h.pid == child.id())
                .and_then(|h| h.api_url)
            {
                break url;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        DaemonProcess { child, url }
    }

    /// SIGTERM, then wait for it to let go of the data dir.
    pub fn stop(mut self) {
        // SAFETY: a plain signal to the child this test spawned.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap();
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every byte of every file under `dir`.
pub fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
