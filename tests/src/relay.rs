//! A real SMTP relay standing in for a city's mail server: it speaks enough of SMTP (RFC 5321,
//! no TLS, no authentication) for PDX's mailer to hand it messages, and keeps each message it
//! accepted with its envelope, so tests read what was sent. It can be started on a port that
//! refused connections until then, as a relay that comes back after an outage does.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::Mail;

/// One message the relay accepted.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// The envelope's sender (`MAIL FROM`).
    pub from: String,
    /// The envelope's recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent (after `DATA`, dot-unstuffed).
    pub message: String,
}

impl Relayed {
    /// The message, parsed.
    pub fn mail(&self) -> Mail {
        Mail::parse(&self.message)
    }
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct Relay {
    /// The port it listens on.
    pub port: u16,
    received: Arc<Mutex<Vec<Relayed>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A local port where nothing listens now: a relay that is down.
pub fn unused_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(address) => address.port(),
        Err(error) => panic!("cannot find a free port: {error}"),
    }
}

impl Relay {
    /// Starts a relay on `port` (0 for any).
    pub async fn start(port: u16) -> Self {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(listener) => listener,
            Err(error) => panic!("the relay cannot listen on {port}: {error}"),
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, Arc::clone(&store)));
            }
        });
        Self {
            port,
            received,
            task,
        }
    }

    /// `smtp://127.0.0.1:<port>`, for `mail.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far.
    pub fn received(&self) -> Vec<Relayed> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits (up to `seconds`) until `count` messages were accepted; returns them.
    pub async fn wait_for(&self, count: usize, seconds: u64) -> Vec<Relayed> {
        for _ in 0..seconds * 50 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!(
            "the relay received {} message(s), not {count}",
            self.received().len()
        )
    }
}

/// One SMTP conversation.
async fn session(stream: TcpStream, store: Arc<Mutex<Vec<Relayed>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 relay.test ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        if !next_line(&mut lines, &mut line).await {
            return;
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" | "HELO" => "250-relay.test\r\n250 8BITMIME\r\n",
            "MAIL" => {
                from = address_in(&command);
                "250 OK\r\n"
            }
            "RCPT" => {
                to.push(address_in(&command));
                "250 OK\r\n"
            }
            "DATA" => {
                let _ = write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await;
                let mut message = String::new();
                loop {
                    if !next_line(&mut lines, &mut line).await {
                        return;
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    message.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Relayed {
                        from: std::mem::take(&mut from),
                        to: std::mem::take(&mut to),
                        message,
                    });
                "250 OK queued\r\n"
            }
            "RSET" | "NOOP" => "250 OK\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 Bye\r\n").await;
                return;
            }
            _ => "502 Command not implemented\r\n",
        };
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads the client's next line into `line`; false once the client has gone.
async fn next_line(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &mut String,
) -> bool {
    line.clear();
    matches!(lines.read_line(line).await, Ok(n) if n > 0)
}

/// The address in `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
fn address_in(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
