//! A private PostgreSQL primary and a streaming replica of it, for the one
//! test that stops them: `initdb` on a port of the test's own, then
//! `pg_basebackup -R` (the real streaming replication an operator sets up).
//! Never the shared PostgreSQL. Every step has a deadline (`pg_ctl -w -t`,
//! `timeout`). Both servers stop (and their files go) when the pair is
//! dropped, and a shell watchdog stops them if the test process dies first.
//!
//! Ports: `BOXOFFICE_TEST_PG_PRIMARY_PORT` (default 18351) and
//! `BOXOFFICE_TEST_PG_REPLICA_PORT` (default 18350).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct PgPair {
    dir: PathBuf,
    bin: PathBuf,
    pub primary_port: u16,
    pub replica_port: u16,
}

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

/// The newest PostgreSQL's binaries (as scripts/services.sh picks them).
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.retain(|d| d.join("initdb").exists());
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .expect("PostgreSQL binaries under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgPair {
    /// A fresh primary and replica (anything left on their ports by an
    /// earlier run is stopped first).
    pub fn start() -> PgPair {
        let pair = PgPair {
            dir: std::env::temp_dir().join(format!(
                "boxoffice-test-pg-{}",
                port("BOXOFFICE_TEST_PG_PRIMARY_PORT", 18351)
            )),
            bin: pg_bin(),
            primary_port: port("BOXOFFICE_TEST_PG_PRIMARY_PORT", 18351),
            replica_port: port("BOXOFFICE_TEST_PG_REPLICA_PORT", 18350),
        };
        pair.stop_replica();
        pair.stop_primary();
        let _ = std::fs::remove_dir_all(&pair.dir);
        std::fs::create_dir_all(&pair.dir).expect("pg directory");
        if is_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pair.dir));
        }
        let primary = pair.primary_dir();
        pair.pg(
            "initdb",
            &[
                "-D",
                path(&primary),
                "-U",
                "boxoffice",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 60\nshared_buffers = 16MB\nfsync = off\n\
             full_page_writes = off\nmax_wal_senders = 4\nwal_level = replica\n\
             hot_standby = on\n",
            pair.dir.display()
        );
        append(&primary.join("postgresql.conf"), &conf);
        pair.start_server(&primary, pair.primary_port);
        pair.pg(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pair.primary_port.to_string(),
                "-U",
                "boxoffice",
                "-D",
                path(&pair.replica_dir()),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        pair.start_replica();
        pair.watchdog();
        pair
    }

    fn primary_dir(&self) -> PathBuf {
        self.dir.join("primary")
    }

    fn replica_dir(&self) -> PathBuf {
        self.dir.join("replica")
    }

    /// The primary's maintenance database (test databases are made there).
    pub fn primary_admin_url(&self) -> String {
        format!(
            "postgres://boxoffice@127.0.0.1:{}/postgres",
            self.primary_port
        )
    }

    /// `database` on the replica.
    pub fn replica_url(&self, database: &str) -> String {
        format!(
            "postgres://boxoffice@127.0.0.1:{}/{database}",
            self.replica_port
        )
    }

    pub fn stop_primary(&self) {
        self.stop(&self.primary_dir());
    }

    pub fn stop_replica(&self) {
        self.stop(&self.replica_dir());
    }

    pub fn start_replica(&self) {
        self.start_server(&self.replica_dir(), self.replica_port);
    }

    fn start_server(&self, data: &Path, port: u16) {
        let log = data.join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                path(data),
                "-l",
                path(&log),
                "-o",
                &format!("-p {port}"),
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// An immediate stop (as a crash would), if it runs at all.
    fn stop(&self, data: &Path) {
        if data.join("postmaster.pid").exists() {
            let _ = self
                .command(
                    "pg_ctl",
                    &[
                        "-D",
                        path(data),
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        "30",
                        "stop",
                    ],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let binary = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("timeout");
            c.args(["60", "runuser", "-u", "postgres", "--"])
                .arg(binary);
            c
        } else {
            let mut c = Command::new("timeout");
            c.arg("60").arg(binary);
            c
        };
        command.args(args);
        command
    }

    fn pg(&self, program: &str, args: &[&str]) {
        let mut command = self.command(program, args);
        run(&mut command);
    }

    /// Stops both servers once this process is gone.
    fn watchdog(&self) {
        let me = std::process::id();
        let pg_ctl = self.bin.join("pg_ctl");
        let as_pg = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
             for d in {p} {r}; do {as_pg}{pg_ctl} -D $d -m immediate stop; done",
            p = self.primary_dir().display(),
            r = self.replica_dir().display(),
            pg_ctl = pg_ctl.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        self.stop_replica();
        self.stop_primary();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn append(file: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .expect("open postgresql.conf");
    f.write_all(text.as_bytes()).expect("write postgresql.conf");
}

fn run(command: &mut Command) {
    let out = command.output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
