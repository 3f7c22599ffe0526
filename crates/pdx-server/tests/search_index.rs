//! The search index across restarts of the `pdx` binary: it is persisted in the data
//! directory and reopened, catches up with changes made while the server was down, is rebuilt
//! when unusable, and `pdx search reindex` rebuilds it by hand or asks running servers to.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use pdx_storage::feed::{self, CatalogChange};
use pdx_storage::schema::datasets;
use pdx_storage::testing::TestDatabase;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.0.kill());
        drop(self.0.wait());
    }
}

impl Running {
    /// Stops the server with SIGTERM and waits for it to exit.
    async fn stop(mut self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        assert!(killed.is_ok_and(|s| s.success()));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.0.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("pdx serve did not stop: {other:?}"),
            }
        }
    }
}

fn pdx(data_dir: &Path, database: &TestDatabase) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pdx"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PDX_DATA_DIR", data_dir)
        .env("PDX_DATABASE_URL", database.url().to_connection_string())
        // The master key every process is given (32 bytes of 0x2a).
        .env(
            "PDX_KEYS__MASTER_KEY",
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        )
        .env("PDX_WORKERS", "1")
        .env("PDX_LOG_LEVEL", "info")
        .env("PDX_LOG_FORMAT", "json");
    command
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(error) => panic!("no free port: {error}"),
    }
}

/// Starts `pdx serve` (`--demo` loads the demo catalog the first time) with its log in `log`.
fn serve(data_dir: &Path, database: &TestDatabase, port: u16, log: &Path) -> Running {
    let log = match std::fs::File::create(log) {
        Ok(file) => file,
        Err(error) => panic!("log file: {error}"),
    };
    let child = pdx(data_dir, database)
        .env("PDX_BIND", format!("127.0.0.1:{port}"))
        .args(["serve", "--demo"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn();
    match child {
        Ok(child) => Running(child),
        Err(error) => panic!("cannot start pdx serve: {error}"),
    }
}

async fn total(base: &str, query: &str) -> Option<i64> {
    let response = reqwest::get(format!("{base}/api/v1/datasets?{query}"))
        .await
        .ok()?;
    let body: serde_json::Value = response.json().await.ok()?;
    body["total"].as_i64()
}

/// Waits until the server answers searches; returns the number of published datasets.
async fn ready(base: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await
            && response.status() == 200
            && let Some(all) = total(base, "").await
            && all > 0
        {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pdx serve did not become ready")
}

fn log_has(log: &Path, text: &str) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains(text))
}

/// Withdraws a dataset straight in the database, as another server process would: the status
/// changes and the change is recorded in the feed, in one transaction.
/// Two published datasets' slugs, other than the bus stops.
async fn two_published(base: &str) -> [String; 2] {
    let response = reqwest::get(format!("{base}/api/v1/datasets?sort=title&per_page=5")).await;
    let Ok(response) = response else {
        panic!("search failed")
    };
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let slugs: Vec<String> = body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["slug"].as_str().map(str::to_owned))
                .filter(|s| s != "bus-stops")
                .collect()
        })
        .unwrap_or_default();
    match slugs.as_slice() {
        [a, b, ..] => [a.clone(), b.clone()],
        _ => panic!("fewer than two published datasets: {body}"),
    }
}

async fn withdraw_behind_the_servers_back(database: &TestDatabase, slug: String) {
    let done = database
        .database()
        .write(move |conn| {
            let id: String = datasets::table
                .filter(datasets::slug.eq(slug))
                .select(datasets::id)
                .first(conn)?;
            diesel::update(datasets::table.find(&id))
                .set(datasets::status.eq("withdrawn"))
                .execute(conn)?;
            feed::record(conn, &CatalogChange::Dataset(id))
        })
        .await;
    assert!(done.is_ok(), "{done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_survives_restarts_catches_up_and_is_rebuilt_when_unusable() {
    let database = TestDatabase::empty();
    let data = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let logs = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    // First start: the index is created and built from the demo catalog.
    let first = logs.path().join("first.log");
    let server = serve(data.path(), &database, port, &first);
    let published = ready(&base).await;
    let bus = total(&base, "q=bus%20stops").await.unwrap_or_default();
    assert!(bus > 0);
    assert!(data.path().join("search").join("meta.json").exists());
    server.stop().await;

    // While no server runs, a dataset is withdrawn: the next start reopens the index and
    // applies the change from the feed rather than rebuilding.
    withdraw_behind_the_servers_back(&database, "bus-stops".to_owned()).await;
    let second = logs.path().join("second.log");
    let server = serve(data.path(), &database, port, &second);
    assert_eq!(ready(&base).await, published - 1);
    assert!(log_has(&second, "search index opened"), "{second:?}");
    assert!(log_has(&second, "\"rebuilt\":false"));
    assert!(total(&base, "q=bus%20stops").await < Some(bus));

    // While it runs, `pdx search reindex` asks it (through the database) to rebuild.
    let asked = pdx(data.path(), &database)
        .args(["search", "reindex"])
        .output();
    let Ok(asked) = asked else {
        panic!("pdx search reindex did not run")
    };
    assert!(asked.status.success());
    assert!(String::from_utf8_lossy(&asked.stdout).contains("in use by a running server"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_has(&second, "rebuild asked for through the change feed") {
        assert!(
            Instant::now() < deadline,
            "the running server did not rebuild"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(total(&base, "").await, Some(published - 1));
    server.stop().await;

    // An unreadable index is replaced and rebuilt on start.
    let meta = data.path().join("search").join("meta.json");
    assert!(std::fs::write(&meta, "not an index").is_ok());
    let third = logs.path().join("third.log");
    let server = serve(data.path(), &database, port, &third);
    assert_eq!(ready(&base).await, published - 1);
    assert!(log_has(&third, "search index unusable"), "{third:?}");
    assert!(log_has(&third, "\"rebuilt\":true"));
    let [first, second] = two_published(&base).await;
    server.stop().await;

    // Changes pruned from the feed while the server was down leave a gap it cannot catch up
    // over: it rebuilds, and what changed meanwhile is right.
    withdraw_behind_the_servers_back(&database, first).await;
    withdraw_behind_the_servers_back(&database, second).await;
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).naive_utc();
    let pruned = database
        .database()
        .write(move |conn| feed::prune(conn, later))
        .await;
    assert!(pruned.is_ok_and(|removed| removed > 0));
    let fourth = logs.path().join("fourth.log");
    let server = serve(data.path(), &database, port, &fourth);
    assert_eq!(ready(&base).await, published - 3);
    assert!(log_has(&fourth, "\"rebuilt\":true"), "{fourth:?}");
    server.stop().await;

    // With no server running, `pdx search reindex` rebuilds the index itself.
    let rebuilt = pdx(data.path(), &database)
        .args(["search", "reindex"])
        .output();
    let Ok(rebuilt) = rebuilt else {
        panic!("pdx search reindex did not run")
    };
    assert!(rebuilt.status.success());
    assert_eq!(
        String::from_utf8_lossy(&rebuilt.stdout).trim(),
        format!(
            "Search index rebuilt: {} published datasets.",
            published - 3
        )
    );
}
