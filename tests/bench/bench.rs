//! The whole PDX benchmark in one command: seeds a catalog, runs the release `pdx` server on
//! `SQLite` and/or `PostgreSQL`, drives each hot path with `wrk` and prints one markdown table.
//!
//! `cargo run --release -p pdx-tests --example bench -- [--backend sqlite|postgres|both]
//! [--datasets 100000] [--duration 20] [--connections 64] [--quick] [--only TEXT]...
//! [--anonymous-limit N]`

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the benchmark's progress goes to stderr and its report to stdout"
)]

#[path = "seeding.rs"]
mod seeding;

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use diesel::connection::SimpleConnection as _;
use pdx_circulation::synthetic::SyntheticLedger;
use pdx_circulation::verify::verify_export;
use pdx_storage::{Backend, Database, DatabaseUrl, DbConnection, PoolOptions};
use pdx_tests::form_encode;
use reqwest::Method;
use serde_json::{Value, json};

const USAGE: &str = "usage: cargo run --release -p pdx-tests --example bench -- \
[--backend sqlite|postgres|both] [--datasets N] [--duration SECONDS] [--connections N] [--quick] \
[--only TEXT]... [--anonymous-limit N]";

/// The `PostgreSQL` server the `postgres` backend runs on (trust authentication).
const POSTGRES_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// Size of the small distributions (as the seeded ones declare).
const SMALL_BYTES: usize = 10 * 1024;
/// Size of the large distribution.
const LARGE_BYTES: usize = 10 * 1024 * 1024;
/// Connections for the large download: more only queue behind the same two cores.
const LARGE_CONNECTIONS: u32 = 8;
/// The purpose declared with every authorised download (one of the offer's).
const PURPOSE: &str = "research";
/// Open distributions the varied download scenario picks from.
const VARIED_FILES: usize = 100;
/// The name of the proof scenario (its load is made when it runs).
const PROOF_SCENARIO: &str = "ledger inclusion proof";
/// The password of the benchmark's users.
const PASSWORD: &str = "benchmark password, long enough";
const AGENCY_ADMIN: &str = "publisher@bench-env.test";
const ENTERPRISE_USER: &str = "analyst@bench-analytics.test";
const SEARCH_PATH: &str = "/api/v1/datasets?q=air%20quality&theme=ENVI&format=CSV";
/// wrk's `request()` for the varied search: subjects, places, facets and pages at random.
const VARIED_SEARCH_LUA: &str = include_str!("varied_search.lua");
/// Lua seeding each wrk thread's generator apart (as `varied_search.lua` does): LuaJIT starts
/// every thread with the same seed, so both threads would otherwise ask the same sequence.
const SEED_THREADS_LUA: &str = r#"function init(args)
  local urandom = assert(io.open("/dev/urandom", "rb"))
  local a, b, c, d = urandom:read(4):byte(1, 4)
  urandom:close()
  math.randomseed(((a * 256 + b) * 256 + c) * 256 + d)
end
"#;
/// wrk's timeout unless a scenario sets its own: an answer later than this counts as a timeout
/// error, and its latency is left out of the percentiles.
const WRK_TIMEOUT_S: u64 = 2;
/// How long a run's in-flight requests get to land in the ledger after wrk stops.
const SETTLE: Duration = Duration::from_millis(500);

fn main() -> anyhow::Result<()> {
    let Some(options) = Options::parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    Command::new("wrk")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run `wrk`: install it (Debian: `apt-get install wrk`)")?;
    if options.backends.contains(&Backend::Postgres) {
        // Fail before spending minutes on SQLite when PostgreSQL was asked for but is not there.
        drop(admin_connection()?);
    }
    let pdx = locate_pdx()?;
    let machine = machine();
    let mut runs = Vec::new();
    for &backend in &options.backends {
        eprintln!("== {backend}");
        runs.push(run_backend(backend, &pdx, &options)?);
    }
    let verification = if options.selects("offline verification") {
        eprintln!("== offline verification");
        Some(verify_offline(options.verify_entries, options.verify_runs)?)
    } else {
        None
    };
    print!(
        "{}",
        report(&machine, &options, &runs, verification.as_ref())
    );
    Ok(())
}

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    backends: Vec<Backend>,
    datasets: usize,
    duration_secs: u64,
    warmup_secs: u64,
    connections: u32,
    verify_entries: u64,
    verify_runs: u32,
    quick: bool,
    /// Run only the scenarios whose name contains one of these (all when empty).
    only: Vec<String>,
    /// `http.anonymous_data_per_minute`: 0 (the default) counts nothing; a limit above what
    /// the load reaches measures what counting every anonymous request costs.
    anonymous_limit: u64,
}

impl Options {
    /// Parses the arguments; `None` when help was asked for.
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Self>> {
        let mut backends = vec![Backend::Sqlite, Backend::Postgres];
        let (mut datasets, mut duration, mut connections, mut quick) = (None, None, None, false);
        let mut only = Vec::new();
        let mut anonymous_limit = 0;
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .with_context(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match flag.as_str() {
                "--backend" => {
                    backends = match value()?.as_str() {
                        "sqlite" => vec![Backend::Sqlite],
                        "postgres" => vec![Backend::Postgres],
                        "both" => vec![Backend::Sqlite, Backend::Postgres],
                        other => bail!("--backend {other}: expected sqlite, postgres or both"),
                    }
                }
                "--datasets" => datasets = Some(value()?.parse().context("--datasets")?),
                "--duration" => duration = Some(value()?.parse().context("--duration")?),
                "--connections" => connections = Some(value()?.parse().context("--connections")?),
                "--quick" => quick = true,
                "--only" => only.push(value()?),
                "--anonymous-limit" => {
                    anonymous_limit = value()?.parse().context("--anonymous-limit")?;
                }
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown argument `{other}`\n{USAGE}"),
            }
        }
        let connections = connections.unwrap_or(64);
        ensure!(connections >= 1, "--connections must be at least 1");
        let duration_secs = duration.unwrap_or(if quick { 3 } else { 20 });
        ensure!(duration_secs >= 1, "--duration must be at least 1 second");
        let datasets = datasets.unwrap_or(if quick { 2_000 } else { 100_000 });
        ensure!(datasets >= 1, "--datasets must be at least 1");
        Ok(Some(Self {
            backends,
            datasets,
            duration_secs,
            warmup_secs: if quick { 1 } else { 2 },
            connections,
            verify_entries: if quick { 200_000 } else { 1_000_000 },
            verify_runs: if quick { 1 } else { 3 },
            quick,
            only,
            anonymous_limit,
        }))
    }

    /// Whether the scenario of this name is to run.
    fn selects(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|part| name.contains(part.as_str()))
    }
}

/// What one backend measured.
#[derive(Debug)]
struct BackendRun {
    backend: Backend,
    start_to_ready: Duration,
    restart_to_ready: Duration,
    ledger_at_restart: u64,
    seed_secs: f64,
    scenarios: Vec<Measured>,
}

/// One scenario's figures.
#[derive(Debug)]
struct Measured {
    name: &'static str,
    connections: u32,
    wrk: WrkResult,
    /// The server's peak resident set (`VmHWM`) during this scenario, in KiB.
    peak_rss_kib: Option<u64>,
    ledger: Option<LedgerCheck>,
    /// Bytes per response, for throughput.
    bytes: Option<usize>,
}

/// Ledger entries written during a download run against the requests wrk completed.
#[derive(Debug, Clone, Copy)]
struct LedgerCheck {
    entries: u64,
    requests: u64,
    connections: u32,
    per_request: u64,
}

impl LedgerCheck {
    /// Every completed request is logged; requests in flight when the warm-up or the run
    /// stopped may be logged too, at most one per connection each (a long answer, such as a
    /// whole export, can land after the pause that follows the warm-up).
    fn holds(self) -> bool {
        let expected = self.requests * self.per_request;
        self.entries >= expected
            && self.entries - expected <= 2 * u64::from(self.connections) * self.per_request
    }
}

fn run_backend(backend: Backend, pdx: &Path, options: &Options) -> anyhow::Result<BackendRun> {
    let dir = tempfile::Builder::new()
        .prefix("pdx-bench-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let data_dir = dir.path().join("pdx-data");
    let store = match backend {
        Backend::Sqlite => Store::sqlite(&data_dir),
        Backend::Postgres => Store::postgres()?,
    };
    // The master key every server process of the platform is given (required on PostgreSQL).
    let master_key = dir.path().join("master.key");
    pdx_storage::vault::MasterKey::create_file(&master_key)
        .map_err(|e| anyhow::anyhow!("cannot write the master key: {e}"))?;
    let node = Node {
        pdx: pdx.to_owned(),
        data_dir,
        database_url: store.url.to_connection_string(),
        master_key,
        log: dir.path().join("pdx.log"),
        anonymous_limit: options.anonymous_limit,
    };
    let port = free_port()?;

    eprintln!("migrating {}", store.url);
    node.run(port, &["migrate"], None)?;
    let database = Database::connect(
        &store.url,
        PoolOptions {
            max_size: 2,
            ..PoolOptions::default()
        },
    )?;
    let started = Instant::now();
    seeding::seed(&database, options.datasets, |done| {
        eprint!("\rseeded {done} of {} datasets", options.datasets);
    })?;
    let seed_secs = started.elapsed().as_secs_f64();
    eprintln!(" in {seed_secs:.1} s");
    create_actors(&node, port)?;

    let api = Api::new(port)?;
    let (server, start_to_ready) = node.start(port, &api)?;
    eprintln!(
        "ready in {:.0} ms (pid {})",
        start_to_ready.as_secs_f64() * 1e3,
        server.pid
    );
    let fixture = Fixture::publish(&api, ROW_SCENARIOS.iter().any(|name| options.selects(name)))?;
    // The row table's connections (it was paged through above) close after 30 idle seconds.
    let at_least = Duration::from_secs(if fixture.rows.is_some() { 32 } else { 0 });
    let (settled_kib, settling) = server.settle(at_least);
    eprintln!(
        "set-up done; memory settled at {} MiB in {:.0} s",
        settled_kib / 1024,
        settling.as_secs_f64()
    );
    let mut scenarios = Vec::new();
    for scenario in Scenario::all(&fixture, options.datasets, options.connections) {
        if !options.selects(scenario.name()) {
            continue;
        }
        let scenario = match scenario {
            Scenario::Proof { connections } => proof_scenario(&api, connections)?,
            Scenario::Ready(scenario) => scenario,
        };
        let scenario = scenario.with_token(&api)?;
        scenarios.push(measure(
            &scenario,
            &api,
            &server,
            &database,
            options,
            dir.path(),
        )?);
    }
    server.stop()?;

    let ledger_at_restart = ledger_size(&database)?;
    let restart_port = free_port()?;
    let restart_api = Api::new(restart_port)?;
    let (restarted, restart_to_ready) = node.start(restart_port, &restart_api)?;
    eprintln!(
        "restarted with {ledger_at_restart} ledger entries: ready in {:.0} ms",
        restart_to_ready.as_secs_f64() * 1e3
    );
    restarted.stop()?;
    drop(database);
    drop(store);
    dir.close()
        .context("cannot remove the temporary directory")?;
    Ok(BackendRun {
        backend,
        start_to_ready,
        restart_to_ready,
        ledger_at_restart,
        seed_secs,
        scenarios,
    })
}

/// The database of one backend's run; a `PostgreSQL` one is dropped with it.
#[derive(Debug)]
struct Store {
    url: DatabaseUrl,
    postgres_name: Option<String>,
}

impl Store {
    /// The default `SQLite` file in the data directory.
    fn sqlite(data_dir: &Path) -> Self {
        Self {
            url: DatabaseUrl::sqlite(data_dir.join("pdx.sqlite3")),
            postgres_name: None,
        }
    }

    /// A fresh database `pdx_bench_<pid>` on the local `PostgreSQL` server.
    fn postgres() -> anyhow::Result<Self> {
        let name = format!("pdx_bench_{}", std::process::id());
        let mut admin = admin_connection()?;
        // Two statements: PostgreSQL runs a multi-statement string as one transaction, and
        // neither may run inside one.
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .batch_execute(&statement)
                .with_context(|| format!("cannot create the database {name}"))?;
        }
        Ok(Self {
            // A local server needs no TLS, and libpq's TLS teardown at exit can crash.
            url: DatabaseUrl::Postgres(format!("{POSTGRES_SERVER}/{name}?sslmode=disable")),
            postgres_name: Some(name),
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let Some(name) = &self.postgres_name else {
            return;
        };
        let dropped = admin_connection().and_then(|mut admin| {
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .map_err(Into::into)
        });
        if let Err(error) = dropped {
            eprintln!("warning: could not drop the database {name}: {error:#}");
        }
    }
}

fn admin_connection() -> anyhow::Result<DbConnection> {
    let url = DatabaseUrl::parse(&format!("{POSTGRES_SERVER}/postgres?sslmode=disable"))?;
    DbConnection::open(&url).map_err(|error| {
        anyhow!(
            "PostgreSQL at {url} is unreachable: {error}\n\
             Start it (trust authentication for `postgres`), or run with --backend sqlite"
        )
    })
}

fn ledger_size(database: &Database) -> anyhow::Result<u64> {
    let mut conn = database.conn()?;
    Ok(pdx_circulation::store::size(&mut conn)?)
}

/// The release `pdx` binary next to this example, rebuilt first if its sources changed:
/// cargo only builds the server's library for the example, not its binary.
fn locate_pdx() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate this executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not in a cargo target directory", exe.display()))?;
    let release = profile_dir
        .file_name()
        .is_some_and(|name| name == "release");
    if !release {
        eprintln!("warning: not a release build; the figures mean nothing (use --release)");
    }
    let pdx = profile_dir.join(format!("pdx{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "-p",
            "pdx-server",
            "--bin",
            "pdx",
            "--manifest-path",
        ])
        .arg(manifest);
    if release {
        build.arg("--release");
    }
    match build.status() {
        Ok(status) if status.success() => {}
        Ok(status) => bail!("building the pdx binary failed ({status})"),
        Err(error) => {
            eprintln!("warning: cannot run cargo ({error}); using the pdx binary as it is");
        }
    }
    ensure!(
        pdx.is_file(),
        "{} does not exist: run `cargo build --release -p pdx-server` first",
        pdx.display()
    );
    Ok(pdx)
}

/// How to run the `pdx` binary against one backend's data directory and database.
#[derive(Debug)]
struct Node {
    pdx: PathBuf,
    data_dir: PathBuf,
    database_url: String,
    master_key: PathBuf,
    log: PathBuf,
    anonymous_limit: u64,
}

impl Node {
    fn command(&self, port: u16) -> Command {
        let mut command = Command::new(&self.pdx);
        // Only the settings below: nothing from the caller's environment changes the server.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PDX_") {
                command.env_remove(key);
            }
        }
        command
            .env("PDX_DATA_DIR", &self.data_dir)
            .env("PDX_DATABASE_URL", &self.database_url)
            .env("PDX_KEYS__MASTER_KEY_FILE", &self.master_key)
            .env("PDX_BIND", format!("127.0.0.1:{port}"))
            .env("PDX_LOG_LEVEL", "warn")
            // One load generator on loopback is one client address: no per-address limits
            // unless one is asked for, to measure the counting.
            .env(
                "PDX_HTTP__ANONYMOUS_DATA_PER_MINUTE",
                self.anonymous_limit.to_string(),
            )
            .env("PDX_HTTP__FAILED_DATA_PER_MINUTE", "0")
            // The gateway's upstream is a local server.
            .env("PDX_GATEWAY__ALLOW_PRIVATE_NETWORKS", "true");
        command
    }

    /// Runs a `pdx` command to completion; returns its standard output.
    fn run(&self, port: u16, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let mut child = self
            .command(port)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.pdx.display()))?;
        if let Some(mut input) = child.stdin.take() {
            use std::io::Write as _;
            input.write_all(stdin.unwrap_or_default().as_bytes())?;
        }
        let output = child.wait_with_output()?;
        ensure!(
            output.status.success(),
            "`pdx {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts `pdx serve` and times it until `/readyz` answers 200.
    fn start(&self, port: u16, api: &Api) -> anyhow::Result<(Server, Duration)> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let started = Instant::now();
        let child = self
            .command(port)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.pdx.display()))?;
        let mut server = Server {
            pid: child.id(),
            child,
        };
        loop {
            if api.ready() {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("`pdx serve` exited ({status}):\n{}", self.log_tail());
            }
            if started.elapsed() > Duration::from_mins(2) {
                bail!(
                    "`pdx serve` was not ready after 120 s:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// A running `pdx serve`, stopped with SIGTERM when dropped.
#[derive(Debug)]
struct Server {
    child: Child,
    pid: u32,
}

impl Server {
    /// Stops the server gracefully and checks that it exited cleanly.
    fn stop(mut self) -> anyhow::Result<()> {
        let status = self.terminate()?;
        ensure!(status.success(), "`pdx serve` exited with {status}");
        Ok(())
    }

    fn terminate(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // The crate forbids unsafe code, so the signal goes through kill(1).
        Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        let deadline = Instant::now() + Duration::from_secs(45);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        Ok(self.child.wait()?)
    }

    /// Starts the peak resident set (`VmHWM`) over from the current one, so that the next
    /// reading is the peak of what ran since (Linux's `clear_refs`, value 5).
    fn reset_peak(&self) -> anyhow::Result<()> {
        let path = format!("/proc/{}/clear_refs", self.pid);
        std::fs::write(&path, "5").with_context(|| format!("cannot write {path}"))
    }

    /// Waits until the set-up's memory has gone back (the allocator returns freed memory over
    /// ten seconds, and a row table's connections close after thirty idle ones): for at least
    /// `at_least`, then until the resident set has not fallen by a MiB for eleven seconds
    /// (the allocator's decay starts slowly: what a sign-in's password hashing freed shows
    /// after several seconds), at most a minute in all. Returns the
    /// resident set then (KiB) and the time it took. Without this the first scenarios' peaks
    /// were the seeding's and the ingestion's, not their own.
    fn settle(&self, at_least: Duration) -> (u64, Duration) {
        const QUIET: Duration = Duration::from_secs(11);
        const MOST: Duration = Duration::from_secs(60);
        let started = Instant::now();
        let mut lowest = self.memory_kib("VmRSS").unwrap_or(0);
        let mut since = Instant::now();
        while (since.elapsed() < QUIET || started.elapsed() < at_least) && started.elapsed() < MOST
        {
            std::thread::sleep(Duration::from_millis(500));
            let now = self.memory_kib("VmRSS").unwrap_or(0);
            if now + 1024 <= lowest {
                lowest = now;
                since = Instant::now();
            }
        }
        (self.memory_kib("VmRSS").unwrap_or(0), started.elapsed())
    }

    /// A field of /proc/<pid>/status in KiB (`VmHWM`, `VmRSS`).
    fn memory_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status.lines().find_map(|line| {
            let value = line.strip_prefix(field)?.strip_prefix(':')?;
            value.trim().trim_end_matches("kB").trim().parse().ok()
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Err(error) = self.terminate() {
            eprintln!(
                "warning: could not stop pdx serve (pid {}): {error:#}",
                self.pid
            );
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The agency and enterprise with one user each, made with the operator CLI (both verified).
fn create_actors(node: &Node, port: u16) -> anyhow::Result<()> {
    node.run(
        port,
        &[
            "admin",
            "create-org",
            "--name",
            "Bench Environment Agency",
            "--slug",
            "bench-env",
            "--kind",
            "agency",
        ],
        None,
    )?;
    node.run(
        port,
        &[
            "admin",
            "create-org",
            "--name",
            "Bench Analytics Ltd",
            "--slug",
            "bench-analytics",
            "--kind",
            "enterprise",
        ],
        None,
    )?;
    let password = format!("{PASSWORD}\n");
    for (org, email, name, roles) in [
        (
            "bench-env",
            AGENCY_ADMIN,
            "Bench Publisher",
            "admin,publisher,reviewer",
        ),
        (
            "bench-analytics",
            ENTERPRISE_USER,
            "Bench Analyst",
            "member",
        ),
    ] {
        node.run(
            port,
            &[
                "admin",
                "create-user",
                "--org",
                org,
                "--email",
                email,
                "--name",
                name,
                "--roles",
                roles,
                "--password-stdin",
            ],
            Some(&password),
        )?;
    }
    Ok(())
}

/// An HTTP client of one server, blocking on its own small runtime.
#[derive(Debug)]
struct Api {
    base_url: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    fn new(port: u16) -> anyhow::Result<Self> {
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_mins(1))
                // Calls come seconds apart, past the server's keep-alive: a pooled connection
                // could be closed under a request.
                .pool_max_idle_per_host(0)
                .build()?,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn ready(&self) -> bool {
        let request = self
            .client
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(1));
        // The request future must be made inside the runtime: its timeout needs the timer.
        self.runtime
            .block_on(async { request.send().await })
            .is_ok_and(|response| response.status() == reqwest::StatusCode::OK)
    }

    /// Sends a request; returns its status, headers and body, failing unless it succeeded.
    fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<(reqwest::header::HeaderMap, Vec<u8>)> {
        self.runtime.block_on(async {
            let response = request.send().await.with_context(|| what.to_owned())?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.with_context(|| what.to_owned())?;
            ensure!(
                status.is_success(),
                "{what}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            Ok((headers, body.to_vec()))
        })
    }

    /// A JSON call with an optional bearer token; returns the JSON answer (null when empty).
    fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (_, body) = self.send(&format!("{method} {path}"), request)?;
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).with_context(|| format!("{method} {path}: not JSON"))
    }

    /// A form POST to the token endpoint; returns the access token.
    fn token(&self, form: &[(&str, &str)]) -> anyhow::Result<String> {
        let request = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form));
        let (_, body) = self.send("POST /api/v1/auth/token", request)?;
        let answer: Value = serde_json::from_slice(&body)?;
        text(&answer, "access_token")
    }

    fn sign_in(&self, email: &str) -> anyhow::Result<String> {
        self.token(&[
            ("grant_type", "password"),
            ("username", email),
            ("password", PASSWORD),
        ])
    }
}

fn text(value: &Value, field: &str) -> anyhow::Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no `{field}` in {value}"))
}

/// What the scenarios download: published datasets, a grant and an API key.
#[derive(Debug)]
struct Fixture {
    conditional_small: String,
    conditional_large: String,
    large_bytes: usize,
    open_small: String,
    /// Distributions of another open dataset, downloaded at random by the varied scenario.
    open_many: Vec<String>,
    open_slug: String,
    client_id: String,
    client_secret: String,
    /// An API distribution whose upstream is the local one below.
    api: String,
    /// The local upstream.
    upstream: LocalUpstream,
    /// The table the row scenarios read, published only when one of them is to run: its
    /// ingestion is the heaviest step of the set-up, and its memory is not the portal's.
    rows: Option<RowTable>,
}

/// A tabular distribution of `ROWS` rows, ingested.
#[derive(Debug)]
struct RowTable {
    distribution: String,
    /// Bytes of its whole CSV export.
    export_bytes: usize,
    /// Pages of it as a client paging with `next` cursors would ask for them: 25 pages of
    /// each of the four districts.
    pages: Vec<String>,
}

/// The scenarios that read the ingested table.
const ROW_SCENARIOS: [&str; 4] = [
    "row page: 100 rows, one filter, varied offsets (1,000,000-row table)",
    "row page: 100 rows, one filter, varied offsets of queries never paged before (random amount bound)",
    "row page: 100 rows, one filter, keyset-paged (random of 100 pages of 4 districts)",
    "row export: 1,000,000 rows as CSV",
];

/// Rows of the ingested table.
const ROWS: usize = 1_000_000;

/// Offers a conditional dataset for the benchmark's purpose with quotas that never run out,
/// has the enterprise request it and the agency approve.
fn grant(api: &Api, agency: &str, slug: &str) -> anyhow::Result<()> {
    api.call(
        Method::PUT,
        &format!("/api/v1/datasets/{slug}/offer"),
        Some(agency),
        Some(json!({
            "licence_id": "CC-BY-4.0", "purposes": [PURPOSE], "max_term_days": 365,
            "max_requests": 1_000_000_000_000_i64, "fee_per_request": 5, "fee_per_mb": 100,
        })),
    )?;
    let enterprise = api.sign_in(ENTERPRISE_USER)?;
    let request = api.call(
        Method::POST,
        "/api/v1/access-requests",
        Some(&enterprise),
        Some(json!({
            "dataset": slug, "purpose": PURPOSE,
            "statement": "Benchmarking the exchange", "term_days": 365,
        })),
    )?;
    let request = text(&request, "id")?;
    api.call(
        Method::POST,
        &format!("/api/v1/access-requests/{request}/approve"),
        Some(agency),
        None,
    )?;
    Ok(())
}

/// The local upstream: a real HTTP server on a runtime of its own, running while this lives.
#[derive(Debug)]
struct LocalUpstream {
    server: pdx_tests::upstream::TestUpstream,
    _runtime: tokio::runtime::Runtime,
}

impl LocalUpstream {
    fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the upstream's runtime")?;
        Ok(Self {
            server: runtime.block_on(pdx_tests::upstream::TestUpstream::start()),
            _runtime: runtime,
        })
    }
}

/// Publishes a conditional dataset holding one API distribution whose upstream is `upstream`,
/// and grants it; returns the distribution.
fn publish_api(api: &Api, agency: &str, upstream: &str) -> anyhow::Result<String> {
    let slug = "bench-api";
    api.call(
        Method::POST,
        "/api/v1/datasets",
        Some(agency),
        Some(json!({
            "slug": slug, "title": "Benchmark bus positions (live API)",
            "description": "Live bus positions", "update_frequency": "continuous",
            "languages": ["zh", "en"], "themes": ["TRAN"], "keywords": ["bus"],
            "sharing_class": "conditional", "opening_class": "conditional", "grade": "general",
        })),
    )?;
    let distribution = api.call(
        Method::POST,
        &format!("/api/v1/datasets/{slug}/distributions"),
        Some(agency),
        Some(json!({
            "title": "Live API", "access_url": "https://api.transit.example.gov/", "format": "JSON",
        })),
    )?;
    let distribution = text(&distribution, "id")?;
    for step in ["submit", "publish"] {
        api.call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/{step}"),
            Some(agency),
            None,
        )?;
    }
    api.call(
        Method::PUT,
        &format!("/api/v1/distributions/{distribution}/upstream"),
        Some(agency),
        Some(json!({
            "base_url": format!("{upstream}/v1"),
            "credential": {"kind": "header", "name": "X-Api-Key", "value": "benchmark-upstream-key"},
            "max_concurrency": 256,
        })),
    )?;
    grant(api, agency, slug)?;
    Ok(distribution)
}

/// Publishes and grants a dataset of `ROWS` rows and waits for its ingestion; returns the
/// distribution, the size of its whole CSV export and keyset-paged pages of it.
fn publish_rows(api: &Api, agency: &str) -> anyhow::Result<RowTable> {
    let csv = pdx_tests::residents_csv(ROWS).into_bytes();
    let ids = publish_dataset(
        api,
        agency,
        "bench-rows",
        "conditional",
        &[("residents", &csv)],
    )?;
    let rows = ids.into_iter().next().context("no distribution")?;
    grant(api, agency, "bench-rows")?;
    let started = Instant::now();
    wait_ingested(api, agency, std::slice::from_ref(&rows))?;
    eprintln!(
        "ingested {ROWS} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let enterprise = api.sign_in(ENTERPRISE_USER)?;
    let request = api
        .client
        .get(api.url(&format!(
            "/api/v1/distributions/{rows}/rows?format=csv&limit=all"
        )))
        .bearer_auth(enterprise)
        .header("X-PDX-Purpose", PURPOSE);
    let (_, export) = api.send("the CSV export", request)?;
    let enterprise = api.sign_in(ENTERPRISE_USER)?;
    let mut pages = Vec::new();
    for district in ["Futian", "Luohu", "Nanshan", "Bao%27an"] {
        let first =
            format!("/api/v1/distributions/{rows}/rows?filter=district:eq:{district}&limit=100");
        let mut page = first.clone();
        for _ in 0..25 {
            let request = api
                .client
                .get(api.url(&page))
                .bearer_auth(&enterprise)
                .header("X-PDX-Purpose", PURPOSE);
            pages.push(page);
            let (_, body) = api.send("a page of rows", request)?;
            let answer: Value = serde_json::from_slice(&body)?;
            page = format!("{first}&after={}", text(&answer, "next")?);
        }
    }
    Ok(RowTable {
        distribution: rows,
        export_bytes: export.len(),
        pages,
    })
}

impl Fixture {
    /// Publishes the datasets through the API, offers the conditional one with quotas that
    /// never run out, has the enterprise request it and the agency approve.
    fn publish(api: &Api, with_rows: bool) -> anyhow::Result<Self> {
        let agency = api.sign_in(AGENCY_ADMIN)?;
        let small = csv(SMALL_BYTES);
        let large = csv(LARGE_BYTES);
        let conditional = publish_dataset(
            api,
            &agency,
            "bench-conditional",
            "conditional",
            &[
                ("air quality, 10 KB", &small),
                ("air quality, 10 MB", &large),
            ],
        )?;
        let open = publish_dataset(
            api,
            &agency,
            "bench-open",
            "open",
            &[("air quality, 10 KB", &small)],
        )?;
        let [conditional_small, conditional_large] = <[String; 2]>::try_from(conditional)
            .map_err(|ids| anyhow!("expected two distributions, got {ids:?}"))?;
        let open_small = open
            .into_iter()
            .next()
            .context("the open dataset has no distribution")?;
        // Files of the same size with different bytes, so no two answers are the same.
        let many: Vec<(String, Vec<u8>)> = (0..VARIED_FILES)
            .map(|i| {
                let mut bytes = small.clone();
                bytes.extend_from_slice(format!("# file {i:03}\n").as_bytes());
                (format!("air quality, part {i}"), bytes)
            })
            .collect();
        let files: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(title, bytes)| (title.as_str(), bytes.as_slice()))
            .collect();
        let open_many = publish_dataset(api, &agency, "bench-open-many", "open", &files)?;
        let tables = [
            conditional_small.clone(),
            conditional_large.clone(),
            open_small.clone(),
        ];
        wait_ingested(api, &agency, &tables)?;
        wait_ingested(api, &agency, &open_many)?;
        let upstream = LocalUpstream::start()?;
        let api_distribution = publish_api(api, &agency, &upstream.server.base_url)?;
        let rows = with_rows.then(|| publish_rows(api, &agency)).transpose()?;
        grant(api, &agency, "bench-conditional")?;
        let enterprise = api.sign_in(ENTERPRISE_USER)?;
        let key = api.call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&enterprise),
            Some(json!({ "name": "benchmark" })),
        )?;
        Ok(Self {
            conditional_small,
            conditional_large,
            large_bytes: large.len(),
            open_small,
            open_many,
            open_slug: "bench-open".to_owned(),
            client_id: text(&key, "client_id")?,
            client_secret: text(&key, "client_secret")?,
            api: api_distribution,
            upstream,
            rows,
        })
    }
}

/// Waits until the tables of `distributions` are loaded (each CSV file is ingested once it is
/// uploaded), so that no scenario runs beside a load it did not ask for.
fn wait_ingested(api: &Api, token: &str, distributions: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    for id in distributions {
        loop {
            let found = api.call(
                Method::GET,
                &format!("/api/v1/distributions/{id}/ingestions"),
                Some(token),
                None,
            )?;
            match found[0]["state"].as_str() {
                Some("ready") => break,
                Some("failed") => bail!("the ingestion failed: {found}"),
                _ if started.elapsed() > Duration::from_mins(10) => {
                    bail!("the ingestions took over 10 min")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
    Ok(())
}

/// Creates, fills, submits and publishes a dataset; returns its distributions' ids in order.
fn publish_dataset(
    api: &Api,
    token: &str,
    slug: &str,
    opening: &str,
    files: &[(&str, &[u8])],
) -> anyhow::Result<Vec<String>> {
    api.call(
        Method::POST,
        "/api/v1/datasets",
        Some(token),
        Some(json!({
            "slug": slug, "title": format!("Benchmark air quality ({opening})"),
            "description": "Hourly air quality readings per station", "update_frequency": "hourly",
            "languages": ["zh", "en"], "themes": ["ENVI"], "keywords": ["air"],
            "sharing_class": "conditional", "opening_class": opening, "grade": "general",
            "licence": if opening == "open" { Value::from("CC-BY-4.0") } else { Value::Null },
        })),
    )?;
    let mut ids = Vec::new();
    for (title, bytes) in files {
        let path = format!(
            "/api/v1/datasets/{slug}/distributions?title={}&format=CSV",
            pdx_tests::urlencode(title)
        );
        let request = api
            .client
            .post(api.url(&path))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(bytes.to_vec());
        let (_, body) = api.send(&format!("POST {path}"), request)?;
        ids.push(text(&serde_json::from_slice(&body)?, "id")?);
    }
    for step in ["submit", "publish"] {
        api.call(
            Method::POST,
            &format!("/api/v1/datasets/{slug}/{step}"),
            Some(token),
            None,
        )?;
    }
    Ok(ids)
}

/// A CSV file of hourly readings, as close to `target` bytes as whole rows allow.
fn csv(target: usize) -> Vec<u8> {
    let mut out = b"station,time,pm25,pm10,no2,o3\n".to_vec();
    for i in 0_u64.. {
        let row = format!(
            "S{:03},2026-07-{:02}T{:02}:00:00Z,{}.{},{},{},{}\n",
            i % 97,
            1 + (i / 24) % 28,
            i % 24,
            8 + i % 70,
            i % 10,
            20 + i % 90,
            5 + i % 40,
            30 + i % 60
        );
        if out.len() + row.len() > target {
            break;
        }
        out.extend_from_slice(row.as_bytes());
    }
    out
}

/// One load: what wrk sends and what is checked.
#[derive(Debug, Clone)]
struct Load {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// Lua defining wrk's `request()`, when each request differs.
    request_lua: Option<String>,
    connections: u32,
    /// Sign the enterprise in just before the run and send its token.
    enterprise_token: bool,
    /// Check that each completed request wrote its ledger entries.
    ledger: bool,
    /// Ledger entries each request writes (a call through the gateway writes its decision
    /// and its outcome).
    entries_per_request: u64,
    bytes: Option<usize>,
    /// Another server than PDX to send the load to (the gateway's upstream, for reference).
    base: Option<String>,
    /// wrk's timeout, in seconds.
    timeout_s: u64,
}

impl Load {
    fn get(name: &'static str, path: String, connections: u32) -> Self {
        Self {
            name,
            method: "GET",
            path,
            headers: Vec::new(),
            body: None,
            request_lua: None,
            connections,
            enterprise_token: false,
            ledger: false,
            entries_per_request: 1,
            bytes: None,
            base: None,
            timeout_s: WRK_TIMEOUT_S,
        }
    }

    /// A GET by the enterprise, with its token and purpose, that the ledger records.
    fn authorised(name: &'static str, path: String, connections: u32) -> Self {
        Self {
            headers: vec![("X-PDX-Purpose".to_owned(), PURPOSE.to_owned())],
            enterprise_token: true,
            ledger: true,
            ..Self::get(name, path, connections)
        }
    }

    /// Where the load goes.
    fn url(&self, api: &Api) -> String {
        match &self.base {
            Some(base) => format!("{base}{}", self.path),
            None => api.url(&self.path),
        }
    }

    /// Adds a fresh enterprise access token when the load needs one (tokens expire).
    fn with_token(mut self, api: &Api) -> anyhow::Result<Self> {
        if self.enterprise_token {
            let token = api.sign_in(ENTERPRISE_USER)?;
            self.headers
                .push(("Authorization".to_owned(), format!("Bearer {token}")));
        }
        Ok(self)
    }

    /// The wrk script: the fixed parts of the request, and `request()` when it varies.
    fn lua(&self) -> String {
        let mut lua = format!("wrk.method = \"{}\"\n", self.method);
        for (name, value) in &self.headers {
            let _ = writeln!(lua, "wrk.headers[\"{name}\"] = [==[{value}]==]");
        }
        if let Some(body) = &self.body {
            let _ = writeln!(lua, "wrk.body = [==[{body}]==]");
        }
        if let Some(request) = &self.request_lua {
            lua.push_str(request);
        }
        lua
    }
}

/// A scenario, ready or needing the server's state at its turn.
#[derive(Debug)]
enum Scenario {
    Ready(Load),
    /// The inclusion proof needs the latest checkpoint, taken after the downloads.
    Proof {
        connections: u32,
    },
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Self::Ready(load) => load.name,
            Self::Proof { .. } => PROOF_SCENARIO,
        }
    }

    fn all(fixture: &Fixture, datasets: usize, connections: u32) -> Vec<Self> {
        let data = |id: &str| format!("/api/v1/distributions/{id}/data");
        let download = |name, id: &str, connections, bytes| Load {
            bytes: Some(bytes),
            ..Load::authorised(name, data(id), connections)
        };
        let small = SMALL_BYTES;
        // Calls of a live API: straight to its upstream, or through the gateway.
        let direct = |name, route: &str| {
            Self::Ready(Load {
                base: Some(fixture.upstream.server.base_url.clone()),
                request_lua: Some(seeded_threads_lua(&format!(
                    "request = function()\n  return wrk.format(nil, \"/v1/{route}/\" .. math.random(0, 9999))\nend\n",
                ))),
                ..Load::get(name, format!("/v1/{route}/1"), connections)
            })
        };
        let gateway = |name, route: &str| {
            let api = format!("/api/v1/distributions/{}/api/{route}/", fixture.api);
            Self::Ready(Load {
                entries_per_request: 2,
                request_lua: Some(seeded_threads_lua(&format!(
                    "request = function()\n  return wrk.format(nil, \"{api}\" .. math.random(0, 9999))\nend\n",
                ))),
                ..Load::authorised(name, format!("{api}1"), connections)
            })
        };
        let mut scenarios = vec![
            Self::Ready(Load::get(
                "dataset metadata read",
                format!("/api/v1/datasets/{}", fixture.open_slug),
                connections,
            )),
            Self::Ready(Load {
                // The seeder names its datasets `bench-0` to `bench-{N-1}`.
                request_lua: Some(seeded_threads_lua(&format!(
                    "request = function()\n  return wrk.format(nil, \"/api/v1/datasets/bench-\" .. math.random(0, {}))\nend\n",
                    datasets - 1
                ))),
                ..Load::get(
                    "dataset metadata read, varied",
                    format!("/api/v1/datasets/bench-{}", datasets / 2),
                    connections,
                )
            }),
            Self::Ready(Load::get(
                "catalog search, text + 2 facets",
                SEARCH_PATH.to_owned(),
                connections,
            )),
            Self::Ready(Load {
                request_lua: Some(VARIED_SEARCH_LUA.to_owned()),
                ..Load::get(
                    "catalog search, varied",
                    format!(
                        "/api/v1/datasets?q={}&format=CSV&page=2",
                        pdx_tests::urlencode("空气质量 南山区")
                    ),
                    connections,
                )
            }),
            Self::Ready(download(
                "authorised 10 KB download",
                &fixture.conditional_small,
                connections,
                small,
            )),
            Self::Ready(Load {
                ledger: true,
                bytes: Some(small),
                ..Load::get(
                    "anonymous open 10 KB download",
                    data(&fixture.open_small),
                    connections,
                )
            }),
            Self::Ready(Load {
                ledger: true,
                request_lua: Some(random_path_lua(
                    &fixture
                        .open_many
                        .iter()
                        .map(|id| data(id))
                        .collect::<Vec<_>>(),
                )),
                ..Load::get(
                    "anonymous open 10 KB download, varied (random of 100 files)",
                    data(&fixture.open_many[0]),
                    connections,
                )
            }),
            Self::Ready(download(
                "authorised 10 MB download",
                &fixture.conditional_large,
                connections.min(LARGE_CONNECTIONS),
                fixture.large_bytes,
            )),
            Self::Ready(Load {
                method: "POST",
                headers: vec![(
                    "Content-Type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                )],
                body: Some(form_encode(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &fixture.client_id),
                    ("client_secret", &fixture.client_secret),
                ])),
                ..Load::get(
                    "token issue (client_credentials)",
                    "/api/v1/auth/token".to_owned(),
                    connections,
                )
            }),
            Self::Ready(Load::get("portal home page", "/".to_owned(), connections)),
            Self::Ready(Load {
                // The same varied searches as the API's, as the portal's result pages.
                request_lua: Some(VARIED_SEARCH_LUA.replace("/api/v1/datasets?", "/datasets?")),
                ..Load::get(
                    "portal search results page, varied",
                    format!("/datasets?q={}", pdx_tests::urlencode("空气质量")),
                    connections,
                )
            }),
            Self::Ready(Load {
                request_lua: Some(seeded_threads_lua(&format!(
                    "request = function()\n  return wrk.format(nil, \"/datasets/bench-\" .. math.random(0, {}))\nend\n",
                    datasets - 1
                ))),
                ..Load::get(
                    "portal dataset page, varied",
                    format!("/datasets/bench-{}", datasets / 2),
                    connections,
                )
            }),
            direct(
                "API call straight to the local upstream (reference), varied",
                "bench",
            ),
            gateway("API call through the gateway, authorised, varied", "bench"),
            direct(
                "API call straight to a 5 ms upstream (reference), varied",
                "bench-5ms",
            ),
            gateway(
                "API call through the gateway to a 5 ms upstream, authorised, varied",
                "bench-5ms",
            ),
            Self::Proof { connections },
        ];
        if let Some(table) = &fixture.rows {
            let rows = [
                Self::Ready(Load {
                    request_lua: Some(offset_pages_lua(
                        &table.distribution,
                        "\"filter=district:eq:Nanshan\"",
                    )),
                    ..Load::authorised(
                        ROW_SCENARIOS[0],
                        format!(
                            "/api/v1/distributions/{}/rows?filter=district:eq:Nanshan&limit=100",
                            table.distribution
                        ),
                        connections,
                    )
                }),
                // Each request a query of its own (one of 100,000 bounds): no page of it was
                // served before, so every row before the offset is skipped.
                Self::Ready(Load {
                    request_lua: Some(offset_pages_lua(
                        &table.distribution,
                        "\"filter=amount:gte:\" .. string.format(\"%.2f\", math.random(0, 99999) / 100)",
                    )),
                    ..Load::authorised(
                        ROW_SCENARIOS[1],
                        format!(
                            "/api/v1/distributions/{}/rows?filter=amount:gte:500.25&limit=100&offset=5000",
                            table.distribution
                        ),
                        connections,
                    )
                }),
                Self::Ready(Load {
                    request_lua: Some(random_path_lua(&table.pages)),
                    ..Load::authorised(ROW_SCENARIOS[2], table.pages[0].clone(), connections)
                }),
                Self::Ready(Load {
                    bytes: Some(table.export_bytes),
                    // An export takes a second or two: a longer one is slow, not failed.
                    timeout_s: 30,
                    ..Load::authorised(
                        ROW_SCENARIOS[3],
                        format!(
                            "/api/v1/distributions/{}/rows?format=csv&limit=all",
                            table.distribution
                        ),
                        connections.min(2),
                    )
                }),
            ];
            // Before the proof, which reads the checkpoint taken after the downloads.
            let proof = scenarios.pop();
            scenarios.extend(rows);
            scenarios.extend(proof);
        }
        scenarios
    }
}

/// Lua defining wrk's `request()` as a GET of one of `paths`, picked at random each time.
fn random_path_lua(paths: &[String]) -> String {
    let list: Vec<String> = paths.iter().map(|p| format!("\"{p}\"")).collect();
    seeded_threads_lua(&format!(
        "local paths = {{{}}}\nrequest = function()\n  return wrk.format(nil, paths[math.random(#paths)])\nend\n",
        list.join(", ")
    ))
}

/// Lua defining wrk's `request()` as a 100-row page of the distribution's rows at a random
/// offset 0–10,000 (in hundreds), filtered by `filter`, a Lua expression of the query's start.
fn offset_pages_lua(distribution: &str, filter: &str) -> String {
    seeded_threads_lua(&format!(
        "request = function()\n  return wrk.format(nil, \"/api/v1/distributions/{distribution}/rows?\" .. {filter} .. \"&limit=100&offset=\" .. math.random(0, 100) * 100)\nend\n"
    ))
}

/// A wrk script drawing random numbers, with each thread's generator seeded apart.
fn seeded_threads_lua(request: &str) -> String {
    format!("{SEED_THREADS_LUA}{request}")
}

/// Proofs of random entries in the tree of the latest signed checkpoint.
fn proof_scenario(api: &Api, connections: u32) -> anyhow::Result<Load> {
    let request = api.client.get(api.url("/api/v1/ledger/checkpoint"));
    let (headers, _) = api.send("GET /api/v1/ledger/checkpoint", request)?;
    let size: u64 = headers
        .get("x-pdx-tree-size")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .context("the checkpoint has no X-PDX-Tree-Size")?;
    ensure!(size > 0, "the latest checkpoint is empty");
    let path = |seq: &str| format!("/api/v1/ledger/proof/inclusion?seq={seq}&tree_size={size}");
    Ok(Load {
        request_lua: Some(seeded_threads_lua(&format!(
            "request = function()\n  return wrk.format(nil, \"{}\" .. math.random(0, {}) .. \"&tree_size={size}\")\nend\n",
            "/api/v1/ledger/proof/inclusion?seq=",
            size - 1
        ))),
        ..Load::get(PROOF_SCENARIO, path(&(size / 2).to_string()), connections)
    })
}

/// Probes the load once, warms up, then measures it.
fn measure(
    load: &Load,
    api: &Api,
    server: &Server,
    database: &Database,
    options: &Options,
    dir: &Path,
) -> anyhow::Result<Measured> {
    eprintln!("-- {} ({} connections)", load.name, load.connections);
    let method = Method::from_bytes(load.method.as_bytes())?;
    let mut probe = api.client.request(method, load.url(api));
    for (name, value) in &load.headers {
        probe = probe.header(name, value);
    }
    if let Some(body) = &load.body {
        probe = probe.body(body.clone());
    }
    // The peak reported is this scenario's own, from its probe and warm-up on: the set-up's
    // (and an earlier scenario's, whose freed memory the allocator gives back over ten
    // seconds) are not what it costs.
    let (settled_kib, _) = server.settle(Duration::ZERO);
    eprintln!("   (memory settled at {} MiB)", settled_kib / 1024);
    server.reset_peak()?;
    api.send(&format!("{} (probe)", load.name), probe)?;

    let script = dir.join("load.lua");
    std::fs::write(&script, load.lua())
        .with_context(|| format!("cannot write {}", script.display()))?;
    let warmup = wrk(load, &load.url(api), &script, options.warmup_secs)?;
    // An overloaded server's errors and timeouts are figures to report, not a broken load: only
    // a warm-up whose answers were all errors stops the run.
    ensure!(
        warmup.requests == 0 || warmup.requests > warmup.non_2xx,
        "{}: the warm-up failed: {warmup:?}",
        load.name
    );
    if warmup.requests == 0 || warmup.errors() > 0 {
        eprintln!(
            "   warning: the warm-up completed {} requests, with {} non-2xx and {} socket errors",
            warmup.requests, warmup.non_2xx, warmup.socket_errors
        );
    }
    std::thread::sleep(SETTLE);
    let before = ledger_size(database)?;
    let result = wrk(load, &load.url(api), &script, options.duration_secs)?;
    std::thread::sleep(SETTLE);
    let after = ledger_size(database)?;
    let ledger = load.ledger.then(|| LedgerCheck {
        entries: after.saturating_sub(before),
        requests: result.requests,
        connections: load.connections,
        per_request: load.entries_per_request,
    });
    let measured = Measured {
        name: load.name,
        connections: load.connections,
        peak_rss_kib: server.memory_kib("VmHWM"),
        wrk: result,
        ledger,
        bytes: load.bytes,
    };
    eprintln!(
        "   {:.0} req/s, p50 {}, p99 {}, {} errors ({} timeouts), RSS {} MiB (peak {} MiB){}",
        measured.wrk.requests_per_sec,
        measured.wrk.p50(),
        measured.wrk.p99(),
        measured.wrk.errors(),
        measured.wrk.timeouts,
        server.memory_kib("VmRSS").unwrap_or(0) / 1024,
        measured.peak_rss_kib.unwrap_or(0) / 1024,
        measured
            .ledger
            .map(|l| format!(", ledger +{} for {} requests", l.entries, l.requests))
            .unwrap_or_default()
    );
    Ok(measured)
}

/// What wrk reported.
#[derive(Debug, Clone, Default)]
struct WrkResult {
    requests: u64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    socket_errors: u64,
    /// Answers later than wrk's timeout (counted in `socket_errors` too).
    timeouts: u64,
    /// That timeout, in seconds.
    timeout_s: u64,
}

impl WrkResult {
    fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors
    }

    fn p50(&self) -> String {
        self.percentile(self.p50_ms, 0.5)
    }

    fn p99(&self) -> String {
        self.percentile(self.p99_ms, 0.01)
    }

    /// A latency percentile for the report, whose `tail` share of answers is slower. wrk's
    /// percentiles leave out the answers that timed out: when more than the tail did, the
    /// percentile is only known to be above the timeout.
    fn percentile(&self, ms: f64, tail: f64) -> String {
        if self.timeouts as f64 > tail * self.requests as f64 {
            format!("> {} s", self.timeout_s)
        } else {
            format!("{ms:.2} ms")
        }
    }
}

fn wrk(load: &Load, url: &str, script: &Path, seconds: u64) -> anyhow::Result<WrkResult> {
    let threads = load.connections.min(2);
    let output = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("--timeout")
        .arg(format!("{}s", load.timeout_s))
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "wrk failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let mut result =
        parse_wrk(&stdout).with_context(|| format!("cannot read wrk's output:\n{stdout}"))?;
    result.timeout_s = load.timeout_s;
    Ok(result)
}

fn parse_wrk(output: &str) -> anyhow::Result<WrkResult> {
    let mut result = WrkResult::default();
    let (mut p50, mut p99, mut rate, mut requests) = (None, None, None, None);
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("50%") {
            p50 = Some(parse_latency_ms(value.trim())?);
        } else if let Some(value) = line.strip_prefix("99%") {
            p99 = Some(parse_latency_ms(value.trim())?);
        } else if let Some(value) = line.strip_prefix("Requests/sec:") {
            rate = Some(value.trim().parse()?);
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            result.non_2xx = value.trim().parse()?;
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in value.split(',') {
                let count: u64 = part.split_whitespace().last().unwrap_or("0").parse()?;
                result.socket_errors += count;
                if part.trim_start().starts_with("timeout") {
                    result.timeouts = count;
                }
            }
        } else if line.contains(" requests in ") {
            let count = line.split_whitespace().next().unwrap_or_default();
            requests = Some(count.parse()?);
        }
    }
    result.p50_ms = p50.context("no 50% latency")?;
    result.p99_ms = p99.context("no 99% latency")?;
    result.requests_per_sec = rate.context("no Requests/sec")?;
    result.requests = requests.context("no request count")?;
    Ok(result)
}

/// wrk's durations: `812.00us`, `4.80ms`, `1.23s`, `2.00m`, `1.00h`.
fn parse_latency_ms(value: &str) -> anyhow::Result<f64> {
    let units = [
        ("us", 1e-3),
        ("ms", 1.0),
        ("s", 1e3),
        ("m", 60e3),
        ("h", 3600e3),
    ];
    for (suffix, factor) in units {
        if let Some(number) = value.strip_suffix(suffix)
            && let Ok(number) = number.parse::<f64>()
        {
            return Ok(number * factor);
        }
    }
    bail!("not a duration: {value}")
}

/// Offline verification of a synthetic export: its size and the best rate of the runs.
#[derive(Debug)]
struct Verification {
    entries: u64,
    megabytes: f64,
    best_secs: f64,
    runs: u32,
}

/// Times `verify_export` over a synthetic ledger of `n` entries (see
/// `pdx_circulation::synthetic`, which `pdx-circulation`'s `verify_bench` example measures too).
fn verify_offline(n: u64, runs: u32) -> anyhow::Result<Verification> {
    let SyntheticLedger {
        export,
        note,
        verifier_key,
    } = pdx_circulation::synthetic::ledger(n)?;
    let mut best = f64::INFINITY;
    for run in 1..=runs {
        let started = Instant::now();
        let report = verify_export(export.as_slice(), &note, &verifier_key)?;
        let seconds = started.elapsed().as_secs_f64();
        ensure!(
            report.entries == n,
            "verified {} of {n} entries",
            report.entries
        );
        eprintln!("run {run}: {n} entries in {seconds:.3} s");
        best = best.min(seconds);
    }
    Ok(Verification {
        entries: n,
        megabytes: export.len() as f64 / 1e6,
        best_secs: best,
        runs,
    })
}

/// CPU model, cores and memory of this machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: u64 = meminfo
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix("MemTotal:")?;
            value.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .unwrap_or(0);
    format!(
        "{cpu}, {cores} cores, {:.1} GiB RAM",
        memory_kib as f64 / 1024.0 / 1024.0
    )
}

/// The commit measured, marked when the working tree has changes.
fn revision() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let head = Command::new("git")
        .args(["-C", dir, "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())?;
    let dirty = Command::new("git")
        .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|output| !output.stdout.is_empty());
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    Some(if dirty {
        format!("{head} + uncommitted changes")
    } else {
        head
    })
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", digits.as_str()),
    };
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    format!("{sign}{out}")
}

fn count(value: u64) -> String {
    thousands(value as f64)
}

fn report(
    machine: &str,
    options: &Options,
    runs: &[BackendRun],
    verification: Option<&Verification>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n# PDX benchmark\n");
    let _ = writeln!(out, "- machine: {machine}");
    if let Some(revision) = revision() {
        let _ = writeln!(out, "- commit: {revision}");
    }
    let _ = writeln!(
        out,
        "- load: wrk, 2 threads, {} s per scenario after a {} s warm-up; server and wrk on \
         the same machine; {} seeded datasets{}",
        options.duration_secs,
        options.warmup_secs,
        count(options.datasets as u64),
        if options.quick {
            " (--quick: not a measurement)"
        } else {
            ""
        }
    );
    if options.anonymous_limit > 0 {
        let _ = writeln!(
            out,
            "- anonymous data requests counted against a limit of {} per minute and address \
             (shared with the other processes every second)",
            count(options.anonymous_limit)
        );
    }
    let _ = writeln!(
        out,
        "\n| scenario | backend | connections | requests/s | p50 | p99 | errors | peak RSS in the scenario | \
         ledger entries / requests |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|---|");
    for run in runs {
        for s in &run.scenarios {
            let ledger = s.ledger.map_or_else(
                || "—".to_owned(),
                |l| {
                    format!(
                        "{} / {} {}",
                        count(l.entries),
                        count(l.requests),
                        if l.holds() { "✓" } else { "✗" }
                    )
                },
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                run.backend,
                s.connections,
                thousands(s.wrk.requests_per_sec),
                s.wrk.p50(),
                s.wrk.p99(),
                count(s.wrk.errors()),
                s.peak_rss_kib
                    .map_or_else(|| "?".to_owned(), |kib| format!("{} MiB", kib / 1024)),
                ledger
            );
        }
    }
    let _ = writeln!(out);
    for run in runs {
        for s in run
            .scenarios
            .iter()
            .filter(|s| s.bytes.is_some_and(|b| b > SMALL_BYTES))
        {
            let bytes = s.bytes.unwrap_or(0) as f64;
            let _ = writeln!(
                out,
                "- {} ({}): {:.0} MiB/s ({:.1} req/s × {:.2} MiB, {} connections)",
                s.name,
                run.backend,
                s.wrk.requests_per_sec * bytes / 1_048_576.0,
                s.wrk.requests_per_sec,
                bytes / 1_048_576.0,
                s.connections
            );
        }
    }
    if let Some(verification) = verification {
        let _ = writeln!(
            out,
            "- offline ledger verification: {} entries/s ({} entries, {:.0} MB of NDJSON, \
             best of {} run(s): {:.3} s)",
            thousands(verification.entries as f64 / verification.best_secs),
            count(verification.entries),
            verification.megabytes,
            verification.runs,
            verification.best_secs
        );
    }
    for run in runs {
        let _ = writeln!(
            out,
            "- start to ready ({}): {:.0} ms on the freshly seeded database ({} datasets, \
             seeded in {:.1} s); {:.0} ms on restart after the load ({} ledger entries)",
            run.backend,
            run.start_to_ready.as_secs_f64() * 1e3,
            count(options.datasets as u64),
            run.seed_secs,
            run.restart_to_ready.as_secs_f64() * 1e3,
            count(run.ledger_at_restart)
        );
    }
    out
}
