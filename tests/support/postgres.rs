//! A PostgreSQL server for the tests: `DATABASE_URL` when it is set, else a throwaway cluster
//! started from the system's PostgreSQL binaries (`initdb` into a temporary directory, a free
//! port on 127.0.0.1, stopped when the last handle on it is dropped). As root, the cluster runs
//! as the `postgres` user (or `WORKFLOW_POSTGRES_USER`): `initdb` refuses root.
//!
//! When neither is possible, [`server`] prints one line saying the test was skipped and how to
//! run it, and returns `None`; with `WORKFLOW_REQUIRE_POSTGRES=1` (set by `.ci/run`) it panics
//! instead, so CI cannot pass without running these tests.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

/// Set to make a test that cannot reach PostgreSQL fail instead of skipping.
pub const REQUIRE: &str = "WORKFLOW_REQUIRE_POSTGRES";

/// Where the tests' databases live.
#[derive(Debug)]
pub enum Server {
    /// A cluster this process started.
    Own(Cluster),
    /// The server of `DATABASE_URL`.
    External(String),
}

impl Server {
    /// The connection string of the server's default database.
    pub fn url(&self) -> String {
        match self {
            Server::Own(c) => c.url(),
            Server::External(url) => url.clone(),
        }
    }

    /// The cluster, if this process started it (only those can be stopped and restarted).
    pub fn cluster(&self) -> Option<&Cluster> {
        match self {
            Server::Own(c) => Some(c),
            Server::External(_) => None,
        }
    }
}

/// A schema name no other test (of this process or another) uses: stores made with it share
/// nothing, even on one `DATABASE_URL`.
pub fn fresh_schema(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The server for a test: `DATABASE_URL`, or a new cluster with `fsync` off (a test needs no
/// durability against power loss). `None` (after one line saying why) if there is neither.
pub fn server(test: &str) -> Option<Server> {
    server_with(test, false)
}

/// Like [`server`], with the cluster's `fsync` setting chosen (on for measurements).
pub fn server_with(test: &str, fsync: bool) -> Option<Server> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        return Some(Server::External(url));
    }
    match Cluster::start(fsync) {
        Ok(c) => Some(Server::Own(c)),
        Err(why) => {
            let line = format!(
                "{test}: skipped, no PostgreSQL: {why}. Install PostgreSQL's server binaries \
                 (initdb, pg_ctl) or set DATABASE_URL=postgres://...; {REQUIRE}=1 makes this a failure"
            );
            if std::env::var(REQUIRE).is_ok_and(|v| !v.is_empty() && v != "0") {
                panic!("{line}");
            }
            eprintln!("{line}");
            None
        }
    }
}

/// A throwaway PostgreSQL cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
}

impl Cluster {
    /// `initdb` into a temporary directory and start the server on a free port of 127.0.0.1.
    pub fn start(fsync: bool) -> Result<Cluster, String> {
        Self::start_with(fsync, None)
    }

    /// [`Cluster::start`] with TLS on, this certificate and key (PEM), and connections over
    /// TCP taken only with TLS (`hostssl` alone in `pg_hba.conf`; the Unix socket in the
    /// cluster's directory stays open, without).
    pub fn start_tls(cert: &str, key: &str) -> Result<Cluster, String> {
        Self::start_with(false, Some((cert, key)))
    }

    fn start_with(fsync: bool, tls: Option<(&str, &str)>) -> Result<Cluster, String> {
        let bin = find_bin_dir().ok_or_else(|| {
            "initdb and pg_ctl are neither in PATH nor in /usr/lib/postgresql/*/bin".to_string()
        })?;
        let user = run_as_user()?;
        let dir = tempfile::Builder::new()
            .prefix("workflow-pg-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        if let Some(user) = &user {
            let (uid, gid) = ids_of(user)?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("cannot hand {} to {user}: {e}", dir.path().display()))?;
        }
        let port = free_port()?;
        let cluster = Cluster {
            dir,
            bin,
            user,
            port,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        if let Some((cert, key)) = tls {
            let ids = match &cluster.user {
                Some(user) => Some(ids_of(user)?),
                None => None,
            };
            let write = |name: &str, text: &str| -> Result<(), String> {
                use std::os::unix::fs::PermissionsExt;
                let path = data.join(name);
                std::fs::write(&path, text).map_err(|e| format!("cannot write {name}: {e}"))?;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot restrict {name}: {e}"))?;
                if let Some((uid, gid)) = ids {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                        .map_err(|e| format!("cannot hand {name} over: {e}"))?;
                }
                Ok(())
            };
            write("server.crt", cert)?;
            write("server.key", key)?;
            write(
                "pg_hba.conf",
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )?;
            std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .and_then(|mut f| std::io::Write::write_all(&mut f, b"\nssl = on\n"))
                .map_err(|e| format!("cannot turn TLS on: {e}"))?;
        }
        cluster.pg_ctl_start(fsync)?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The directory of the server's Unix socket (a `host=` of a connection string).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection string of the `postgres` database as the `postgres` user.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?connect_timeout=5",
            self.port
        )
    }

    /// Stops the server at once (`immediate`: like a crash of the server).
    pub fn stop(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", "immediate", "-w", "stop"],
        )
    }

    /// Starts the server again on the same port.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl_start(false)
    }

    fn pg_ctl_start(&self, fsync: bool) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync={}",
            self.port,
            path_str(self.dir.path())?,
            if fsync { "on" } else { "off" }
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}; server log: {log}")
        })
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        // The server must not inherit a test's locale or a stray PGDATA.
        cmd.args(args)
            .env_remove("PGDATA")
            .env("LC_ALL", "C")
            .current_dir(self.dir.path());
        let out: Output = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

/// The directory holding `initdb` and `pg_ctl`: from PATH, else the newest
/// `/usr/lib/postgresql/<version>/bin` (where Debian's packages put them, off PATH).
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                // A symlink in PATH (e.g. /usr/local/bin/initdb) points at the real directory,
                // where the server binary `postgres` is too.
                let real = std::fs::canonicalize(d.join("initdb"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                return Some(real.filter(|r| has_both(r)).unwrap_or(d));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// The user to run the cluster as: none when not root, else `WORKFLOW_POSTGRES_USER` or
/// `postgres`.
fn run_as_user() -> Result<Option<String>, String> {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot tell who runs the tests: {e}"))?;
    if uid != 0 {
        return Ok(None);
    }
    let user = std::env::var("WORKFLOW_POSTGRES_USER").unwrap_or_else(|_| "postgres".into());
    ids_of(&user).map_err(|e| {
        format!("running as root, and initdb refuses root; no user {user:?} to run it as ({e})")
    })?;
    Ok(Some(user))
}

fn ids_of(user: &str) -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if !out.status.success() {
            return Err(format!("no user {user:?}"));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("id {flag} {user}: {e}"))
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
