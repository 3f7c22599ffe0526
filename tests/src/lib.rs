//! Harness for end-to-end tests: a real PDX server on a free port, with its own data
//! directory and disposable database (SQLite, or PostgreSQL per `PDX_TEST_DATABASE_URL`).

use pdx_server::{Application, Config};
use pdx_storage::testing::TestDatabase;

/// A running server and a client pointed at it; everything is removed on drop.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// An HTTP client that does not follow redirects, so tests see them.
    pub client: reqwest::Client,
    /// The server's database, for assertions on stored state.
    pub database: TestDatabase,
    _data_dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a server on a fresh database and waits until it is listening.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::empty();
        let data_dir = match tempfile::Builder::new().prefix("pdx-e2e-").tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a data directory: {error}"),
        };
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            database_url: Some(database.url().to_connection_string()),
            bind: "127.0.0.1:0".to_owned(),
            workers: Some(1),
            database_pool_size: 4,
            shutdown_timeout_secs: 1,
            ..Config::default()
        };
        adjust(&mut config);
        let app = match Application::build(config).await {
            Ok(app) => app,
            Err(error) => panic!("the server did not start: {error}"),
        };
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let server = tokio::spawn(async move {
            if let Err(error) = app.run_until_stopped().await {
                panic!("the server failed: {error}");
            }
        });
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(client) => client,
            Err(error) => panic!("cannot build an HTTP client: {error}"),
        };
        Self {
            base_url,
            client,
            database,
            _data_dir: data_dir,
            server,
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// GETs `path`, panicking if no response arrives at all.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        match self.client.get(self.url(path)).send().await {
            Ok(response) => response,
            Err(error) => panic!("GET {path} failed: {error}"),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Reads a response body as JSON, panicking with the body text when it is not JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(error) => panic!("not JSON ({error}): {text}"),
    }
}

/// The value of a response header as text.
pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}
