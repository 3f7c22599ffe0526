//! E-mail to account holders (confirmations, invitations, password resets): composed here and
//! queued in the database (table `mail_outbox`) in the same transaction as what the message
//! announces, so a link is mailed if and only if it was committed. Any server process delivers
//! what is due, by SMTP or, with no SMTP configured, as one `.eml` file per message (mode 0600)
//! in its outbox directory; a message survives the process that queued it, a relay that is
//! down is tried again, and two processes never send the same message at once. Requests never
//! wait for delivery, so neither a slow relay nor the presence of an account shows in how long
//! an answer takes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use pdx_core::Timestamp;
use pdx_storage::schema::mail_outbox;
use pdx_storage::seal::SealingKey;
use pdx_storage::{Database, DbConnection, StorageError};

use crate::error::AccessError;
use crate::throttle::{RateLimiter, Refusal};

/// How long a message without a link of its own (a notice) may wait for delivery.
const NOTICE_MAX_AGE: chrono::Duration = chrono::Duration::days(2);
/// Waits before each further attempt after a failed one; after the last, the message is lost
/// (and logged). About four hours in all.
const RETRY_AFTER: [i64; 7] = [5, 30, 120, 600, 1800, 3600, 7200];
/// Messages one process claims at a time.
const CLAIM_BATCH: i64 = 8;
/// How long a claim holds: longer than a batch takes at the relay's 30 s timeout each. A
/// process that stops while sending leaves its claim to lapse, and another takes over.
const CLAIM_FOR: chrono::Duration = chrono::Duration::minutes(5);
/// How often a process looks for due messages when nothing woke it.
pub const DELIVERY_POLL: Duration = Duration::from_secs(2);

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
    /// When the message stops being worth sending: its link's expiry. A notice without a link
    /// has none and waits up to two days.
    pub valid_until: Option<Timestamp>,
}

/// What a transaction mails: a message, a decoy that writes what a message writes but is never
/// sent, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message, sent once the transaction commits.
    Mail(Mail),
    /// Nothing sent, but the same rows written as for a message.
    Decoy,
    /// Nothing.
    Nothing,
}

enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

struct Inner {
    from: Mailbox,
    public_url: String,
    transport: Transport,
    key: SealingKey,
    recipients: RateLimiter,
    wake: tokio::sync::Notify,
}

/// Queues e-mail in the database and delivers what is due. Cheap to clone.
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

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Messages handed to the relay or written to the outbox.
    pub sent: usize,
    /// Messages to be tried again later.
    pub retried: usize,
    /// Messages given up (refused by the relay, too old, or out of attempts), each logged.
    pub lost: usize,
}

/// A claimed message.
struct Claimed {
    id: String,
    sealed: String,
    expires_at: NaiveDateTime,
    attempts: i32,
}

/// How one attempt ended.
enum Attempt {
    Sent,
    Failed { error: String, permanent: bool },
}

impl Mailer {
    /// A mailer for these settings whose queued messages are sealed under `key`; an unusable
    /// `from` or SMTP URL is refused here, at start.
    pub fn new(settings: &MailSettings, key: [u8; 32]) -> Result<Self, AccessError> {
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
                transport,
                key: SealingKey::new(key),
                recipients: RateLimiter::new(
                    "mail_recipients",
                    settings.per_recipient_per_hour,
                    Duration::from_secs(3600),
                ),
                wake: tokio::sync::Notify::new(),
            }),
        })
    }

    /// Exchanges the per-recipient counts with the other server processes.
    pub fn sync_limits(&self, conn: &mut DbConnection) -> Result<(), StorageError> {
        self.inner.recipients.sync(conn)
    }

    /// Where messages go, for the log: `smtp` or the outbox directory.
    pub fn delivery(&self) -> String {
        match &self.inner.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
        }
    }

    /// The outbox directory, when messages are written there.
    pub fn outbox(&self) -> Option<&Path> {
        match &self.inner.transport {
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

    /// Queues a message in the caller's transaction; it is sent once that commits (call
    /// [`Mailer::wake`] then). Returns false when it was not queued, which is logged: the
    /// recipient had enough this hour, or the address is unusable.
    pub fn queue(
        &self,
        conn: &mut DbConnection,
        mail: &Mail,
        now: Timestamp,
    ) -> Result<bool, AccessError> {
        if self.inner.recipients.hit(&mail.to.to_lowercase()).is_err() {
            tracing::info!(subject = %mail.subject, "e-mail not sent: the recipient had enough this hour");
            return Ok(false);
        }
        let message = match self.compose(mail) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, subject = %mail.subject, "e-mail not sent: cannot compose it");
                return Ok(false);
            }
        };
        let mut plain = mail.to.clone().into_bytes();
        plain.push(b'\n');
        plain.extend_from_slice(&message.formatted());
        let expires = mail.valid_until.unwrap_or(now + NOTICE_MAX_AGE);
        self.insert(conn, &plain, expires, now)?;
        Ok(true)
    }

    /// Queues a message that is never sent, so that a branch that mails nothing (a password
    /// reset for an address without an account) writes what the other branch writes.
    pub fn queue_decoy(&self, conn: &mut DbConnection, now: Timestamp) -> Result<(), AccessError> {
        self.insert(conn, &[], now + NOTICE_MAX_AGE, now)
    }

    fn insert(
        &self,
        conn: &mut DbConnection,
        plain: &[u8],
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<(), AccessError> {
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self
            .inner
            .key
            .seal(id.as_bytes(), plain)
            .map_err(|e| AccessError::Keys(e.to_string()))?;
        diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::id.eq(&id),
                mail_outbox::sealed.eq(&sealed),
                mail_outbox::created_at.eq(now.naive_utc()),
                mail_outbox::expires_at.eq(expires.naive_utc()),
                mail_outbox::attempts.eq(0),
                mail_outbox::next_attempt_at.eq(now.naive_utc()),
            ))
            .execute(conn)
            .map_err(StorageError::from)?;
        Ok(())
    }

    /// Tells this process's delivery that messages were committed to the queue.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Waits until [`Mailer::wake`] is called or `poll` has passed.
    pub async fn woken_or(&self, poll: Duration) {
        let _ = tokio::time::timeout(poll, self.inner.wake.notified()).await;
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

    /// Delivers the messages due at `now`, a batch at a time, until none is due: claims them
    /// (so that no other process sends them meanwhile), sends each, and records the outcome.
    pub async fn deliver_due(
        &self,
        db: &Database,
        now: Timestamp,
    ) -> Result<Delivered, AccessError> {
        let mut total = Delivered::default();
        loop {
            let at = now.naive_utc();
            let any_due = db
                .run(move |conn| due_exists(conn, at).map_err(AccessError::from))
                .await?;
            if !any_due {
                return Ok(total);
            }
            let holder = uuid::Uuid::new_v4().simple().to_string();
            let claimed = {
                let holder = holder.clone();
                db.write(move |conn| claim(conn, &holder, at, CLAIM_BATCH))
                    .await?
            };
            if claimed.is_empty() {
                return Ok(total);
            }
            for message in claimed {
                let outcome = self.attempt(&message, now).await;
                let holder = holder.clone();
                let recorded = db
                    .write(move |conn| record(conn, &message, &holder, outcome, now))
                    .await?;
                match recorded {
                    Recorded::Sent => total.sent += 1,
                    Recorded::Retried => total.retried += 1,
                    Recorded::Lost => total.lost += 1,
                    Recorded::Decoy => {}
                }
            }
        }
    }

    /// One attempt at a claimed message; `None` for a decoy (nothing to send).
    async fn attempt(&self, message: &Claimed, now: Timestamp) -> Option<Attempt> {
        let given_up = |error: String| Attempt::Failed {
            error,
            permanent: true,
        };
        if message.expires_at <= now.naive_utc() {
            return Some(given_up(
                "its link expired before it could be delivered".to_owned(),
            ));
        }
        let Ok(plain) = self.inner.key.open(message.id.as_bytes(), &message.sealed) else {
            return Some(given_up("it does not open under the mail key".to_owned()));
        };
        if plain.is_empty() {
            return None;
        }
        let Some(split) = plain.iter().position(|&b| b == b'\n') else {
            return Some(given_up("it names no recipient".to_owned()));
        };
        let (to, bytes) = (&plain[..split], &plain[split + 1..]);
        Some(match &self.inner.transport {
            Transport::Outbox(dir) => {
                let (dir, bytes) = (dir.clone(), bytes.to_vec());
                match tokio::task::spawn_blocking(move || write_to_outbox(&dir, &bytes)).await {
                    Ok(Ok(path)) => {
                        tracing::info!(path = %path.display(), "e-mail written to the outbox");
                        Attempt::Sent
                    }
                    Ok(Err(error)) => Attempt::Failed {
                        error: format!("cannot write it to the outbox: {error}"),
                        permanent: false,
                    },
                    Err(error) => Attempt::Failed {
                        error: format!("the outbox writer failed: {error}"),
                        permanent: false,
                    },
                }
            }
            Transport::Smtp(smtp) => match self.envelope(to) {
                Err(error) => given_up(format!("unusable recipient: {error}")),
                Ok(envelope) => match smtp.send_raw(&envelope, bytes).await {
                    Ok(_) => Attempt::Sent,
                    Err(error) => Attempt::Failed {
                        permanent: error.is_permanent(),
                        error: error.to_string(),
                    },
                },
            },
        })
    }

    /// The SMTP envelope of a message to `to` (its address as stored beside the message).
    fn envelope(&self, to: &[u8]) -> Result<Envelope, String> {
        let to = std::str::from_utf8(to).map_err(|e| e.to_string())?;
        let to: lettre::Address = to
            .parse()
            .map_err(|e: lettre::address::AddressError| e.to_string())?;
        Envelope::new(Some(self.inner.from.email.clone()), vec![to]).map_err(|e| e.to_string())
    }
}

/// What waits in the mail queue, for an operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStatus {
    /// Messages waiting (decoys included).
    pub waiting: i64,
    /// Of those, the ones whose delivery failed at least once.
    pub failing: i64,
    /// When the oldest waiting message was queued.
    pub oldest: Option<Timestamp>,
    /// What the relay (or the outbox) said at the latest failure of a waiting message.
    pub last_error: Option<String>,
}

/// What waits in the mail queue now.
pub fn queue_status(conn: &mut DbConnection) -> Result<QueueStatus, StorageError> {
    let waiting: i64 = mail_outbox::table.count().get_result(conn)?;
    let failing: i64 = mail_outbox::table
        .filter(mail_outbox::attempts.gt(0))
        .count()
        .get_result(conn)?;
    let oldest: Option<NaiveDateTime> = mail_outbox::table
        .select(diesel::dsl::min(mail_outbox::created_at))
        .get_result(conn)?;
    let last_error: Option<String> = mail_outbox::table
        .select(mail_outbox::last_error)
        .filter(mail_outbox::last_error.is_not_null())
        .order(mail_outbox::next_attempt_at.desc())
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    Ok(QueueStatus {
        waiting,
        failing,
        oldest: oldest.map(|at| at.and_utc()),
        last_error,
    })
}

/// How an attempt was recorded.
enum Recorded {
    Sent,
    Retried,
    Lost,
    Decoy,
}

/// Messages no live process holds at `now`: never claimed, or claimed by one whose claim
/// lapsed.
#[diesel::dsl::auto_type]
fn unclaimed(now: NaiveDateTime) -> _ {
    mail_outbox::claimed_until
        .is_null()
        .or(mail_outbox::claimed_until.lt(now))
}

fn due_exists(conn: &mut DbConnection, now: NaiveDateTime) -> Result<bool, StorageError> {
    let due = diesel::select(diesel::dsl::exists(
        mail_outbox::table
            .filter(mail_outbox::next_attempt_at.le(now))
            .filter(unclaimed(now)),
    ))
    .get_result(conn)?;
    Ok(due)
}

/// Claims up to `limit` due messages for `holder` (unique to this round). On PostgreSQL a
/// concurrent claim of the same rows waits for this one and then finds them claimed.
fn claim(
    conn: &mut DbConnection,
    holder: &str,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, AccessError> {
    let due: Vec<String> = mail_outbox::table
        .select(mail_outbox::id)
        .filter(mail_outbox::next_attempt_at.le(now))
        .filter(unclaimed(now))
        .order((mail_outbox::next_attempt_at, mail_outbox::id))
        .limit(limit)
        .load(conn)
        .map_err(StorageError::from)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        mail_outbox::table
            .filter(mail_outbox::id.eq_any(&due))
            .filter(unclaimed(now)),
    )
    .set((
        mail_outbox::claimed_by.eq(holder),
        mail_outbox::claimed_until.eq(now + CLAIM_FOR),
    ))
    .execute(conn)
    .map_err(StorageError::from)?;
    let rows: Vec<(String, String, NaiveDateTime, i32)> = mail_outbox::table
        .select((
            mail_outbox::id,
            mail_outbox::sealed,
            mail_outbox::expires_at,
            mail_outbox::attempts,
        ))
        .filter(mail_outbox::claimed_by.eq(holder))
        .order(mail_outbox::id)
        .load(conn)
        .map_err(StorageError::from)?;
    Ok(rows
        .into_iter()
        .map(|(id, sealed, expires_at, attempts)| Claimed {
            id,
            sealed,
            expires_at,
            attempts,
        })
        .collect())
}

/// Records an attempt's outcome for a message `holder` claimed: delivered and decoy messages
/// leave the queue, failed ones wait for their next attempt or, past the last, are given up.
fn record(
    conn: &mut DbConnection,
    message: &Claimed,
    holder: &str,
    outcome: Option<Attempt>,
    now: Timestamp,
) -> Result<Recorded, AccessError> {
    let mine = mail_outbox::table
        .filter(mail_outbox::id.eq(&message.id))
        .filter(mail_outbox::claimed_by.eq(holder));
    let (error, permanent) = match outcome {
        None => {
            diesel::delete(mine)
                .execute(conn)
                .map_err(StorageError::from)?;
            return Ok(Recorded::Decoy);
        }
        Some(Attempt::Sent) => {
            diesel::delete(mine)
                .execute(conn)
                .map_err(StorageError::from)?;
            metrics::counter!("pdx_mail_sent_total").increment(1);
            return Ok(Recorded::Sent);
        }
        Some(Attempt::Failed { error, permanent }) => (error, permanent),
    };
    let attempts = message.attempts.saturating_add(1);
    let next = usize::try_from(message.attempts)
        .ok()
        .and_then(|done| RETRY_AFTER.get(done))
        .map(|secs| now + chrono::Duration::seconds(*secs))
        .filter(|next| !permanent && next.naive_utc() < message.expires_at);
    match next {
        Some(next) => {
            diesel::update(mine)
                .set((
                    mail_outbox::attempts.eq(attempts),
                    mail_outbox::next_attempt_at.eq(next.naive_utc()),
                    mail_outbox::claimed_by.eq(None::<String>),
                    mail_outbox::claimed_until.eq(None::<NaiveDateTime>),
                    mail_outbox::last_error.eq(&error),
                ))
                .execute(conn)
                .map_err(StorageError::from)?;
            tracing::warn!(%error, attempt = attempts, next_attempt = %next, "e-mail delivery failed; it will be tried again");
            metrics::counter!("pdx_mail_retried_total").increment(1);
            Ok(Recorded::Retried)
        }
        None => {
            diesel::delete(mine)
                .execute(conn)
                .map_err(StorageError::from)?;
            tracing::error!(%error, attempts, "e-mail lost: given up");
            metrics::counter!("pdx_mail_lost_total").increment(1);
            Ok(Recorded::Lost)
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
    use pdx_storage::testing::TestDatabase;

    fn settings(dir: &Path) -> MailSettings {
        MailSettings {
            from: "PDX <no-reply@pdx.test>".into(),
            smtp_url: None,
            outbox_dir: dir.join("outbox"),
            public_url: "https://data.example.gov/".into(),
            per_recipient_per_hour: 2,
        }
    }

    fn mailer(settings: &MailSettings) -> Mailer {
        match Mailer::new(settings, [7; 32]) {
            Ok(mailer) => mailer,
            Err(error) => panic!("{error}"),
        }
    }

    /// An outbox directory, a migrated database and a mailer writing to that outbox.
    fn fixture() -> (tempfile::TempDir, TestDatabase, Database, Mailer) {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("no temporary directory")
        };
        let test_db = TestDatabase::new();
        let db = test_db.database().clone();
        let mailer = mailer(&settings(dir.path()));
        (dir, test_db, db, mailer)
    }

    fn mail(to: &str) -> Mail {
        Mail {
            to: to.into(),
            subject: "Hello".into(),
            body: "Open https://data.example.gov/confirm?token=pdxo_secret to go on".into(),
            valid_until: None,
        }
    }

    fn now() -> Timestamp {
        chrono::Utc::now()
    }

    async fn queue(db: &Database, mailer: &Mailer, mail: Mail, at: Timestamp) -> bool {
        let mailer = mailer.clone();
        match db.write(move |conn| mailer.queue(conn, &mail, at)).await {
            Ok(queued) => queued,
            Err(error) => panic!("cannot queue: {error}"),
        }
    }

    async fn deliver(db: &Database, mailer: &Mailer, at: Timestamp) -> Delivered {
        match mailer.deliver_due(db, at).await {
            Ok(delivered) => delivered,
            Err(error) => panic!("cannot deliver: {error}"),
        }
    }

    /// (attempts, sealed text, last error) of each queued message.
    async fn queued(db: &Database) -> Vec<(i32, String, Option<String>)> {
        let rows = db
            .run(|conn| {
                mail_outbox::table
                    .select((
                        mail_outbox::attempts,
                        mail_outbox::sealed,
                        mail_outbox::last_error,
                    ))
                    .order(mail_outbox::id)
                    .load(conn)
                    .map_err(StorageError::from)
            })
            .await;
        match rows {
            Ok(rows) => rows,
            Err(error) => panic!("cannot read the queue: {error}"),
        }
    }

    fn outbox_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir.join("outbox"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn mail_is_queued_sealed_with_its_transaction_and_sent_once_from_the_outbox() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, _test_db, db, mailer) = fixture();
        assert_eq!(
            mailer.link("/confirm", "pdxo_x"),
            "https://data.example.gov/confirm?token=pdxo_x"
        );
        let at = now();
        assert!(queue(&db, &mailer, mail("a@pdx.test"), at).await);
        // A transaction that fails after queueing leaves no message behind.
        let rolled_back = {
            let mailer = mailer.clone();
            db.write(move |conn| {
                mailer.queue(conn, &mail("c@pdx.test"), at)?;
                Err::<(), _>(AccessError::invalid("test", "rolled back"))
            })
            .await
        };
        assert!(rolled_back.is_err());
        let rows = queued(&db).await;
        assert_eq!(rows.len(), 1, "only the committed message waits");
        for secret in ["pdxo_secret", "a@pdx.test", "Hello"] {
            assert!(
                !rows[0].1.contains(secret),
                "{secret} readable in the queue"
            );
        }

        assert_eq!(
            deliver(&db, &mailer, at).await,
            Delivered {
                sent: 1,
                ..Delivered::default()
            }
        );
        assert!(
            queued(&db).await.is_empty(),
            "a sent message leaves the queue"
        );
        assert_eq!(deliver(&db, &mailer, at).await, Delivered::default());
        let files = outbox_files(dir.path());
        assert_eq!(files.len(), 1, "sent once");
        let mode = std::fs::metadata(&files[0]).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let text = std::fs::read_to_string(&files[0]).unwrap_or_default();
        assert!(text.contains("Subject: Hello"), "{text}");
        assert!(text.contains("From: PDX <no-reply@pdx.test>"), "{text}");
        assert!(text.contains("To: a@pdx.test"), "{text}");
        assert!(text.contains("pdxo_secret"), "{text}");
    }

    #[tokio::test]
    async fn each_recipient_gets_a_limited_number_of_messages_an_hour() {
        let (dir, _test_db, db, mailer) = fixture();
        let at = now();
        assert!(queue(&db, &mailer, mail("a@pdx.test"), at).await);
        assert!(queue(&db, &mailer, mail("A@pdx.test"), at).await);
        assert!(mailer.may_send("a@pdx.test").is_err());
        assert!(
            !queue(&db, &mailer, mail("a@pdx.test"), at).await,
            "a third in the hour is not queued"
        );
        assert!(queue(&db, &mailer, mail("b@pdx.test"), at).await);
        assert_eq!(deliver(&db, &mailer, at).await.sent, 3);
        assert_eq!(outbox_files(dir.path()).len(), 3);
    }

    #[tokio::test]
    async fn a_relay_that_is_down_is_tried_again_later_by_any_process() {
        let (dir, _test_db, db, other) = fixture();
        // A relay address where nothing listens.
        let port = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => listener.local_addr().map(|a| a.port()).unwrap_or(1),
            Err(error) => panic!("{error}"),
        };
        let mut down = settings(dir.path());
        down.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        let relay_down = mailer(&down);
        let at = now();
        assert!(queue(&db, &relay_down, mail("a@pdx.test"), at).await);
        assert_eq!(
            deliver(&db, &relay_down, at).await,
            Delivered {
                retried: 1,
                ..Delivered::default()
            }
        );
        let rows = queued(&db).await;
        assert_eq!(rows.len(), 1, "kept for another attempt");
        assert_eq!(rows[0].0, 1);
        assert!(rows[0].2.is_some(), "the relay's error is kept");
        let status = db.run(queue_status).await;
        let status = status.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((status.waiting, status.failing), (1, 1));
        assert!(status.oldest.is_some() && status.last_error.is_some());

        // Another process (here: writing to its outbox) takes it when it is due again, not
        // before.
        assert_eq!(deliver(&db, &other, at).await, Delivered::default());
        let later = at + chrono::Duration::seconds(RETRY_AFTER[0] + 1);
        assert_eq!(deliver(&db, &other, later).await.sent, 1);
        assert_eq!(outbox_files(dir.path()).len(), 1);
        assert!(queued(&db).await.is_empty());
    }

    #[tokio::test]
    async fn a_claimed_message_is_left_to_its_claimant_until_the_claim_lapses() {
        let (dir, _test_db, db, mailer) = fixture();
        let at = now();
        assert!(queue(&db, &mailer, mail("a@pdx.test"), at).await);
        let claims = |holder: &'static str, at: Timestamp| {
            db.write(move |conn| claim(conn, holder, at.naive_utc(), CLAIM_BATCH))
        };
        let first = claims("first", at).await.map(|c| c.len());
        assert_eq!(first.ok(), Some(1));
        let second = claims("second", at).await.map(|c| c.len());
        assert_eq!(second.ok(), Some(0), "claimed already");
        // The first claimant stopped without sending: another delivery does nothing until the
        // claim lapses, then sends it.
        assert_eq!(deliver(&db, &mailer, at).await, Delivered::default());
        let lapsed = at + CLAIM_FOR + chrono::Duration::seconds(1);
        assert_eq!(deliver(&db, &mailer, lapsed).await.sent, 1);
        assert_eq!(outbox_files(dir.path()).len(), 1);
    }

    #[tokio::test]
    async fn an_expired_message_and_a_decoy_are_never_sent() {
        let (dir, _test_db, db, mailer) = fixture();
        let at = now();
        let mut short = mail("a@pdx.test");
        short.valid_until = Some(at + chrono::Duration::seconds(1));
        assert!(queue(&db, &mailer, short, at).await);
        let decoy = {
            let mailer = mailer.clone();
            db.write(move |conn| mailer.queue_decoy(conn, at)).await
        };
        assert!(decoy.is_ok());
        assert_eq!(
            queued(&db).await.len(),
            2,
            "a decoy is written like a message"
        );
        let later = at + chrono::Duration::seconds(2);
        assert_eq!(
            deliver(&db, &mailer, later).await,
            Delivered {
                lost: 1,
                ..Delivered::default()
            }
        );
        assert!(queued(&db).await.is_empty());
        assert!(outbox_files(dir.path()).is_empty());
    }

    #[test]
    fn bad_sender_or_relay_is_refused_at_start() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!()
        };
        let mut bad_from = settings(dir.path());
        bad_from.from = "not a mailbox".into();
        assert!(Mailer::new(&bad_from, [7; 32]).is_err());
        let mut bad_url = settings(dir.path());
        bad_url.smtp_url = Some("ftp://relay".into());
        assert!(Mailer::new(&bad_url, [7; 32]).is_err());
    }
}
