//! A throwaway Postgres cluster for the tests, started as a user would:
//! `initdb` into a temporary directory, the server on a Unix socket there
//! (no TCP port to collide with), one fresh database per test. The cluster
//! is shared by the tests of one test binary and stopped when it exits.
//!
//! Postgres refuses to run as root; under root (CI containers) the cluster
//! runs as the `postgres` user the Debian package creates.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Cluster {
    dir: PathBuf,
    port: u16,
    server: Mutex<Option<Child>>,
    /// The user the server runs as (and tests connect as).
    user: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// Where the Postgres server programs are: `$OUTPOST_PG_BIN`, else the
/// newest /usr/lib/postgresql/N/bin, else whatever `initdb` is on PATH.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("OUTPOST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// A command run as the cluster's user.
fn as_user(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

extern "C" fn stop_cluster() {
    if let Some(cluster) = CLUSTER.get() {
        if let Ok(mut server) = cluster.server.lock()
            && let Some(mut child) = server.take()
        {
            // The postmaster, not `runuser` in front of it, which would not
            // pass the signal on. SIGQUIT: it stops at once, no checkpoint.
            let postmaster = std::fs::read_to_string(cluster.dir.join("data/postmaster.pid"))
                .ok()
                .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok())
                .unwrap_or(child.id() as i32);
            // SAFETY: kill on the server this process started.
            unsafe {
                libc::kill(postmaster, libc::SIGQUIT);
            }
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
}

/// A new cluster's data directory at `data`, owned by `user`.
fn initdb(bin: &Path, user: &str, data: &Path) {
    let out = as_user(user, &bin.join("initdb"))
        .args(["-A", "trust", "-E", "UTF8", "--no-sync", "-U", user, "-D"])
        .arg(data)
        .output()
        .expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory of our own that the cluster's user owns.
fn cluster_dir(name: &str, user: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("outpost-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    chown(user, &dir);
    dir
}

fn chown(user: &str, path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .arg(format!("{user}:"))
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "chown of {} failed", path.display());
    }
}

fn cluster_user() -> String {
    if is_root() {
        "postgres".to_string()
    } else {
        std::env::var("USER").unwrap_or_else(|_| "postgres".into())
    }
}

fn start() -> Cluster {
    let bin = bin_dir().expect(
        "Postgres server programs not found: install the Debian package postgresql, or set OUTPOST_PG_BIN to the directory holding initdb and postgres",
    );
    let user = cluster_user();
    let dir = cluster_dir("pg", &user);
    let data = dir.join("data");
    initdb(&bin, &user, &data);
    // A port number only names the socket file; nothing listens on TCP.
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let server = as_user(&user, &bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-c", "listen_addresses=", "-c"])
        .arg(format!("unix_socket_directories={}", dir.display()))
        .args(["-p", &port.to_string()])
        .args(["-c", "fsync=off", "-c", "max_connections=200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres starts");
    let cluster = Cluster {
        dir,
        port,
        server: Mutex::new(Some(server)),
        user,
    };
    let socket = cluster.dir.join(format!(".s.PGSQL.{port}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(socket.exists() && cluster.psql("postgres", "SELECT 1").is_ok()) {
        assert!(Instant::now() < deadline, "postgres did not start in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: registering a plain extern "C" function.
    unsafe {
        libc::atexit(stop_cluster);
    }
    cluster
}

impl Cluster {
    fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                &self.user,
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} user={} dbname={db}",
            self.dir.display(),
            self.port,
            self.user
        )
    }
}

/// A new, empty database on the shared cluster; returns its connection URL.
pub fn fresh_database() -> String {
    let cluster = CLUSTER.get_or_init(start);
    let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::SeqCst));
    cluster
        .psql("postgres", &format!("CREATE DATABASE {name}"))
        .expect("create database");
    cluster.url(&name)
}

/// Runs SQL on a test database (to look at what outpost stored).
pub fn query(url: &str, sql: &str) -> String {
    let cluster = CLUSTER.get().expect("a database was made first");
    let db = url
        .split_whitespace()
        .find_map(|part| part.strip_prefix("dbname="))
        .expect("dbname in the url");
    cluster.psql(db, sql).expect("query")
}

/// A cluster of its own serving TLS on 127.0.0.1 only (plain TCP is
/// refused there), with the certificate and key given; stopped on drop.
pub struct TlsCluster {
    dir: PathBuf,
    pub port: u16,
    pub user: String,
    server: Child,
}

impl TlsCluster {
    pub fn start(cert: &Path, key: &Path) -> TlsCluster {
        let bin = bin_dir().expect("Postgres server programs not found");
        let user = cluster_user();
        let dir = cluster_dir("pg-tls", &user);
        let data = dir.join("data");
        initdb(&bin, &user, &data);
        // The server reads its key only when the key is its user's alone.
        for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
            let to = data.join(name);
            std::fs::copy(from, &to).unwrap();
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            chown(&user, &to);
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = as_user(&user, &bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={}", dir.display()))
            .args(["-p", &port.to_string()])
            .args(["-c", "ssl=on", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let cluster = TlsCluster {
            dir,
            port,
            user,
            server,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "postgres did not start in 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// A key-value URL to its `postgres` database over TCP, plus `extra`.
    pub fn url(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname=postgres {extra}",
            self.port, self.user
        )
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let postmaster = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok())
            .unwrap_or(self.server.id() as i32);
        // SAFETY: kill on the server this test started.
        unsafe {
            libc::kill(postmaster, libc::SIGQUIT);
        }
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
