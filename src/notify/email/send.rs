//! Sending mail over SMTP through a connection pool, and sorting failures into "try again
//! later" ([`SendFailure::Temporary`]) and "refused for good" ([`SendFailure::Permanent`]).
//!
//! The SMTP URL carries the password. It is handed to lettre and otherwise dropped: errors,
//! logs and `Debug` output name the server as `scheme://host:port` only.

use std::error::Error as _;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Secret;

/// How long one SMTP command (connect, greeting, each reply) may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The SMTP transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The URL is not one lettre can use. The message never contains the URL.
    #[error(
        "TIDINGS_SMTP_URL is not a usable SMTP URL ({0}); write it like smtps://user:pass@mail.example.org:465, \
         smtp://user:pass@mail.example.org:587?tls=required (STARTTLS) or smtp://127.0.0.1:2525 for a local relay"
    )]
    BadUrl(#[source] lettre::transport::smtp::Error),
}

/// Why a message was not sent, and so what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// A 4xx reply, or the connection, TLS or a timeout failed: send again later.
    #[error("mail not sent, will retry: {0}")]
    Temporary(String),
    /// A 5xx reply: the server refused this message or address for good.
    #[error("mail refused by the server: {0}")]
    Permanent(String),
}

/// Sends messages through a pool of SMTP connections. Cloning shares the pool.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// `scheme://host:port`, for logs: never the credentials.
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `smtp_url` — `smtps://user:pass@host:465` (TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://127.0.0.1:2525`
    /// (plain, for a relay on the same machine) — keeping up to `pool` connections open.
    ///
    /// Must be called within the Tokio runtime: the pool starts a cleanup task.
    pub fn new(smtp_url: &Secret, pool: u32) -> Result<Mailer, MailError> {
        Mailer::from_url(smtp_url.expose(), pool)
    }

    fn from_url(smtp_url: &str, pool: u32) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(MailError::BadUrl)?
            .timeout(Some(TIMEOUT))
            .pool_config(PoolConfig::new().max_size(pool.max(1)))
            .build();
        Ok(Mailer {
            transport,
            server: server_name(smtp_url),
        })
    }

    /// Sends one message to its envelope's recipients.
    #[tracing::instrument(skip_all, fields(server = %self.server))]
    pub async fn send(&self, message: &Message) -> Result<(), SendFailure> {
        self.transport
            .send_raw(message.envelope(), &message.formatted())
            .await
            .map(drop)
            .map_err(|e| classify(&e))
    }
}

/// `scheme://host:port` of an SMTP URL, without credentials or parameters.
fn server_name(smtp_url: &str) -> String {
    match url::Url::parse(smtp_url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(port) => format!("{}://{host}:{port}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "(unparsable SMTP URL)".to_owned(),
    }
}

/// 5xx is permanent; everything else (4xx, network, TLS, timeouts, an unreadable reply, a
/// server missing a needed extension) may pass on another try or after the operator acts.
fn classify(e: &lettre::transport::smtp::Error) -> SendFailure {
    let text = match (e.status(), e.source()) {
        (Some(code), Some(reply)) => format!("SMTP {code} {reply}"),
        (Some(code), None) => format!("SMTP {code}"),
        (None, _) => chain(e),
    };
    if e.is_permanent() {
        SendFailure::Permanent(text)
    } else {
        SendFailure::Temporary(text)
    }
}

/// An error with its causes, each said once (lettre's `Display` already names the first).
fn chain(e: &lettre::transport::smtp::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source().and_then(|s| s.source());
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use lettre::message::Mailbox;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    fn install_ring() {
        // Another test may have installed it already; either way ring is the provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    fn message() -> Message {
        let mailbox = |a: &str| a.parse::<Mailbox>().unwrap();
        Message::builder()
            .from(mailbox("news@example.org"))
            .to(mailbox("reader@example.org"))
            .subject("hello")
            .body("hi".to_owned())
            .unwrap()
    }

    /// An SMTP server for one connection that answers `RCPT TO` with `rcpt_reply`.
    async fn smtp_server(rcpt_reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = if in_data {
                    if line != "." {
                        continue;
                    }
                    in_data = false;
                    "250 queued"
                } else {
                    match line.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
                        "EHLO" => "250 test",
                        "RCPT" => rcpt_reply,
                        "DATA" => {
                            in_data = true;
                            "354 go on"
                        }
                        "QUIT" => "221 bye",
                        _ => "250 ok",
                    }
                };
                if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        url
    }

    #[tokio::test]
    async fn replies_are_sorted_into_sent_permanent_and_temporary() {
        let send = |url: String| async move { Mailer::from_url(&url, 2).unwrap().send(&message()).await };
        assert_eq!(send(smtp_server("250 ok").await).await, Ok(()));
        match send(smtp_server("550 5.1.1 no such user").await).await {
            Err(SendFailure::Permanent(e)) => assert!(e.contains("550") && e.contains("no such user"), "{e}"),
            other => panic!("{other:?}"),
        }
        match send(smtp_server("451 4.3.0 try again later").await).await {
            Err(SendFailure::Temporary(e)) => {
                assert!(e.contains("451") && e.contains("try again later"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        // Nobody listens on a port just released.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = send(format!("smtp://127.0.0.1:{port}")).await;
        assert!(matches!(refused, Err(SendFailure::Temporary(_))), "{refused:?}");
    }

    #[tokio::test]
    async fn the_password_never_shows() {
        install_ring();
        let url = "smtps://news%40example.org:hunter2-s3cret@mail.example.org:465";
        let mailer = Mailer::from_url(url, 4).unwrap();
        let shown = format!("{mailer:?}");
        assert_eq!(shown, r#"Mailer { server: "smtps://mail.example.org:465", .. }"#);
        for bad in [
            "smtpx://user:hunter2-s3cret@mail.example.org",
            "smtp://user:hunter2-s3cret@mail.example.org?tls=sometimes",
            "smtps://user:hunter2-s3cret@:465",
        ] {
            let e = Mailer::from_url(bad, 1).unwrap_err();
            for text in [e.to_string(), format!("{e:?}")] {
                assert!(!text.contains("hunter2"), "{text}");
                assert!(
                    text.contains("TIDINGS_SMTP_URL") || text.contains("BadUrl"),
                    "{text}"
                );
            }
        }
    }
}
