//! `boxoffice serve` as a deployment runs it, as a child process on a test
//! app's database and Redis keys, logging at the most verbose level (every
//! target at `trace`, sqlx statements included) into a file: what an
//! operator's log collector would see.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::app::TestApp;

pub struct LoggedNode {
    pub address: String,
    child: Child,
    log: PathBuf,
}

/// A port free right now (the child binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl LoggedNode {
    /// Starts the binary against `app`'s database and Redis key prefix with
    /// `RUST_LOG=trace`, standard output and error into one file, and waits
    /// (at most 20 s) until it is ready.
    pub async fn start(app: &TestApp) -> LoggedNode {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "boxoffice-log-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let out = File::create(&log).expect("create the log file");
        let err = out.try_clone().expect("share the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_boxoffice"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("BOXOFFICE_ENV", "test")
            .env("BOXOFFICE__DATABASE__URL", app.database_url())
            .env("BOXOFFICE__REDIS__URL", app.redis_url())
            .env("BOXOFFICE__REDIS__KEY_PREFIX", &app.redis_prefix)
            .env("BOXOFFICE__SERVER__HOST", "127.0.0.1")
            .env("BOXOFFICE__SERVER__PORT", port.to_string())
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("run boxoffice serve");
        let mut node = LoggedNode {
            address: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        node.wait_ready(Duration::from_secs(20)).await;
        node
    }

    async fn wait_ready(&mut self, within: Duration) {
        let url = format!("{}/readyz", self.address);
        let deadline = Instant::now() + within;
        loop {
            if let Ok(answer) = reqwest::get(&url).await
                && answer.status() == 200
            {
                return;
            }
            let exited = self.child.try_wait().expect("wait").is_some();
            assert!(
                !exited && Instant::now() < deadline,
                "boxoffice serve never became ready (exited: {exited}):\n{}",
                self.read_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn read_log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Stops the node as a deployment does (SIGTERM), waits (at most 20 s)
    /// until it has exited, so every line is written; its whole log.
    pub async fn stop(mut self) -> String {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM to boxoffice serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "boxoffice serve did not stop within 20 s of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "boxoffice serve stopped with {status}");
        self.read_log()
    }
}

impl Drop for LoggedNode {
    fn drop(&mut self) {
        // A test that failed before `stop`: do not leave the server running.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
