//! Two `pdx serve` processes as one platform, as two hosts behind a load balancer run them:
//! each with its own empty data directory, both on one database (SQLite here, PostgreSQL
//! when PDX_TEST_DATABASE_URL names one) and one S3 bucket (a real S3-protocol server), both
//! given the same master key. Tokens, files, the ledger, its checkpoints and search are the
//! platform's, not a process's; a key rotated by an operator reaches both; when the process
//! signing checkpoints dies, the other takes over.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use pdx_storage::test_s3::S3Server;
use pdx_storage::testing::TestDatabase;
use pdx_storage::vault::MasterKey;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const CSV: &str = "station,level\nFutian,3.2\nLuohu,2.9\n";

/// What every process of the platform is given.
struct Platform {
    database: TestDatabase,
    s3: S3Server,
    master_key_file: PathBuf,
    _keys: tempfile::TempDir,
}

impl Platform {
    fn new() -> Self {
        let keys = temp_dir();
        let master_key_file = keys.path().join("master.key");
        if let Err(error) = MasterKey::create_file(&master_key_file) {
            panic!("cannot write the master key: {error}");
        }
        Self {
            database: TestDatabase::empty(),
            s3: S3Server::start(),
            master_key_file,
            _keys: keys,
        }
    }

    /// The `pdx` command with this platform's settings and a data directory of its own.
    fn pdx(&self, data_dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pdx"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PDX_DATA_DIR", data_dir)
            .env(
                "PDX_DATABASE_URL",
                self.database.url().to_connection_string(),
            )
            .env("PDX_DATABASE_POOL_SIZE", "4")
            .env("PDX_WORKERS", "1")
            .env("PDX_LOG_LEVEL", "warn")
            // Behind one load balancer: one public URL, so one token issuer and ledger origin.
            .env("PDX_PUBLIC_URL", "http://data.platform.test")
            .env("PDX_KEYS__MASTER_KEY_FILE", &self.master_key_file)
            .env("PDX_CATALOG__BLOB_STORE", self.s3.url("pdx"))
            .env("PDX_AUTH__ARGON2_MEMORY_KIB", "1024")
            .env("PDX_AUTH__ARGON2_ITERATIONS", "1")
            .env("PDX_LEDGER__CHECKPOINT_INTERVAL_MS", "100");
        for (key, value) in self.s3.options() {
            command.env(format!("PDX_CATALOG__S3__{}", key.to_uppercase()), value);
        }
        command
    }

    /// Runs an operator command in a data directory of its own; panics unless it succeeds.
    fn operator(&self, args: &[&str], stdin: Option<&str>) {
        use std::io::Write;
        let dir = temp_dir();
        let child = self
            .pdx(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            panic!("cannot run pdx {args:?}")
        };
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            assert!(input.write_all(text.as_bytes()).is_ok());
        }
        let output = child.wait_with_output();
        let Ok(output) = output else {
            panic!("pdx {args:?} did not finish")
        };
        assert!(
            output.status.success(),
            "pdx {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts `pdx serve` in a data directory of its own and waits until it is ready.
    async fn serve(&self) -> Replica {
        let data_dir = temp_dir();
        let port = free_port();
        let child = self
            .pdx(data_dir.path())
            .env("PDX_BIND", format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(child) = child else {
            panic!("cannot start pdx serve")
        };
        let replica = Replica {
            base: format!("http://127.0.0.1:{port}"),
            child,
            data_dir,
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = replica.client.get(replica.url("/readyz")).send().await
                && response.status() == 200
            {
                return replica;
            }
            assert!(Instant::now() < deadline, "pdx serve did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn count(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = match self.database.database().conn() {
            Ok(conn) => conn,
            Err(error) => panic!("{error}"),
        };
        match diesel::sql_query(sql).get_result::<Count>(&mut conn) {
            Ok(count) => count.n,
            Err(error) => panic!("{sql}: {error}"),
        }
    }

    fn signer(&self) -> Option<String> {
        #[derive(QueryableByName)]
        struct Holder {
            #[diesel(sql_type = Text)]
            holder: String,
        }
        let mut conn = match self.database.database().conn() {
            Ok(conn) => conn,
            Err(error) => panic!("{error}"),
        };
        diesel::sql_query("SELECT holder FROM leases WHERE name = 'checkpoint_signer'")
            .get_result::<Holder>(&mut conn)
            .optional()
            .ok()
            .flatten()
            .map(|h| h.holder)
    }
}

/// One running `pdx serve`.
struct Replica {
    base: String,
    child: Child,
    data_dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Drop for Replica {
    fn drop(&mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => response,
            Err(error) => panic!("{path}: {error}"),
        }
    }

    async fn token(&self, email: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", PASSWORD),
            ])
            .send()
            .await;
        let Ok(response) = response else {
            panic!("sign-in failed")
        };
        assert_eq!(response.status(), 200);
        body(response).await["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of an unlabelled metric on this process's `/metrics`.
    async fn ledger_status(&self) -> Value {
        body(
            self.send(reqwest::Method::GET, "/api/v1/ledger/status", None, None)
                .await,
        )
        .await
    }

    async fn jwks(&self) -> Value {
        body(
            self.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
                .await,
        )
        .await
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .send(reqwest::Method::GET, "/metrics", None, None)
            .await
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|value| value.trim().parse().ok())
    }

    async fn download(&self, distribution: &str) -> (u64, String) {
        let response = self
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/distributions/{distribution}/data"),
                None,
                None,
            )
            .await;
        assert_eq!(response.status(), 200, "{}", self.base);
        let seq = response
            .headers()
            .get("x-pdx-ledger-seq")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no receipt"));
        (seq, response.text().await.unwrap_or_default())
    }
}

/// The key ids a JWK set publishes.
fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|key| key["kid"].as_str().map(str::to_owned))
        .collect()
}

/// The `kid` in a JWT's header: the key that signed it.
fn signing_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap_or_default();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&decoded).unwrap_or_default()["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap_or_default()
}

fn temp_dir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("pdx-replica-").tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("{error}"),
    }
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(error) => panic!("no free port: {error}"),
    }
}

/// Waits until `check` holds, for at most `within`.
async fn eventually(within: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_servers_with_their_own_data_directories_on_one_database_and_bucket_are_one_platform() {
    let platform = Platform::new();
    platform.operator(&["migrate"], None);
    platform.operator(
        &[
            "admin",
            "create-org",
            "--name",
            "Water Bureau",
            "--slug",
            "water",
            "--kind",
            "agency",
        ],
        None,
    );
    platform.operator(
        &[
            "admin",
            "create-user",
            "--org",
            "water",
            "--email",
            "admin@water.test",
            "--name",
            "Clerk",
            "--roles",
            "admin,publisher,reviewer",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    let a = platform.serve().await;
    let b = platform.serve().await;

    // A token issued by one is honoured by the other; both publish the same keys.
    let token = a.token("admin@water.test").await;
    let me = b
        .send(reqwest::Method::GET, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(me.status(), 200, "a token from A works on B");
    let (jwks_a, jwks_b) = (a.jwks().await, b.jwks().await);
    assert_eq!(jwks_a, jwks_b);
    assert_eq!(jwks_a["keys"].as_array().map(Vec::len), Some(1));

    // A dataset drafted on B, its file uploaded through A (into the bucket), submitted on B
    // and published on A.
    let created = b
        .send(
            reqwest::Method::POST,
            "/api/v1/datasets",
            Some(&token),
            Some(json!({
                "slug": "river-levels", "title": "River levels", "description": "Hourly river levels",
                "update_frequency": "hourly", "languages": ["en"], "sharing_class": "unconditional",
                "opening_class": "open", "grade": "general", "licence": "CC-BY-4.0",
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let upload = a
        .client
        .post(a.url("/api/v1/datasets/river-levels/distributions"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(CSV)
        .send()
        .await;
    let Ok(upload) = upload else {
        panic!("the upload failed")
    };
    assert_eq!(upload.status(), 201);
    let distribution = body(upload).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let submitted = b
        .send(
            reqwest::Method::POST,
            "/api/v1/datasets/river-levels/submit",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(submitted.status(), 200);
    let published = a
        .send(
            reqwest::Method::POST,
            "/api/v1/datasets/river-levels/publish",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(published.status(), 200);

    // The file is in the bucket, not in either data directory, and both serve it; the
    // ledger takes the downloads of both into one gap-free sequence.
    assert!(!a.data_dir.path().join("blobs").exists());
    assert!(!b.data_dir.path().join("blobs").exists());
    let mut seqs = Vec::new();
    for round in 0..6 {
        let replica = if round % 2 == 0 { &a } else { &b };
        let (seq, text) = replica.download(&distribution).await;
        assert_eq!(text, CSV);
        seqs.push(seq);
    }
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        seqs.len(),
        "every download has its own entry: {seqs:?}"
    );
    let entries = platform.count("SELECT COUNT(*) AS n FROM ledger_entries");
    let span = platform.count("SELECT MAX(seq) + 1 AS n FROM ledger_entries");
    assert_eq!(entries, span, "one gap-free sequence");

    // B's search index follows what was published through A.
    eventually(
        Duration::from_secs(10),
        "B finding the dataset",
        async || {
            let found = body(
                b.send(reqwest::Method::GET, "/api/v1/datasets?q=river", None, None)
                    .await,
            )
            .await;
            found["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|d| d["slug"] == "river-levels"))
        },
    )
    .await;

    // One process signs checkpoints, and both serve the same one.
    eventually(
        Duration::from_secs(10),
        "a checkpoint of every entry",
        async || {
            platform.count("SELECT COALESCE(MAX(size), 0) AS n FROM ledger_checkpoints") == entries
        },
    )
    .await;
    let signer = platform.signer().unwrap_or_default();
    assert!(
        signer.contains(&format!(":{}:", a.pid())),
        "A, the first up, signs: {signer}"
    );
    let checkpoint_a = a
        .send(
            reqwest::Method::GET,
            "/api/v1/ledger/checkpoint",
            None,
            None,
        )
        .await;
    let checkpoint_b = b
        .send(
            reqwest::Method::GET,
            "/api/v1/ledger/checkpoint",
            None,
            None,
        )
        .await;
    assert_eq!(checkpoint_a.status(), 200);
    let (note_a, note_b) = (
        checkpoint_a.text().await.unwrap_or_default(),
        checkpoint_b.text().await.unwrap_or_default(),
    );
    assert_eq!(note_a, note_b);
    // Each verifies the platform's ledger under the key in the database, not one of its own.
    for replica in [&a, &b] {
        let status = replica.ledger_status().await;
        assert_eq!(status["verified"], true, "{}: {status}", replica.base);
    }
    // What an operator's alerts watch: exactly one signer, and checkpoints being signed.
    assert_eq!(a.metric("pdx_checkpoint_signer").await, Some(1.0));
    assert_eq!(b.metric("pdx_checkpoint_signer").await, Some(0.0));
    assert!(
        a.metric("pdx_ledger_checkpoints_signed_total")
            .await
            .is_some_and(|n| n >= 1.0)
    );
    assert!(
        a.metric("pdx_ledger_checkpoint_size")
            .await
            .is_some_and(|size| size >= entries as f64)
    );

    // `pdx keys rotate` from an operator's shell, as a quarterly timer runs it: both servers
    // publish the new key within 30 s, A signs with it from 60 s after the rotation, and B
    // honours A's new tokens and the tokens of the replaced key alike.
    let old_kids = kids(&jwks_a);
    platform.operator(&["keys", "rotate"], None);
    let mut new_kid = String::new();
    eventually(
        Duration::from_secs(45),
        "both servers publishing the new key",
        async || {
            let (jwks_a, jwks_b) = (a.jwks().await, b.jwks().await);
            let published = kids(&jwks_a);
            match published.iter().find(|kid| !old_kids.contains(kid)) {
                Some(kid) if published.len() == 2 && jwks_a == jwks_b => {
                    new_kid = kid.clone();
                    true
                }
                _ => false,
            }
        },
    )
    .await;
    assert_eq!(
        signing_kid(&a.token("admin@water.test").await),
        old_kids[0],
        "the replaced key signs until the new one activates"
    );
    let mut rotated = String::new();
    eventually(
        Duration::from_secs(75),
        "A signing with the new key",
        async || {
            // A sign-in a second is enough to see it; a hundred would only fill the database.
            tokio::time::sleep(Duration::from_secs(1)).await;
            rotated = a.token("admin@water.test").await;
            signing_kid(&rotated) == new_kid
        },
    )
    .await;
    for (which, token) in [("the new key's", &rotated), ("the replaced key's", &token)] {
        let me = b
            .send(reqwest::Method::GET, "/api/v1/me", Some(token), None)
            .await;
        assert_eq!(me.status(), 200, "{which} token from A works on B");
    }

    // A dies without a word: B takes the signing over once A's lease lapses, and the new
    // entries get a checkpoint that extends the history A signed.
    let pid_b = b.pid();
    drop(a);
    for _ in 0..3 {
        b.download(&distribution).await;
    }
    let grown = platform.count("SELECT COUNT(*) AS n FROM ledger_entries");
    eventually(
        Duration::from_secs(40),
        "B signing after A died",
        async || {
            platform.count("SELECT COALESCE(MAX(size), 0) AS n FROM ledger_checkpoints") == grown
        },
    )
    .await;
    let signer = platform.signer().unwrap_or_default();
    assert!(
        signer.contains(&format!(":{pid_b}:")),
        "B took over: {signer}"
    );
    assert_eq!(b.metric("pdx_checkpoint_signer").await, Some(1.0));
    let consistency = b
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/ledger/proof/consistency?from={entries}&to={grown}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        consistency.status(),
        200,
        "the new checkpoint extends the old one"
    );
    let status = b.ledger_status().await;
    assert_eq!(status["verified"], true, "{status}");

    // Neither process keeps a key of its own: every key is in the database.
    assert!(!b.data_dir.path().join("keys").exists());
}
