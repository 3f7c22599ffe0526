//! E-mail to account holders (confirmations, invitations, password resets): composed here,
//! queued, and delivered in the background by SMTP or, with no SMTP configured, written as one
//! `.eml` file per message (mode 0600) to an outbox directory. Requests never wait for delivery,
//! so neither a slow relay nor the presence of an account shows in how long an answer takes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::mpsc;

use crate::error::AccessError;
use crate::throttle::{RateLimiter, Refusal};

/// Messages waiting for delivery before further ones are dropped (and logged).
const QUEUE: usize = 1024;
/// Delivery attempts per message over SMTP.
const ATTEMPTS: u32 = 3;

/// Where and how e-mail goes; built from the `[mail]` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The `From` header, e.g. `PDX <no-reply@data.example.gov>`.
    pub from: String,
    /// An SMTP relay URL (`smtps://user:pass@host:465`, `smtp://host:587?tls=required`);
    /// none writes messages to `outbox_dir` instead.
    pub smtp_url: Option<String>,
    /// Where messages go without SMTP.
    pub outbox_dir: PathBuf,
    /// The base of the links in messages (`<public_url>/confirm?token=…`).
    pub public_url: String,
    /// Messages to one address per hour; further ones are not sent (0: unlimited).
    pub per_recipient_per_hour: u32,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

struct Inner {
    from: Mailbox,
    public_url: String,
    transport: Arc<Transport>,
    queue: OnceLock<mpsc::Sender<Message>>,
    recipients: RateLimiter,
}

/// Queues e-mail for delivery. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.inner.from.to_string())
            .field("delivery", &self.delivery())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for these settings; an unusable `from` or SMTP URL is refused here, at start.
    pub fn new(settings: &MailSettings) -> Result<Self, AccessError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| AccessError::invalid("mail.from", format!("not a mailbox: {e}")))?;
        let transport = match settings.smtp_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| AccessError::invalid("mail.smtp_url", e.to_string()))?
                    .timeout(Some(Duration::from_secs(30)))
                    .build(),
            ),
            None => Transport::Outbox(settings.outbox_dir.clone()),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                from,
                public_url: settings.public_url.trim_end_matches('/').to_owned(),
                transport: Arc::new(transport),
                queue: OnceLock::new(),
                recipients: RateLimiter::new(
                    "mail_recipients",
                    settings.per_recipient_per_hour,
                    Duration::from_secs(3600),
                ),
            }),
        })
    }

    /// Exchanges the per-recipient counts with the other server processes.
    pub fn sync_limits(
        &self,
        conn: &mut pdx_storage::DbConnection,
    ) -> Result<(), pdx_storage::StorageError> {
        self.inner.recipients.sync(conn)
    }

    /// Where messages go, for the log: `smtp` or the outbox directory.
    pub fn delivery(&self) -> String {
        match self.inner.transport.as_ref() {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
        }
    }

    /// The outbox directory, when messages are written there.
    pub fn outbox(&self) -> Option<&Path> {
        match self.inner.transport.as_ref() {
            Transport::Outbox(dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// An absolute link into the portal, carrying a one-time token.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.inner.public_url)
    }

    /// The portal's base URL.
    pub fn public_url(&self) -> &str {
        &self.inner.public_url
    }

    /// Whether another message to `to` would be sent now, without counting one.
    pub fn may_send(&self, to: &str) -> Result<(), Refusal> {
        self.inner.recipients.check(&to.to_lowercase())
    }

    /// Queues a message; returns false when it was not queued (the recipient had enough this
    /// hour, the address is unusable, or the queue is full), which is logged.
    pub fn send(&self, mail: Mail) -> bool {
        if self.inner.recipients.hit(&mail.to.to_lowercase()).is_err() {
            tracing::info!(subject = %mail.subject, "e-mail not sent: the recipient had enough this hour");
            return false;
        }
        let message = match self.compose(&mail) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, subject = %mail.subject, "e-mail not sent: cannot compose it");
                return false;
            }
        };
        let Some(queue) = self.queue() else {
            tracing::error!("e-mail not sent: no async runtime to deliver it");
            return false;
        };
        match queue.try_send(message) {
            Ok(()) => true,
            Err(_) => {
                tracing::error!(subject = %mail.subject, "e-mail not sent: the delivery queue is full");
                false
            }
        }
    }

    fn compose(&self, mail: &Mail) -> Result<Message, String> {
        let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
        Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())
    }

    fn queue(&self) -> Option<&mpsc::Sender<Message>> {
        if let Some(queue) = self.inner.queue.get() {
            return Some(queue);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(self.inner.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            runtime.spawn(deliver(receiver, self.inner.transport.clone()));
            sender
        }))
    }
}

/// Delivers queued messages one after another until every sender is gone.
async fn deliver(mut queue: mpsc::Receiver<Message>, transport: Arc<Transport>) {
    while let Some(message) = queue.recv().await {
        match transport.as_ref() {
            Transport::Outbox(dir) => {
                let (dir, bytes) = (dir.clone(), message.formatted());
                match tokio::task::spawn_blocking(move || write_to_outbox(&dir, &bytes)).await {
                    Ok(Ok(path)) => {
                        tracing::info!(path = %path.display(), "e-mail written to the outbox");
                    }
                    Ok(Err(error)) => {
                        tracing::error!(%error, "e-mail lost: cannot write it to the outbox");
                    }
                    Err(error) => tracing::error!(%error, "e-mail lost: the writer failed"),
                }
            }
            Transport::Smtp(smtp) => {
                let mut wait = Duration::from_secs(2);
                for attempt in 1..=ATTEMPTS {
                    match smtp.send(message.clone()).await {
                        Ok(_) => break,
                        Err(error) if attempt < ATTEMPTS && !error.is_permanent() => {
                            tracing::warn!(%error, attempt, "e-mail delivery failed; retrying");
                            tokio::time::sleep(wait).await;
                            wait *= 5;
                        }
                        Err(error) => {
                            tracing::error!(%error, attempt, "e-mail lost: the relay refused it");
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Writes one message as `<time>-<id>.eml`, readable by its owner only; it appears under its
/// final name only once complete.
fn write_to_outbox(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    pdx_storage::private::create_dir(dir)?;
    let name = format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        uuid::Uuid::new_v4().simple()
    );
    let partial = dir.join(format!(".{name}.part"));
    pdx_storage::private::write_file(&partial, bytes)?;
    let path = dir.join(format!("{name}.eml"));
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> MailSettings {
        MailSettings {
            from: "PDX <no-reply@pdx.test>".into(),
            smtp_url: None,
            outbox_dir: dir.join("outbox"),
            public_url: "https://data.example.gov/".into(),
            per_recipient_per_hour: 2,
        }
    }

    #[tokio::test]
    async fn messages_land_in_the_outbox_privately_and_each_recipient_is_limited() {
        use std::os::unix::fs::PermissionsExt;
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let Ok(mailer) = Mailer::new(&settings(dir.path())) else {
            panic!()
        };
        assert_eq!(
            mailer.link("/confirm", "pdxo_x"),
            "https://data.example.gov/confirm?token=pdxo_x"
        );
        let mail = |to: &str| Mail {
            to: to.into(),
            subject: "Hello".into(),
            body: "Line one\nline two".into(),
        };
        assert!(mailer.send(mail("a@pdx.test")));
        assert!(mailer.send(mail("A@pdx.test")));
        assert!(mailer.may_send("a@pdx.test").is_err());
        assert!(
            !mailer.send(mail("a@pdx.test")),
            "a third in the hour is not sent"
        );
        assert!(mailer.send(mail("b@pdx.test")));
        let outbox = dir.path().join("outbox");
        let mut files = Vec::new();
        for _ in 0..200 {
            files = std::fs::read_dir(&outbox)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                        .collect()
                })
                .unwrap_or_default();
            if files.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(files.len(), 3);
        for file in &files {
            let mode = std::fs::metadata(file).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
            let text = std::fs::read_to_string(file).unwrap_or_default();
            assert!(text.contains("Subject: Hello"), "{text}");
            assert!(text.contains("From: PDX <no-reply@pdx.test>"), "{text}");
        }
    }

    #[test]
    fn bad_sender_or_relay_is_refused_at_start() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let mut bad_from = settings(dir.path());
        bad_from.from = "not a mailbox".into();
        assert!(Mailer::new(&bad_from).is_err());
        let mut bad_url = settings(dir.path());
        bad_url.smtp_url = Some("ftp://relay".into());
        assert!(Mailer::new(&bad_url).is_err());
    }
}
