//! Sending mail over SMTP through a connection pool, and sorting failures into "try again
//! later" ([`SendFailure::Temporary`]) and "refused for good" ([`SendFailure::Permanent`]).
//!
//! The connections are our own (see `pool`): lettre speaks SMTP on sockets we open with
//! Nagle off. The SMTP URL is read the way lettre's `from_url` reads it:
//!
//! | URL | TLS | default port |
//! |---|---|---|
//! | `smtps://host` | implicit TLS from the first byte | 465 |
//! | `smtp://host?tls=required` | STARTTLS, no mail if the server lacks it | 587 |
//! | `smtp://host?tls=opportunistic` | STARTTLS when the server offers it | 587 |
//! | `smtp://host` | none | 25 |
//!
//! `user:password@` (percent-encoded) logs in with PLAIN or LOGIN, only when a password is
//! given; a path (`smtp://host/client.example.org`) is the EHLO name, else this machine's
//! hostname. Certificates are checked against the Mozilla roots (`webpki-roots`).
//!
//! The URL carries the password. It is parsed once and otherwise dropped: errors, logs and
//! `Debug` output name the server as `scheme://host:port` only.

use std::error::Error;
use std::sync::Arc;

use lettre::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{SMTP_PORT, SUBMISSION_PORT, SUBMISSIONS_PORT};

use super::pool::{Cause, Failure, Pool, Server, TIMEOUT, Tls};
use crate::config::Secret;

/// The SMTP transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The URL is not one we can use. The message never contains the URL.
    #[error(
        "TIDINGS_SMTP_URL is not a usable SMTP URL ({0}); write it like smtps://user:pass@mail.example.org:465, \
         smtp://user:pass@mail.example.org:587?tls=required (STARTTLS) or smtp://127.0.0.1:2525 for a local relay"
    )]
    BadUrl(#[source] UrlError),
}

/// What is wrong with an SMTP URL, said without repeating it.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("not a URL: {0}")]
    Syntax(#[from] url::ParseError),
    /// No server named.
    #[error("no host")]
    NoHost,
    /// Neither `smtps` nor `smtp`.
    #[error("unknown scheme {0:?}: use smtps or smtp")]
    Scheme(String),
    /// `smtp` with a `tls` parameter other than `required` or `opportunistic`.
    #[error("tls={0:?} is neither required nor opportunistic")]
    TlsMode(String),
    /// `%XX` in the user name or password that does not decode to UTF-8.
    #[error("the user name or password is not percent-encoded UTF-8")]
    Credentials,
    /// The TLS client could not be set up for this host.
    #[error("TLS setup: {0}")]
    Tls(#[source] Box<dyn Error + Send + Sync>),
}

/// Why a message was not sent, and so what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// A 4xx reply, or the connection, TLS, the login or a timeout failed: send again later.
    #[error("mail not sent, will retry: {0}")]
    Temporary(String),
    /// A 5xx reply to this message: the server refused it or its address for good.
    #[error("mail refused by the server: {0}")]
    Permanent(String),
}

/// Sends messages through a pool of SMTP connections. Cloning shares the pool.
#[derive(Clone)]
pub struct Mailer {
    pool: Arc<Pool>,
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
    /// Connections are opened when first needed.
    pub fn new(smtp_url: &Secret, pool: u32) -> Result<Mailer, MailError> {
        Mailer::from_url(smtp_url.expose(), pool)
    }

    fn from_url(smtp_url: &str, pool: u32) -> Result<Mailer, MailError> {
        let server = parse_url(smtp_url).map_err(MailError::BadUrl)?;
        Ok(Mailer {
            pool: Arc::new(Pool::new(server, pool)),
            server: server_name(smtp_url),
        })
    }

    /// Sends one message to its envelope's recipients.
    #[tracing::instrument(skip_all, fields(server = %self.server))]
    pub async fn send(&self, message: &Message) -> Result<(), SendFailure> {
        self.pool
            .send(message.envelope(), &message.formatted())
            .await
            .map_err(|e| classify(&e))
    }
}

/// The server an SMTP URL names; see the table in the module documentation.
fn parse_url(smtp_url: &str) -> Result<Server, UrlError> {
    let url = url::Url::parse(smtp_url)?;
    let host = match url.host() {
        // `host_str` keeps the brackets, which neither the resolver nor TLS wants.
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let starttls = || Tls::starttls_parameters(&host, &[]).map_err(UrlError::Tls);
    let (tls, default_port) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => (Tls::None, SMTP_PORT),
        ("smtp", Some("required")) => (Tls::Required(starttls()?), SUBMISSION_PORT),
        ("smtp", Some("opportunistic")) => (Tls::Opportunistic(starttls()?), SUBMISSION_PORT),
        ("smtps", _) => (
            Tls::implicit(&host, &[]).map_err(UrlError::Tls)?,
            SUBMISSIONS_PORT,
        ),
        ("smtp", Some(mode)) => return Err(UrlError::TlsMode(mode.to_owned())),
        (scheme, _) => return Err(UrlError::Scheme(scheme.to_owned())),
    };
    let credentials = match url.password() {
        Some(password) => Some(Credentials::new(
            percent_decode(url.username())?,
            percent_decode(password)?,
        )),
        None => None,
    };
    let hello = match url.path().trim_matches('/') {
        "" => ClientId::default(),
        name => ClientId::Domain(name.to_owned()),
    };
    Ok(Server {
        host,
        port: url.port().unwrap_or(default_port),
        tls,
        credentials,
        hello,
    })
}

/// `%XX` sequences decoded, as lettre does for the user name and password.
fn percent_decode(text: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Credentials)
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

/// A 5xx reply to the message's transaction is permanent. Everything else may pass on
/// another try or after the operator acts: 4xx, network, TLS, timeouts, an unreadable
/// reply, a server missing a needed extension, and any failure while connecting or
/// logging in (a 535 for a wrong password says nothing about the address: no bounce).
fn classify(failure: &Failure) -> SendFailure {
    match failure {
        Failure::Transaction(e) if e.is_permanent() => SendFailure::Permanent(smtp_text(e)),
        Failure::Transaction(e) => SendFailure::Temporary(smtp_text(e)),
        Failure::Connect(step, Cause::Smtp(e)) => SendFailure::Temporary(format!("{step}: {}", smtp_text(e))),
        Failure::Connect(step, Cause::Io(e)) => SendFailure::Temporary(format!("{step}: {}", chain(e))),
        Failure::TimedOut(step) => {
            SendFailure::Temporary(format!("{step}: no answer within {} s", TIMEOUT.as_secs()))
        }
    }
}

/// `SMTP 550 reply text` for a reply, else the error with its causes.
fn smtp_text(e: &lettre::transport::smtp::Error) -> String {
    match (e.status(), e.source()) {
        (Some(code), Some(reply)) => format!("SMTP {code} {reply}"),
        (Some(code), None) => format!("SMTP {code}"),
        (None, _) => chain(e),
    }
}

/// An error with its causes, each said once (lettre's `Display` already names the first).
fn chain(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
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
    use tokio::net::TcpListener;

    use super::*;
    use crate::notify::email::pool::tests::{FakeOptions, fake_smtp};

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

    /// A fake SMTP server answering `RCPT TO` with `rcpt`.
    async fn smtp_server(rcpt: &'static str) -> String {
        let fake = fake_smtp(FakeOptions {
            rcpt,
            ..FakeOptions::default()
        })
        .await;
        format!("smtp://127.0.0.1:{}", fake.port)
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
    async fn a_refused_login_is_temporary_and_does_not_show_the_password() {
        let fake = fake_smtp(FakeOptions {
            auth: "535 5.7.8 authentication failed",
            ..FakeOptions::default()
        })
        .await;
        let url = format!("smtp://news:hunter2-s3cret@127.0.0.1:{}", fake.port);
        match Mailer::from_url(&url, 1).unwrap().send(&message()).await {
            Err(SendFailure::Temporary(e)) => {
                assert!(e.starts_with("AUTH: SMTP 535") && !e.contains("hunter2"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls_are_read_as_lettre_reads_them() {
        install_ring();
        let parse = |url: &str| parse_url(url).unwrap();
        let tls = |server: &Server| match server.tls {
            Tls::None => "none",
            Tls::Opportunistic(_) => "opportunistic",
            Tls::Required(_) => "required",
            Tls::Implicit(..) => "implicit",
        };
        for (url, host, port, mode) in [
            ("smtps://mail.example.org", "mail.example.org", 465, "implicit"),
            (
                "smtps://mail.example.org:2465",
                "mail.example.org",
                2465,
                "implicit",
            ),
            (
                "smtp://mail.example.org?tls=required",
                "mail.example.org",
                587,
                "required",
            ),
            (
                "smtp://mail.example.org:2587?tls=opportunistic",
                "mail.example.org",
                2587,
                "opportunistic",
            ),
            ("smtp://mail.example.org", "mail.example.org", 25, "none"),
            ("smtp://127.0.0.1:2525", "127.0.0.1", 2525, "none"),
            ("smtp://[::1]:2525", "::1", 2525, "none"),
            ("smtps://[::1]", "::1", 465, "implicit"),
        ] {
            let server = parse(url);
            assert_eq!(
                (server.host.as_str(), server.port, tls(&server)),
                (host, port, mode),
                "{url}"
            );
            assert_eq!(server.credentials, None, "{url}");
            assert_eq!(server.hello, ClientId::default(), "{url}");
        }
        let server =
            parse("smtps://news%40example.org:p%40ss%20w%3Ard%2@mail.example.org/client.example.org");
        assert_eq!(
            server.credentials,
            Some(Credentials::new(
                "news@example.org".to_owned(),
                "p@ss w:rd%2".to_owned()
            ))
        );
        assert_eq!(server.hello, ClientId::Domain("client.example.org".to_owned()));
        assert_eq!(
            parse("smtp://news@mail.example.org").credentials,
            None,
            "no password, no login"
        );
        assert!(matches!(
            parse_url("smtp://u:%ff@mail.example.org"),
            Err(UrlError::Credentials)
        ));
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
