//! Forwarding one permitted call: the request PDX sends upstream (the caller's safe headers,
//! PDX's stamp, the credential), and the answer relayed back — its safe headers, and its body
//! streamed with an idle time limit, counted, and cut if it would carry the credential.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Future, Stream};
use tokio::sync::OwnedSemaphorePermit;

use pdx_licensing::exchange::CallResult;

use crate::breaker::Leave;
use crate::model::{Credential, Upstream};
use crate::paths::CallPath;

/// Request headers of the caller passed on to the upstream; every other one (the caller's
/// `Authorization` above all) stays with PDX.
const PASSED_ON: [&str; 9] = [
    "accept",
    "accept-language",
    "accept-encoding",
    "content-type",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "range",
];

/// Answer headers of the upstream passed back to the caller; every other one (cookies, the
/// upstream's server and authentication headers, links to it) stays with PDX.
const PASSED_BACK: [&str; 13] = [
    "content-type",
    "content-encoding",
    "content-language",
    "content-range",
    "content-disposition",
    "accept-ranges",
    "etag",
    "last-modified",
    "cache-control",
    "expires",
    "vary",
    "retry-after",
    "location",
];

/// Most bytes of a call's body forwarded.
pub const MAX_CALL_BODY: usize = 10 * 1024 * 1024;

/// Who and what a forwarded call is, told to the upstream in `X-PDX-*` headers so that its
/// own logs can name the receipt.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// The permit's ledger sequence number.
    pub ledger_seq: u64,
    /// The request id.
    pub request_id: Option<String>,
    /// The calling organisation (none: anonymous).
    pub consumer: Option<String>,
    /// The declared purpose.
    pub purpose: Option<String>,
}

/// One call to forward.
#[derive(Debug)]
pub struct Outbound {
    /// The method.
    pub method: reqwest::Method,
    /// The path below the base.
    pub path: CallPath,
    /// The query string as sent.
    pub query: Option<String>,
    /// The caller's request headers (only some are passed on).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The caller's body.
    pub body: Option<Bytes>,
    /// PDX's stamp.
    pub stamp: Stamp,
    /// The path the gateway answers under for this API (for `Location`), without a
    /// trailing `/`.
    pub public_prefix: String,
}

/// What is told when a call ends.
pub type OnEnd = Box<dyn FnOnce(CallResult) + Send + 'static>;

/// Why a call got no answer to relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The upstream did not begin its answer in time.
    Timeout,
    /// The upstream could not be reached.
    Unreachable,
    /// The upstream failed (a 5xx answer).
    ServerError(u16),
    /// The upstream refused PDX's credential (401).
    CredentialRefused,
}

impl Failure {
    /// The reason code written to the ledger and the problem.
    pub fn code(self) -> &'static str {
        match self {
            Self::Timeout => "upstream_timeout",
            Self::Unreachable => "upstream_unreachable",
            Self::ServerError(_) => "upstream_error",
            Self::CredentialRefused => "upstream_refused_credential",
        }
    }
}

/// The upstream's answer, ready to relay.
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// The headers passed back.
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// Its length, when the upstream declared it.
    pub length: Option<u64>,
    /// Its body.
    pub body: RelayBody,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// A call the gateway readied: the upstream, a place in its concurrency and leave from its
/// circuit breaker.
#[derive(Debug)]
pub struct Call {
    pub(crate) upstream: Arc<Upstream>,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) leave: Leave,
}

/// How a call ended, told once: by the call, or, when the caller goes away before the upstream
/// has answered (the forwarding is dropped), as `caller_gone` when this is dropped.
struct Ending {
    on_end: Option<OnEnd>,
    started: Instant,
}

impl Ending {
    fn tell(mut self, result: CallResult) {
        if let Some(on_end) = self.on_end.take() {
            on_end(result);
        }
    }

    /// The telling, handed on to the body that relays the answer.
    fn hand_on(mut self) -> Option<OnEnd> {
        self.on_end.take()
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            on_end(CallResult {
                status: None,
                relayed: false,
                reason: "caller_gone",
                bytes: 0,
                latency_ms: ms,
                duration_ms: ms,
            });
        }
    }
}

/// Sends the call and returns the answer to relay, or why there is none. `on_end` is told how
/// the call ended exactly once: at once on a failure, else when the body ends or is dropped,
/// or when the caller stops waiting before the upstream answers.
pub(crate) async fn forward(
    client: &reqwest::Client,
    call: Call,
    outbound: Outbound,
    on_end: OnEnd,
) -> Result<Answer, Failure> {
    let started = Instant::now();
    let ending = Ending {
        on_end: Some(on_end),
        started,
    };
    let Call {
        upstream,
        permit,
        leave,
    } = call;
    let timeout = Duration::from_millis(u64::from(upstream.timeout_ms));
    let url = target(&upstream, &outbound);
    let mut request = client.request(outbound.method.clone(), url);
    for (name, value) in &outbound.headers {
        let lower = name.to_ascii_lowercase();
        if PASSED_ON.contains(&lower.as_str())
            && (lower != "content-type" || outbound.body.is_some())
        {
            request = request.header(lower, value.as_slice());
        }
    }
    let stamp = &outbound.stamp;
    request = request.header("x-pdx-ledger-seq", stamp.ledger_seq.to_string());
    for (name, value) in [
        ("x-pdx-request-id", &stamp.request_id),
        ("x-pdx-consumer", &stamp.consumer),
        ("x-pdx-purpose", &stamp.purpose),
    ] {
        if let Some(value) = value {
            request = request.header(name, value.as_str());
        }
    }
    request = match &upstream.credential {
        Credential::Header { name, value } => request.header(name.as_str(), value.as_str()),
        Credential::Bearer { token } => request.bearer_auth(token),
        Credential::Basic { username, password } => request.basic_auth(username, Some(password)),
        Credential::Query { .. } | Credential::None => request,
    };
    if let Some(body) = outbound.body {
        request = request.body(body);
    }
    let elapsed = |since: Instant| u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
    // A failure is reported at once; the circuit counts it when `leave` is given.
    let fail = |failure: Failure, status: Option<u16>, leave: Option<Leave>, ending: Ending| {
        if let Some(leave) = leave {
            leave.failed();
        }
        let ms = elapsed(started);
        ending.tell(CallResult {
            status,
            relayed: false,
            reason: failure.code(),
            bytes: 0,
            latency_ms: ms,
            duration_ms: ms,
        });
        Err(failure)
    };
    let response = match tokio::time::timeout(timeout, request.send()).await {
        Ok(Ok(response)) => response,
        Err(_) => return fail(Failure::Timeout, None, Some(leave), ending),
        Ok(Err(error)) if error.is_timeout() => {
            return fail(Failure::Timeout, None, Some(leave), ending);
        }
        Ok(Err(error)) => {
            // Without its URL, which may carry a query credential.
            tracing::warn!(error = %error.without_url(), distribution = %upstream.distribution_id, "upstream unreachable");
            return fail(Failure::Unreachable, None, Some(leave), ending);
        }
    };
    let status = response.status().as_u16();
    if status >= 500 {
        return fail(
            Failure::ServerError(status),
            Some(status),
            Some(leave),
            ending,
        );
    }
    if status == 401 {
        // PDX's own credential was refused: the publisher's configuration is at fault, not
        // the caller's, and the circuit does not count it.
        drop(leave);
        return fail(Failure::CredentialRefused, Some(status), None, ending);
    }
    leave.succeeded();
    let secrets = upstream.credential.secrets();
    let headers = passed_back(&response, &upstream, &outbound.public_prefix, &secrets);
    let length = response.content_length();
    let head = outbound.method == reqwest::Method::HEAD;
    let body = RelayBody {
        inner: if head {
            Box::pin(futures_util::stream::empty())
        } else {
            Box::pin(response.bytes_stream())
        },
        idle: timeout,
        timer: Box::pin(tokio::time::sleep(timeout)),
        hold: secrets.iter().map(Vec::len).max().unwrap_or(1) - 1,
        secrets,
        pending: BytesMut::new(),
        done: false,
        bytes: 0,
        status,
        started,
        latency_ms: elapsed(started),
        on_end: ending.hand_on(),
        _permit: permit,
    };
    Ok(Answer {
        status,
        headers,
        length: if head { None } else { length },
        body,
    })
}

/// The URL a call goes to: the base, the path as sent, the query as sent (a query credential
/// replacing any parameter of its name).
fn target(upstream: &Upstream, outbound: &Outbound) -> reqwest::Url {
    let mut url = upstream.base_url.clone();
    let base = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{base}/{}", outbound.path.raw()));
    url.set_query(outbound.query.as_deref().filter(|q| !q.is_empty()));
    if let Credential::Query { name, value } = &upstream.credential {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != name)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut pairs = url.query_pairs_mut();
        pairs.clear();
        for (k, v) in &kept {
            pairs.append_pair(k, v);
        }
        pairs.append_pair(name, value);
    }
    url
}

/// The answer's headers that go back to the caller: the safe ones, none carrying a secret, a
/// `Location` into the upstream turned into one into the gateway.
fn passed_back(
    response: &reqwest::Response,
    upstream: &Upstream,
    public_prefix: &str,
    secrets: &[Vec<u8>],
) -> Vec<(&'static str, Vec<u8>)> {
    let mut headers = Vec::new();
    for name in PASSED_BACK {
        for value in response.headers().get_all(name) {
            let bytes = value.as_bytes();
            if secrets.iter().any(|s| contains(bytes, s)) {
                tracing::warn!(distribution = %upstream.distribution_id, header = name, "an upstream header carried the credential: dropped");
                continue;
            }
            if name == "location" {
                if let Some(location) = relocated(bytes, upstream, public_prefix) {
                    headers.push((name, location));
                }
                continue;
            }
            headers.push((name, bytes.to_vec()));
        }
    }
    headers
}

/// A `Location` as the caller may follow it: a path (relative to the call, or into the
/// gateway for one into the upstream's base); one leading anywhere else is dropped.
fn relocated(value: &[u8], upstream: &Upstream, public_prefix: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(value).ok()?;
    let base = upstream.base_url.as_str().trim_end_matches('/');
    if let Some(rest) = text.strip_prefix(base) {
        return (rest.is_empty() || rest.starts_with(['/', '?']))
            .then(|| format!("{public_prefix}{rest}").into_bytes());
    }
    let base_path = upstream.base_url.path().trim_end_matches('/');
    if text.starts_with('/') {
        // Absolute path on the upstream's host: only below the base.
        let rest = text.strip_prefix(base_path)?;
        return (rest.is_empty() || rest.starts_with(['/', '?']))
            .then(|| format!("{public_prefix}{rest}").into_bytes());
    }
    // A relative reference resolves the same below the gateway as below the base; anything
    // with a scheme leads elsewhere.
    (!text.contains(':') && !text.starts_with("//")).then(|| value.to_vec())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The upstream's body as relayed.
pub struct RelayBody {
    inner: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// Secrets that must not pass; the last `hold` bytes are held back until the next part
    /// shows that they do not begin one.
    secrets: Vec<Vec<u8>>,
    hold: usize,
    pending: BytesMut,
    /// The upstream's body has ended.
    done: bool,
    bytes: u64,
    status: u16,
    started: Instant,
    latency_ms: u64,
    on_end: Option<OnEnd>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for RelayBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayBody")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl RelayBody {
    fn end(&mut self, relayed: bool, reason: &'static str) {
        if let Some(on_end) = self.on_end.take() {
            on_end(CallResult {
                status: Some(self.status),
                relayed,
                reason,
                bytes: self.bytes,
                latency_ms: self.latency_ms,
                duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
    }

    fn cut(&mut self, reason: &'static str) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        self.end(false, reason);
        Poll::Ready(Some(Err(std::io::Error::other(
            "the upstream's answer broke off",
        ))))
    }
}

impl Stream for RelayBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.on_end.is_none() {
                return Poll::Ready(None);
            }
            if this.done {
                if !this.pending.is_empty() {
                    let rest = this.pending.split().freeze();
                    this.bytes += rest.len() as u64;
                    return Poll::Ready(Some(Ok(rest)));
                }
                this.end(true, "answered");
                return Poll::Ready(None);
            }
            let chunk = match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => chunk,
                Poll::Ready(Some(Err(error))) => {
                    let reason = if error.is_timeout() {
                        "upstream_timeout"
                    } else {
                        "upstream_interrupted"
                    };
                    return this.cut(reason);
                }
                Poll::Ready(None) => {
                    this.done = true;
                    continue;
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        return this.cut("upstream_timeout");
                    }
                    return Poll::Pending;
                }
            };
            this.timer
                .as_mut()
                .reset(tokio::time::Instant::now() + this.idle);
            if this.secrets.is_empty() {
                this.bytes += chunk.len() as u64;
                return Poll::Ready(Some(Ok(chunk)));
            }
            this.pending.extend_from_slice(&chunk);
            if this.secrets.iter().any(|s| contains(&this.pending, s)) {
                tracing::warn!("an upstream answer carried the credential: cut");
                return this.cut("credential_in_answer");
            }
            let ready = this.pending.len().saturating_sub(this.hold);
            let out = this.pending.split_to(ready).freeze();
            if out.is_empty() {
                // All of it is held back until the next part shows it begins no secret.
                continue;
            }
            this.bytes += out.len() as u64;
            return Poll::Ready(Some(Ok(out)));
        }
    }
}

impl Drop for RelayBody {
    fn drop(&mut self) {
        // The caller went away before the answer ended.
        self.end(false, "caller_gone");
    }
}
