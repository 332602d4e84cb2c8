//! The embedded default database: a private PostgreSQL cluster under the data directory,
//! created on first start from the locally installed PostgreSQL binaries and reused afterwards.
//!
//! PostgreSQL refuses to run as root, so when the service runs as root the cluster's files are
//! owned by, and its programs run as, the `postgres` user. The cluster listens on 127.0.0.1 on a
//! free port only (no unix socket, so no path-length limits), with password authentication; the
//! password is generated on first start and kept in the data directory (mode 0600).

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};
use rand::Rng;
use rand::distributions::Alphanumeric;

const SUPERUSER: &str = "samverkan";
const DATABASE: &str = "samverkan";

/// The error shown when no PostgreSQL installation can be found.
pub const NO_BINARIES_HELP: &str = "No PostgreSQL installation was found: Samverkan API needs \
either the PostgreSQL server programs (initdb, pg_ctl, postgres) to run its own private \
database, or a DATABASE_URL pointing at an existing PostgreSQL server (version 15 or newer). \
Install the server programs (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install \
postgresql@15`) so that pg_ctl is on PATH or under /usr/lib/postgresql/<version>/bin, or set \
DATABASE_URL=postgres://user:password@host:5432/database and start again.";

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    root: PathBuf,
    pgdata: PathBuf,
    port: u16,
    password: String,
    owner: Option<(u32, u32)>,
    /// Whether this process started the cluster (and so should stop it).
    started: bool,
}

impl EmbeddedPostgres {
    /// Creates (on first use) or reuses the cluster under `data_dir` and starts it, or adopts it
    /// when it is already running (for example after a crash of the service).
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = locate_binaries()?;
        fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let root = data_dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", data_dir.display()))?;
        let owner = cluster_owner()?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .with_context(|| format!("cannot hand {} to the postgres user", root.display()))?;
            check_reachable(&root, uid, gid)?;
        }
        let pgdata = root.join("pgdata");
        let password_file = root.join("pg-password");
        let mut cluster = Self {
            bin_dir,
            root: root.clone(),
            pgdata,
            port: 0,
            password: String::new(),
            owner,
            started: false,
        };

        let fresh = !cluster.pgdata.join("PG_VERSION").exists();
        if fresh {
            let password: String = rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect();
            write_private(&password_file, &password, owner)?;
            tracing::info!(dir = %cluster.pgdata.display(), "creating the embedded PostgreSQL cluster");
            let pgdata = cluster.pgdata.display().to_string();
            let pwfile = format!("--pwfile={}", password_file.display());
            cluster.run(
                "initdb",
                &[
                    "-D",
                    &pgdata,
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    &pwfile,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
            )?;
        }
        cluster.password = fs::read_to_string(&password_file)
            .with_context(|| format!("cannot read {}", password_file.display()))?
            .trim()
            .to_owned();

        match cluster.running_port() {
            Some(port) => {
                tracing::info!(
                    port,
                    "adopting the already running embedded PostgreSQL cluster"
                );
                cluster.port = port;
            }
            None => {
                cluster.port = free_port()?;
                let pgdata = cluster.pgdata.display().to_string();
                let log = root.join("postgresql.log").display().to_string();
                let opts = format!(
                    "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories=''",
                    cluster.port
                );
                cluster.run(
                    "pg_ctl",
                    &[
                        "-D", &pgdata, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
                    ],
                )?;
                cluster.started = true;
                tracing::info!(port = cluster.port, "embedded PostgreSQL started");
            }
        }

        if fresh {
            if let Err(e) = create_database(&cluster.url_for("postgres"), DATABASE) {
                let _ = cluster.stop();
                return Err(e);
            }
        }
        write_private(&root.join("database-url"), &cluster.url(), None)?;
        Ok(cluster)
    }

    /// The connection URL of the service's database.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// The connection URL of another database on this cluster.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether this process started the cluster; a cluster found running (another process of
    /// ours serving from the same data directory) is left running.
    pub fn started_here(&self) -> bool {
        self.started
    }

    /// Stops the cluster (fast shutdown: open transactions are rolled back, committed data is
    /// safe on disk).
    pub fn stop(&self) -> anyhow::Result<()> {
        let pgdata = self.pgdata.display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &pgdata, "-m", "fast", "-w", "-t", "60", "stop"],
        )?;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    /// Starts a detached watcher that stops the cluster and deletes its directory as soon as the
    /// process `pid` has exited. For throwaway clusters (the test harness).
    pub fn discard_when_process_exits(&self, pid: u32) -> anyhow::Result<()> {
        // pg_ctl refuses to run as root, so the watcher signals the postmaster directly
        // (SIGQUIT: immediate shutdown; the data is thrown away anyway).
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             pm=$(head -n 1 '{pgdata}/postmaster.pid' 2>/dev/null); \
             if [ -n \"$pm\" ]; then kill -QUIT \"$pm\" 2>/dev/null; \
               for _ in $(seq 1 50); do kill -0 \"$pm\" 2>/dev/null || break; sleep 0.2; done; fi; \
             rm -rf '{root}'",
            pgdata = self.pgdata.display(),
            root = self.root.display(),
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        cmd.spawn().context("cannot start the cluster watcher")?;
        Ok(())
    }

    /// The port of the postmaster recorded in `postmaster.pid`, if it is alive.
    fn running_port(&self) -> Option<u16> {
        let pgdata = self.pgdata.display().to_string();
        let status = self
            .command("pg_ctl")
            .args(["-D", &pgdata, "status"])
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        let pid_file = fs::read_to_string(self.pgdata.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        cmd.current_dir(&self.root).stdin(Stdio::null());
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let output = self
            .command(program)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {program}"))?;
        check_output(program, output)
    }
}

/// Creates `name` through a connection to the maintenance database (client programs such as
/// createdb are not always installed beside the server programs).
fn create_database(maintenance_url: &str, name: &str) -> anyhow::Result<()> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut conn = AsyncPgConnection::establish(maintenance_url)
            .await
            .context("cannot connect to the new cluster")?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .context("cannot create the database")?;
        anyhow::Ok(())
    })
}

fn check_output(program: &str, output: Output) -> anyhow::Result<()> {
    if output.status.success() {
        return Ok(());
    }
    bail!(
        "{program} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim(),
        String::from_utf8_lossy(&output.stdout).trim()
    )
}

/// Finds the directory holding `initdb` and `pg_ctl`: on PATH first, then the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn locate_binaries() -> anyhow::Result<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| usable(d)) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            usable(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!(NO_BINARIES_HELP),
    }
}

/// `None` when we are not root (the cluster runs as us); the `postgres` user otherwise.
fn cluster_owner() -> anyhow::Result<Option<(u32, u32)>> {
    let meta = fs::metadata("/proc/self").context("cannot inspect the current process")?;
    if std::os::unix::fs::MetadataExt::uid(&meta) != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres") && f.len() > 3);
    match entry {
        Some(f) => Ok(Some((f[2].parse()?, f[3].parse()?))),
        None => bail!(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it as: \
             run Samverkan API as an ordinary user, create a `postgres` user, or set DATABASE_URL"
        ),
    }
}

/// The postgres user must be able to reach the data directory through every parent.
fn check_reachable(dir: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    let ok = Command::new("test")
        .arg("-w")
        .arg(dir)
        .uid(uid)
        .gid(gid)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "the data directory {} is not reachable by the postgres user (a parent directory is \
             private?): set SAMVERKAN_DATA_DIR to a directory the postgres user can reach, such \
             as /var/lib/samverkan, or set DATABASE_URL",
            dir.display()
        );
    }
    Ok(())
}

fn write_private(path: &Path, contents: &str, owner: Option<(u32, u32)>) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free local port")?;
    Ok(listener.local_addr()?.port())
}
