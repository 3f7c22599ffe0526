//! Log before serve, under the worst failure: the server is killed with SIGKILL while clients
//! download. After a restart every receipt a client received is in the ledger, the sequence has
//! no gap, and the ledger verifies against a checkpoint signed after the restart.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pdx_storage::testing::TestDatabase;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.0.kill());
        drop(self.0.wait());
    }
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(error) => panic!("no free port: {error}"),
    }
}

fn serve(data_dir: &Path, database: &TestDatabase, port: u16) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_pdx"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PDX_DATA_DIR", data_dir)
        .env("PDX_DATABASE_URL", database.url().to_connection_string())
        // Every process of the platform is given the same master key (32 bytes of 0x2a).
        .env(
            "PDX_KEYS__MASTER_KEY",
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        )
        .env("PDX_BIND", format!("127.0.0.1:{port}"))
        .env("PDX_WORKERS", "2")
        .env("PDX_LOG_LEVEL", "warn")
        .env("PDX_LEDGER__CHECKPOINT_INTERVAL_MS", "50")
        // Many parallel clients on loopback are one address: no per-address limits here.
        .env("PDX_HTTP__ANONYMOUS_DATA_PER_MINUTE", "0")
        .args(["serve", "--demo"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(child) => Running(child),
        Err(error) => panic!("cannot start pdx serve: {error}"),
    }
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await
            && response.status() == 200
        {
            // The demo catalog is loaded before the server reports ready only on an empty
            // database; wait until its datasets are visible.
            if let Ok(r) = reqwest::get(format!("{base}/api/v1/datasets/bus-stops")).await
                && r.status() == 200
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pdx serve did not become ready")
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    match response.json().await {
        Ok(value) => value,
        Err(error) => panic!("not JSON: {error}"),
    }
}

/// The id of the demo's open bus-stop CSV.
async fn demo_csv(base: &str) -> String {
    let bus = json(
        reqwest::get(format!("{base}/api/v1/datasets/bus-stops"))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await;
    bus["distributions"][1]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_survive_sigkill_and_the_ledger_verifies_without_gaps() {
    let database = TestDatabase::empty();
    let data = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(data.path(), &database, port);
    wait_ready(&base).await;
    let distribution = demo_csv(&base).await;
    let url = format!("{base}/api/v1/distributions/{distribution}/data");

    let receipts = Arc::new(Mutex::new(Vec::<u64>::new()));
    let client = reqwest::Client::new();
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (client, url, receipts) = (client.clone(), url.clone(), Arc::clone(&receipts));
        clients.push(tokio::spawn(async move {
            while let Ok(response) = client.get(&url).send().await {
                let seq = response
                    .headers()
                    .get("x-pdx-ledger-seq")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if response.status() == 200
                    && let Some(seq) = seq
                    && let Ok(mut all) = receipts.lock()
                {
                    all.push(seq);
                }
            }
        }));
    }
    // Kill in the middle of the load, once a good number of requests are through.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receipts.lock().map(|r| r.len()).unwrap_or(0) < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-KILL", &server.0.id().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    drop(server.0.wait());
    for task in clients {
        drop(task.await);
    }
    let received: Vec<u64> = receipts.lock().map(|r| r.clone()).unwrap_or_default();
    assert!(
        received.len() >= 300,
        "load ran: {} receipts",
        received.len()
    );

    server = serve(data.path(), &database, port);
    wait_ready(&base).await;

    let mut conn = match database.database().conn() {
        Ok(conn) => conn,
        Err(error) => panic!("{error}"),
    };
    let size = match pdx_circulation::store::size(&mut conn) {
        Ok(size) => size,
        Err(error) => panic!("{error}"),
    };
    for seq in &received {
        assert!(
            *seq < size,
            "receipt {seq} is beyond the ledger's {size} entries"
        );
        let entry = pdx_circulation::store::entry(&mut conn, *seq);
        let Ok(entry) = entry else {
            panic!("receipt {seq} has no entry: {entry:?}")
        };
        assert_eq!(
            (
                entry.kind.as_str(),
                entry.decision.as_str(),
                entry.distribution.as_deref()
            ),
            ("data_access", "permit", Some(distribution.as_str())),
            "receipt {seq}"
        );
    }

    // The auditor exports the ledger up to a checkpoint signed after the restart and it
    // verifies offline: contiguous from 0, canonical, and the root matches the signature.
    let token = json(
        client
            .post(format!("{base}/api/v1/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "auditor@demo.pdx"),
                ("password", "pdx-demo-2026"),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .await["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (note, signed) = loop {
        let response = reqwest::get(format!("{base}/api/v1/ledger/checkpoint"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let signed: u64 = response
            .headers()
            .get("x-pdx-tree-size")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let note = response.text().await.unwrap_or_default();
        if signed >= size {
            break (note, signed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let export = client
        .get(format!("{base}/api/v1/ledger/export?to={signed}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(export.status(), 200);
    let export = export.text().await.unwrap_or_default();
    let key = reqwest::get(format!("{base}/api/v1/ledger/key"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    let report = pdx_circulation::verify::verify_export(export.as_bytes(), &note, &key);
    let Ok(report) = report else {
        panic!("the ledger does not verify after the crash: {report:?}")
    };
    assert_eq!(report.entries, signed, "contiguous from 0 with no gap");

    // The same with the offline tool an auditor runs, which also names each failure.
    let files = data.path().join("audit");
    let write = |name: &str, text: &str| {
        let path = files.join(name);
        if let Err(error) =
            std::fs::create_dir_all(&files).and_then(|()| std::fs::write(&path, text))
        {
            panic!("{error}")
        }
        path
    };
    let (export_file, note_file, key_file) = (
        write("ledger.ndjson", &export),
        write("checkpoint.txt", &note),
        write("key.txt", &key),
    );
    let verify = |export: &Path| {
        Command::new(env!("CARGO_BIN_EXE_pdx"))
            .args(["ledger", "verify", "--export"])
            .arg(export)
            .arg("--checkpoint")
            .arg(&note_file)
            .arg("--key")
            .arg(&key_file)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let verified = verify(&export_file);
    assert_eq!(
        verified.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains(&signed.to_string()));
    let mut lines: Vec<&str> = export.lines().collect();
    lines.remove(received.len() / 2);
    let deleted = write("deleted.ndjson", &(lines.join("\n") + "\n"));
    assert_eq!(
        verify(&deleted).status.code(),
        Some(7),
        "a deleted entry breaks the sequence"
    );

    let seq = received[received.len() / 2];
    let proof = reqwest::get(format!(
        "{base}/api/v1/ledger/proof/inclusion?seq={seq}&tree_size={signed}"
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .text()
    .await
    .unwrap_or_default();
    let line = export
        .lines()
        .nth(usize::try_from(seq).unwrap_or(usize::MAX))
        .unwrap_or_default();
    let prove = Command::new(env!("CARGO_BIN_EXE_pdx"))
        .args(["ledger", "prove", "inclusion", "--proof"])
        .arg(write("proof.json", &proof))
        .arg("--entry")
        .arg(write("entry.json", line))
        .arg("--checkpoint")
        .arg(&note_file)
        .arg("--key")
        .arg(&key_file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        prove.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&prove.stderr)
    );
    // The API's answer for the entry, saved as it is, proves the same.
    let answered = client
        .get(format!("{base}/api/v1/ledger/entries/{seq}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&answered).unwrap_or_default();
    assert_eq!(
        answer["canonical"], line,
        "the answer carries the exported line"
    );
    let prove_answer = Command::new(env!("CARGO_BIN_EXE_pdx"))
        .args(["ledger", "prove", "inclusion", "--proof"])
        .arg(write("proof.json", &proof))
        .arg("--entry")
        .arg(write("answer.json", &answered))
        .arg("--checkpoint")
        .arg(&note_file)
        .arg("--key")
        .arg(&key_file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        prove_answer.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&prove_answer.stderr)
    );
    drop(server);
}

/// Downloads `url` from `clients` parallel clients until `stop`; returns the receipts.
async fn receipts_from(url: String, clients: usize, stop: Instant) -> Vec<u64> {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while Instant::now() < stop {
                let Ok(response) = client.get(&url).send().await else {
                    break;
                };
                assert_eq!(response.status(), 200);
                let seq = response
                    .headers()
                    .get("x-pdx-ledger-seq")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let Some(seq) = seq else {
                    panic!("a download without a receipt")
                };
                seen.push(seq);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        match task.await {
            Ok(seen) => all.extend(seen),
            Err(error) => panic!("a client failed: {error}"),
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_share_one_gap_free_ledger() {
    let database = TestDatabase::empty();
    let data = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    };
    let (port_a, port_b) = (free_port(), free_port());
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{port_a}"),
        format!("http://127.0.0.1:{port_b}"),
    );
    let first = serve(data.path(), &database, port_a);
    wait_ready(&base_a).await;
    let second = serve(data.path(), &database, port_b);
    wait_ready(&base_b).await;
    let distribution = demo_csv(&base_a).await;
    let path = format!("/api/v1/distributions/{distribution}/data");

    let stop = Instant::now() + Duration::from_millis(1500);
    let (a, b) = tokio::join!(
        receipts_from(format!("{base_a}{path}"), 8, stop),
        receipts_from(format!("{base_b}{path}"), 8, stop),
    );
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both servers served: {} and {}",
        a.len(),
        b.len()
    );
    let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    let unique = all.len();
    all.dedup();
    assert_eq!(all.len(), unique, "no receipt was given twice");

    let mut conn = match database.database().conn() {
        Ok(conn) => conn,
        Err(error) => panic!("{error}"),
    };
    let size = pdx_circulation::store::size(&mut conn).unwrap_or_default();
    for seq in 0..size {
        let entry = pdx_circulation::store::entry(&mut conn, seq);
        assert!(
            entry.is_ok_and(|e| e.seq == seq),
            "entry {seq} of {size} is missing"
        );
    }
    assert!(all.iter().all(|seq| *seq < size));
    drop((first, second));
}
