//! Harness for end-to-end tests: a real PDX server on a free port, with its own data
//! directory and disposable database (SQLite, or PostgreSQL per `PDX_TEST_DATABASE_URL`).

use pdx_access::AccessService;
use pdx_access::model::{Organization, User};
use pdx_access::service::OrganizationInput;
use pdx_core::{OrgKind, Role};
use pdx_server::{Application, Config};

/// The password of every user made by `TestServer::create_user`.
pub const PASSWORD: &str = "correct horse battery staple";

/// Percent-encodes everything but ASCII letters and digits, for query-string values.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `application/x-www-form-urlencoded` encoding of pairs.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn escape(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}
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
    /// The configuration the server runs with.
    pub config: Config,
    /// The demo accounts, when started with `spawn_demo`.
    pub demo_accounts: Vec<pdx_server::demo::DemoAccount>,
    _data_dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts a server on a fresh database and waits until it is listening.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server with the demo catalog loaded.
    pub async fn spawn_demo() -> Self {
        Self::start(|_| {}, true).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(adjust, false).await
    }

    async fn start(adjust: impl FnOnce(&mut Config), demo: bool) -> Self {
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
        // Cheap hashing keeps the suite fast; the OWASP defaults are tested in pdx-access.
        config.auth.argon2_memory_kib = 1024;
        config.auth.argon2_iterations = 1;
        config.ledger.checkpoint_interval_ms = 50;
        adjust(&mut config);
        let app = match Application::build(config.clone()).await {
            Ok(app) => app,
            Err(error) => panic!("the server did not start: {error}"),
        };
        let demo_accounts = if demo {
            match app.load_demo().await {
                Ok(accounts) => accounts,
                Err(error) => panic!("the demo did not load: {error}"),
            }
        } else {
            Vec::new()
        };
        let base_url = format!("http://127.0.0.1:{}", app.port());
        config.public_url = Some(app.public_url().to_owned());
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
            config,
            demo_accounts,
            _data_dir: data_dir,
            server,
        }
    }

    /// Starts a [`Sibling`] of this server. Tokens either issues are valid on both.
    pub async fn sibling(&self) -> Sibling {
        let config = Config {
            bind: "127.0.0.1:0".to_owned(),
            ..self.config.clone()
        };
        let app = match Application::build(config).await {
            Ok(app) => app,
            Err(error) => panic!("the second server did not start: {error}"),
        };
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let server = tokio::spawn(async move {
            if let Err(error) = app.run_until_stopped().await {
                panic!("the second server failed: {error}");
            }
        });
        Sibling { base_url, server }
    }

    /// Access control over the server's own database and keys, as `pdx admin` uses it.
    pub fn operator(&self) -> AccessService {
        let url = self.database.url().clone();
        let database =
            match pdx_storage::Database::connect(&url, pdx_storage::PoolOptions::default()) {
                Ok(database) => database,
                Err(error) => panic!("cannot connect to the server's database: {error}"),
            };
        let public_url = self.config.public_url.clone().unwrap_or_default();
        match pdx_server::app::open_access(&self.config, database, &public_url) {
            Ok(access) => access,
            Err(error) => panic!("cannot open access control: {error}"),
        }
    }

    /// Creates an organisation as an operator; returns it.
    pub async fn create_org(&self, slug: &str, kind: OrgKind) -> Organization {
        let created = self
            .operator()
            .create_organization_as_operator(OrganizationInput {
                name: format!("Organisation {slug}"),
                slug: Some(slug.to_owned()),
                kind,
                credit_code: None,
                contact_email: None,
                contact_phone: None,
            })
            .await;
        match created {
            Ok(organization) => organization,
            Err(error) => panic!("cannot create {slug}: {error}"),
        }
    }

    /// Creates a user with a known password in an organisation (by slug) as an operator.
    pub async fn create_user(&self, org: &str, email: &str, roles: &[Role]) -> User {
        let created = self
            .operator()
            .create_user_as_operator(org, email, email, PASSWORD, roles.to_vec(), false)
            .await;
        match created {
            Ok(user) => user,
            Err(error) => panic!("cannot create {email}: {error}"),
        }
    }

    /// Signs in with the password grant; panics unless it succeeds. Returns the token response.
    pub async fn sign_in(&self, email: &str, password: &str) -> serde_json::Value {
        let response = self
            .token(&[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ])
            .await;
        let status = response.status();
        let body = json(response).await;
        assert_eq!(status, 200, "sign-in of {email} failed: {body}");
        body
    }

    /// Signs in and returns just the access token.
    pub async fn access_token(&self, email: &str) -> String {
        let password = if email.ends_with("demo.pdx") {
            pdx_server::demo::DEMO_PASSWORD
        } else {
            PASSWORD
        };
        let tokens = self.sign_in(email, password).await;
        tokens["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// POSTs a form to the token endpoint.
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        let body = form_encode(form);
        let sent = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => response,
            Err(error) => panic!("POST /api/v1/auth/token failed: {error}"),
        }
    }

    /// Creates a dataset from `body` as `publisher`, uploads `csv` as its one distribution,
    /// submits it and has `reviewer` publish it; returns the distribution's id.
    pub async fn publish_dataset(
        &self,
        publisher: &str,
        reviewer: &str,
        body: serde_json::Value,
        csv: &str,
    ) -> String {
        let slug = body["slug"].as_str().unwrap_or_default().to_owned();
        let created = self
            .call(
                reqwest::Method::POST,
                "/api/v1/datasets",
                Some(publisher),
                Some(body),
            )
            .await;
        assert_eq!(created.status(), 201);
        let distribution = self.upload_csv(publisher, &slug, csv).await;
        let submit = format!("/api/v1/datasets/{slug}/submit");
        self.call(reqwest::Method::POST, &submit, Some(publisher), None)
            .await;
        let publish = format!("/api/v1/datasets/{slug}/publish");
        let published = self
            .call(reqwest::Method::POST, &publish, Some(reviewer), None)
            .await;
        assert_eq!(published.status(), 200);
        distribution
    }

    /// Uploads `csv` as a distribution of the dataset `slug` (a draft or a pending revision);
    /// returns the distribution's id.
    pub async fn upload_csv(&self, publisher: &str, slug: &str, csv: &str) -> String {
        let upload = self
            .client
            .post(self.url(&format!("/api/v1/datasets/{slug}/distributions")))
            .bearer_auth(publisher)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await;
        let Ok(upload) = upload else {
            panic!("the upload failed")
        };
        assert_eq!(upload.status(), 201);
        json(upload).await["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Starts a revision of the published dataset `slug` as `publisher` and replaces the
    /// revision's metadata with `body`; returns the owner's view of the revision.
    pub async fn revise_dataset(
        &self,
        publisher: &str,
        slug: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let revise = format!("/api/v1/datasets/{slug}/revise");
        let revised = self
            .call(reqwest::Method::POST, &revise, Some(publisher), None)
            .await;
        assert_eq!(revised.status(), 200);
        let edited = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/datasets/{slug}"),
                Some(publisher),
                Some(body),
            )
            .await;
        assert_eq!(edited.status(), 200);
        json(edited).await
    }

    /// Submits the draft (or revision) `slug` as `publisher` and has `reviewer` publish it.
    pub async fn submit_and_publish(&self, publisher: &str, reviewer: &str, slug: &str) {
        let submit = format!("/api/v1/datasets/{slug}/submit");
        let submitted = self
            .call(reqwest::Method::POST, &submit, Some(publisher), None)
            .await;
        assert_eq!(submitted.status(), 200);
        let publish = format!("/api/v1/datasets/{slug}/publish");
        let published = self
            .call(reqwest::Method::POST, &publish, Some(reviewer), None)
            .await;
        assert_eq!(published.status(), 200);
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => response,
            Err(error) => panic!("{method} {path} failed: {error}"),
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

/// A second server on a [`TestServer`]'s database, data directory and keys, as another
/// `pdx serve` process sharing them would be: its own caches and its own ledger appender.
#[derive(Debug)]
pub struct Sibling {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Sibling {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for Sibling {
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
