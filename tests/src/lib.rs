//! Harness for end-to-end tests: a real PDX server on a free port, with its own data
//! directory and disposable database (SQLite, or PostgreSQL per `PDX_TEST_DATABASE_URL`), and
//! its e-mail read back from the outbox directory.

pub mod relay;
pub mod upstream;

use pdx_access::AccessService;
use pdx_access::model::{Organization, User};
use pdx_access::service::OrganizationInput;
use pdx_core::{OrgKind, Role};
use pdx_server::{Application, Config};

/// The password of every user made by `TestServer::create_user`.
pub const PASSWORD: &str = "correct horse battery staple";

/// Residents of a city as a CSV file of `rows` rows (about 60 bytes each): an id number
/// (sensitive), a name, a district (of four), a birth date, a phone number and an amount.
pub fn residents_csv(rows: usize) -> String {
    use std::fmt::Write as _;
    let districts = ["Futian", "Luohu", "Nanshan", "Bao'an"];
    let mut csv = String::from("id_number,name,district,born,phone,amount\n");
    for i in 0..rows {
        let _ = writeln!(
            csv,
            "11010119{:02}0{}07{:04},Resident {i},{},19{:02}-0{}-1{},1380013{:04},{}.5",
            60 + i % 40,
            1 + i % 9,
            i % 10_000,
            districts[i % 4],
            60 + i % 40,
            1 + i % 9,
            i % 10,
            i % 10_000,
            i % 1000,
        );
    }
    csv
}

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
        Self::start(|_| {}, true, None).await
    }

    /// Starts a server with the demo catalog loaded, after `adjust` has changed its
    /// configuration.
    pub async fn spawn_demo_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(adjust, true, None).await
    }

    /// Starts a server after `adjust` has changed its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start(adjust, false, None).await
    }

    /// Starts a server whose every decision, token and ledger entry takes the time from
    /// `clock`, after `adjust` has changed its configuration.
    pub async fn spawn_at(
        clock: std::sync::Arc<dyn pdx_core::Clock>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start(adjust, false, Some(clock)).await
    }

    async fn start(
        adjust: impl FnOnce(&mut Config),
        demo: bool,
        clock: Option<std::sync::Arc<dyn pdx_core::Clock>>,
    ) -> Self {
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
        // On PostgreSQL the master key is given, as every server process of it is.
        let on_postgres = config
            .database_url()
            .is_ok_and(|url| url.backend() == pdx_storage::Backend::Postgres);
        if on_postgres && config.keys.master_key.is_none() && config.keys.master_key_file.is_none()
        {
            match pdx_storage::vault::MasterKey::generate() {
                Ok(key) => config.keys.master_key = Some(key.encoded()),
                Err(error) => panic!("cannot generate a master key: {error}"),
            }
        }
        let clock = clock.unwrap_or_else(|| std::sync::Arc::new(pdx_core::SystemClock));
        let app = match Application::build_with_clock(config.clone(), clock).await {
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

    /// Starts a [`Sibling`] of this server: another process on the same database with a data
    /// directory of its own, given the same master key (and, as a shared volume, the same
    /// blob directory unless the blobs are in a bucket). Tokens either issues are valid on
    /// both.
    pub async fn sibling(&self) -> Sibling {
        let data_dir = match tempfile::Builder::new()
            .prefix("pdx-e2e-sibling-")
            .tempdir()
        {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a data directory: {error}"),
        };
        let mut config = Config {
            bind: "127.0.0.1:0".to_owned(),
            data_dir: data_dir.path().to_path_buf(),
            ..self.config.clone()
        };
        if self.config.keys.master_key.is_none() && self.config.keys.master_key_file.is_none() {
            config.keys.master_key_file =
                Some(pdx_server::keys::default_master_key_file(&self.config));
        }
        if config.catalog.blob_store.is_none() {
            config.catalog.blob_store =
                Some(self.config.data_dir.join("blobs").display().to_string());
        }
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
        Sibling {
            base_url,
            server,
            _data_dir: data_dir,
        }
    }

    /// The server's vault (its keys in the database), opened with its master key.
    pub fn vault(&self) -> pdx_storage::vault::Vault {
        let database = match pdx_storage::Database::connect(
            &self.operator_url(),
            pdx_storage::PoolOptions::default(),
        ) {
            Ok(database) => database,
            Err(error) => panic!("cannot connect to the server's database: {error}"),
        };
        match pdx_server::keys::open_vault(&self.config, &database) {
            Ok((vault, _)) => vault,
            Err(error) => panic!("cannot open the server's vault: {error}"),
        }
    }

    /// The database an operator reaches directly: a SQLite file the configuration names, or
    /// else the test database (never through a proxy a test may have put in between).
    fn operator_url(&self) -> pdx_storage::DatabaseUrl {
        match self.config.database_url() {
            Ok(url) if url.backend() == pdx_storage::Backend::Sqlite => url,
            _ => self.database.url().clone(),
        }
    }

    /// Access control over the server's own database and keys, as `pdx admin` uses it.
    pub fn operator(&self) -> AccessService {
        let url = self.operator_url();
        let database =
            match pdx_storage::Database::connect(&url, pdx_storage::PoolOptions::default()) {
                Ok(database) => database,
                Err(error) => panic!("cannot connect to the server's database: {error}"),
            };
        let public_url = self.config.public_url.clone().unwrap_or_default();
        match pdx_server::app::open_access(
            &self.config,
            database,
            &self.vault(),
            &public_url,
            std::sync::Arc::new(pdx_core::SystemClock),
        ) {
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
        let tokens = self.sign_in(email, password_of(email)).await;
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

    /// Has `enterprise` request the dataset `slug` for research (30 days) and `reviewer`
    /// approve it with `approval` (the reviewer's terms); returns the grant's id.
    pub async fn grant(
        &self,
        enterprise: &str,
        reviewer: &str,
        slug: &str,
        approval: serde_json::Value,
    ) -> String {
        let request = self
            .call(
                reqwest::Method::POST,
                "/api/v1/access-requests",
                Some(enterprise),
                Some(serde_json::json!({
                    "dataset": slug, "purpose": "research",
                    "statement": "A study for the city", "term_days": 30
                })),
            )
            .await;
        assert_eq!(request.status(), 201);
        let id = json(request).await["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let approved = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/access-requests/{id}/approve"),
                Some(reviewer),
                Some(approval),
            )
            .await;
        assert_eq!(approved.status(), 200);
        json(approved).await["grant"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
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

    /// Sends `GET path` with `headers` over a connection of its own and returns the connection
    /// unread: the caller decides when it goes away (drops it) while the server works.
    pub async fn send_get_and_hold(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> tokio::net::TcpStream {
        let address = self.base_url.trim_start_matches("http://");
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut connection = tokio::net::TcpStream::connect(address)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {address}: {e}"));
        tokio::io::AsyncWriteExt::write_all(&mut connection, request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("cannot send {path}: {e}"));
        connection
    }

    /// Every message the server has written to its outbox, oldest first.
    pub fn outbox(&self) -> Vec<Mail> {
        let dir = self.config.outbox_dir();
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
            .iter()
            .map(|path| match std::fs::read_to_string(path) {
                Ok(text) => Mail::parse(&text),
                Err(error) => panic!("cannot read {}: {error}", path.display()),
            })
            .collect()
    }

    /// The messages to `to` whose subject contains `subject`, oldest first.
    pub fn mail_to(&self, to: &str, subject: &str) -> Vec<Mail> {
        self.outbox()
            .into_iter()
            .filter(|mail| mail.to == to && mail.subject.contains(subject))
            .collect()
    }

    /// Waits (up to 10 s) until there are `count` messages to `to` with `subject` in their
    /// subject line, and returns the newest. Delivery is asynchronous, so tests wait for it.
    pub async fn wait_for_mail(&self, to: &str, subject: &str, count: usize) -> Mail {
        for _ in 0..500 {
            let mut found = self.mail_to(to, subject);
            if found.len() >= count
                && let Some(mail) = found.pop()
            {
                return mail;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "no message {count} to {to} about {subject:?}; outbox: {:?}",
            self.outbox()
        )
    }

    /// Registers an enterprise over HTTP and confirms it by the link e-mailed, with the
    /// password [`PASSWORD`]; returns the confirmation's answer (organisation and user).
    pub async fn register_enterprise(
        &self,
        email: &str,
        slug: &str,
        credit_code: &str,
    ) -> serde_json::Value {
        let requested = self
            .call(
                reqwest::Method::POST,
                "/api/v1/registrations",
                None,
                Some(serde_json::json!({
                    "email": email,
                    "display_name": "Li Wei",
                    "organization_name": format!("Enterprise {slug}"),
                    "slug": slug,
                    "credit_code": credit_code,
                })),
            )
            .await;
        let status = requested.status();
        assert_eq!(
            status,
            202,
            "registration of {email}: {}",
            json(requested).await
        );
        let previous = self.mail_to(email, "Confirm").len();
        let mail = self.wait_for_mail(email, "Confirm", previous.max(1)).await;
        let confirmed = self
            .call(
                reqwest::Method::POST,
                "/api/v1/registrations/confirm",
                None,
                Some(serde_json::json!({ "token": mail.token(), "password": PASSWORD })),
            )
            .await;
        let status = confirmed.status();
        let body = json(confirmed).await;
        assert_eq!(status, 201, "confirmation of {email}: {body}");
        body
    }

    /// Signs `email` in through the portal's form, as a browser would; returns the session
    /// cookie's value (`pdx_session`), whose attributes it checks.
    pub async fn portal_session(&self, email: &str) -> String {
        let form = self.get("/sign-in").await;
        let Some(bound) = set_cookie(&form, "pdx_form") else {
            panic!("the sign-in form sets no form cookie")
        };
        let token = match form.text().await {
            Ok(body) => hidden(&body, "csrf"),
            Err(error) => panic!("the sign-in form: {error}"),
        };
        let sent = self
            .client
            .post(self.url("/sign-in"))
            .header("cookie", format!("pdx_form={bound}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(&[
                ("csrf", &token),
                ("next", "/workspace"),
                ("email", email),
                ("password", password_of(email)),
            ]))
            .send()
            .await;
        let signed_in = match sent {
            Ok(response) => response,
            Err(error) => panic!("signing {email} in: {error}"),
        };
        assert_eq!(signed_in.status(), 303, "{email} signs in");
        assert_eq!(
            header(&signed_in, "location").as_deref(),
            Some("/workspace")
        );
        let raw = signed_in
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("pdx_session="))
            .unwrap_or_default()
            .to_owned();
        assert!(
            raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
            "{raw}"
        );
        assert!(!raw.contains("Secure"), "not over plain http: {raw}");
        match set_cookie(&signed_in, "pdx_session") {
            Some(session) => session,
            None => panic!("no session cookie for {email}"),
        }
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

/// A second server on a [`TestServer`]'s database and master key, as another `pdx serve`
/// process on another host would be: its own data directory, caches, search index and
/// ledger appender.
#[derive(Debug)]
pub struct Sibling {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    server: tokio::task::JoinHandle<()>,
    _data_dir: tempfile::TempDir,
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

/// One e-mail message from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The `To` address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The decoded plain-text body.
    pub body: String,
}

impl Mail {
    /// Parses the little of RFC 5322 and MIME that PDX's plain-text messages use.
    pub fn parse(text: &str) -> Self {
        let text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        // Unfold continuation lines.
        let head = head.replace("\n ", " ").replace("\n\t", " ");
        let header = |name: &str| {
            head.lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let to = header("To");
        let to = match (to.find('<'), to.find('>')) {
            (Some(start), Some(end)) if start < end => to[start + 1..end].to_owned(),
            _ => to,
        };
        let body = match header("Content-Transfer-Encoding")
            .to_ascii_lowercase()
            .as_str()
        {
            "base64" => {
                use base64::Engine;
                let compact: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            "quoted-printable" => decode_quoted_printable(body),
            _ => body.to_owned(),
        };
        Self {
            to,
            subject: header("Subject"),
            body,
        }
    }

    /// The one-time token of the first link in the message (`…?token=<token>`).
    pub fn token(&self) -> String {
        let Some(start) = self.body.find("token=") else {
            panic!("no link with a token in: {}", self.body)
        };
        self.body[start + "token=".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let mut bytes = Vec::with_capacity(joined.len());
    let raw = joined.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'='
            && i + 2 < raw.len() + 1
            && let Some(hex) = joined.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            bytes.push(byte);
            i += 3;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
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

/// The password of a demo user, or of one made by `TestServer::create_user`.
fn password_of(email: &str) -> &'static str {
    if email.ends_with("demo.pdx") {
        pdx_server::demo::DEMO_PASSWORD
    } else {
        PASSWORD
    }
}

/// The value of a cookie set by a response.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

/// The value of a form's hidden field `name` in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    match body
        .split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
    {
        Some(value) => value.to_owned(),
        None => panic!("no hidden {name} on the page"),
    }
}

/// Asserts a problem+json refusal with this status and stable code; returns its body.
pub async fn expect_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    let got = response.status().as_u16();
    let content_type = header(&response, "content-type");
    let body = json(response).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{body}"
    );
    assert_eq!(body["code"], code, "{body}");
    body
}
