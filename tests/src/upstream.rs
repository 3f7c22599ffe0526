//! A real HTTP server standing in for an agency's live API behind the gateway: it records
//! every request it receives (so tests can see what reached it, and what did not) and has
//! routes that answer well, slowly, with a failure, at length, with a redirect, with cookies,
//! by echoing every header it received, and one that holds each call a moment while it counts
//! how many it holds at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string.
    pub query: String,
    /// Every header, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The value of a header, when it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The running upstream.
#[derive(Debug)]
pub struct TestUpstream {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    held: Arc<Held>,
    server: actix_web::dev::ServerHandle,
}

/// Calls `/v1/hold` holds now, and the most it held at once.
#[derive(Debug, Default)]
struct Held {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// How long `/v1/hold` holds a call.
pub const HOLD: Duration = Duration::from_millis(300);

/// Bytes of `/v1/big`'s answer.
pub const BIG: usize = 1 << 20;

/// What `/v1/bench/…` answers: a small JSON document, as a live API's record would be.
const BENCH_ANSWER: &str = r#"{"stop":"1024","route":"M375","vehicle":"粤B·D1234","lat":22.5431,"lon":114.0579,"speed_kmh":31.5,"heading":87,"occupancy":"many_seats","reported_at":"2026-12-02T08:15:30Z"}"#;

async fn record(
    req: HttpRequest,
    body: web::Bytes,
    recorded: web::Data<Arc<Mutex<Vec<Recorded>>>>,
    held: web::Data<Arc<Held>>,
) -> HttpResponse {
    if req.path() == "/v1/hold" {
        let now = held.now.fetch_add(1, Ordering::SeqCst) + 1;
        held.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(HOLD).await;
        held.now.fetch_sub(1, Ordering::SeqCst);
        return HttpResponse::Ok().body("held");
    }
    if req.path().starts_with("/v1/bench-5ms/") {
        // For benchmarks: an API that takes 5 ms to look its answer up, as one backed by a
        // database would.
        tokio::time::sleep(Duration::from_millis(5)).await;
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(BENCH_ANSWER);
    }
    if req.path().starts_with("/v1/bench/") {
        // For benchmarks: answered at once and not recorded.
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(BENCH_ANSWER);
    }
    let entry = Recorded {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(entry.clone());
    let path = entry.path.as_str();
    match path {
        "/v1/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            HttpResponse::Ok().body("late")
        }
        "/v1/fail" => HttpResponse::InternalServerError().body("stack trace: db password hunter2"),
        "/v1/unauthorised" => HttpResponse::Unauthorized().body("who are you"),
        "/v1/big" => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(vec![b'x'; BIG]),
        "/v1/redirect" => HttpResponse::Found()
            .insert_header(("location", format!("{}/v1/stops/1", base_of(&req))))
            .finish(),
        "/v1/away" => HttpResponse::Found()
            .insert_header(("location", "https://elsewhere.example/"))
            .finish(),
        "/v1/cookie" => HttpResponse::Ok()
            .insert_header(("set-cookie", "upstream_session=1"))
            .insert_header(("x-internal-host", "db01.agency.internal"))
            .insert_header(("etag", "\"v1\""))
            .body("ok"),
        "/v1/echo-headers" => {
            // A debugging endpoint that echoes what it was sent — the credential included.
            let mut text = String::new();
            for (name, value) in &entry.headers {
                text.push_str(&format!("{name}: {value}\n"));
            }
            HttpResponse::Ok().content_type("text/plain").body(text)
        }
        _ => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("cache-control", "max-age=5"))
            .body(
                serde_json::json!({
                    "path": entry.path,
                    "query": entry.query,
                    "method": entry.method,
                    "body": String::from_utf8_lossy(&entry.body),
                })
                .to_string(),
            ),
    }
}

fn base_of(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

impl TestUpstream {
    /// Starts the upstream on a free port of the loopback interface.
    pub async fn start() -> Self {
        let recorded: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let held: Arc<Held> = Arc::default();
        let data = web::Data::new(Arc::clone(&recorded));
        let held_data = web::Data::new(Arc::clone(&held));
        let server = match HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(held_data.clone())
                .default_service(web::to(record))
        })
        .workers(2)
        .disable_signals()
        .bind("127.0.0.1:0")
        {
            Ok(server) => server,
            Err(error) => panic!("the upstream could not bind: {error}"),
        };
        let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            recorded,
            held,
            server: handle,
        }
    }

    /// The most calls to `/v1/hold` it held at once.
    pub fn most_held_at_once(&self) -> usize {
        self.held.most.load(Ordering::SeqCst)
    }

    /// The requests received so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        let handle = self.server.clone();
        drop(handle.stop(false));
    }
}
