//! Our own pool of SMTP connections, on sockets we open ourselves.
//!
//! lettre's transport never turns Nagle's algorithm off and writes the end of DATA in a
//! second small segment, so every mail waited ~40 ms for the server's delayed ACK; its pool
//! also sends a NOOP each time it hands out a connection. Here the TCP socket is opened
//! with `TCP_NODELAY` and handed to lettre's [`AsyncSmtpConnection`], which still speaks
//! the protocol (greeting, EHLO, STARTTLS, AUTH, the transaction). A connection idle for
//! less than [`FRESH`] is reused as is, an older one after a NOOP, one idle past
//! [`MAX_IDLE`] is closed; a connection whose transaction failed is never reused. When a
//! reused connection turns out closed, the mail goes once more on a new one.
//!
//! What to connect to comes from the SMTP URL, read in `send` into a [`Server`].

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// How long opening a connection (TCP, TLS, greeting, EHLO, STARTTLS, AUTH) may take, and
/// how long one mail's transaction may take.
pub(super) const TIMEOUT: Duration = Duration::from_secs(30);
/// An idle connection younger than this is used as is: servers wait minutes before they
/// drop an idle client (RFC 5321 asks for at least five), so a NOOP would only cost a
/// round trip per mail.
const FRESH: Duration = Duration::from_secs(10);
/// Older idle connections are asked with a NOOP first, answered within this.
const NOOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections older than this are closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// Why a mail was not handed over. The text is made by `send::classify`.
#[derive(Debug)]
pub(super) enum Failure {
    /// Opening a connection failed at `step`: nothing was said about this message.
    Connect(&'static str, Cause),
    /// The transaction failed: a reply to MAIL, RCPT, DATA or the message, or the
    /// connection breaking during it.
    Transaction(lettre::transport::smtp::Error),
    /// No answer at `step` within [`TIMEOUT`].
    TimedOut(&'static str),
}

/// What failed while opening a connection.
#[derive(Debug)]
pub(super) enum Cause {
    Io(io::Error),
    Smtp(lettre::transport::smtp::Error),
}

/// Where the SMTP server is and how to talk to it, from the URL.
pub(super) struct Server {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) tls: Tls,
    /// Logs in with PLAIN or LOGIN (lettre's default mechanisms) when set.
    pub(super) credentials: Option<Credentials>,
    /// The EHLO name.
    pub(super) hello: ClientId,
}

/// How the connection is encrypted.
pub(super) enum Tls {
    None,
    /// STARTTLS when the server offers it.
    Opportunistic(TlsParameters),
    /// STARTTLS, or no connection.
    Required(TlsParameters),
    /// TLS from the first byte (`smtps`).
    Implicit(TlsConnector, ServerName<'static>),
}

impl Server {
    /// A connection ready for a transaction: greeted, encrypted and logged in as the URL
    /// asks.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let io = |step| move |e| Failure::Connect(step, Cause::Io(e));
        let smtp = |step| move |e| Failure::Connect(step, Cause::Smtp(e));
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(io("connecting"))?;
        // With Nagle on, the last small segment of each command waits for the server's
        // delayed ACK: about 40 ms a mail.
        tcp.set_nodelay(true).map_err(io("setting TCP_NODELAY"))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.tls {
            Tls::Implicit(connector, name) => Box::new(ImplicitTls(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(io("TLS handshake"))?,
            )),
            _ => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(smtp("greeting and EHLO"))?;
        match &self.tls {
            Tls::Required(parameters) => conn.starttls(parameters.clone(), &self.hello).await,
            Tls::Opportunistic(parameters) if conn.can_starttls() => {
                conn.starttls(parameters.clone(), &self.hello).await
            }
            _ => Ok(()),
        }
        .map_err(smtp("STARTTLS"))?;
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(smtp("AUTH"))?;
        }
        Ok(conn)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Tls {
    /// STARTTLS parameters for `host`, trusting the Mozilla roots as lettre does by
    /// default, and `extra` (tests).
    pub(super) fn starttls_parameters(
        host: &str,
        extra: &[CertificateDer<'static>],
    ) -> Result<TlsParameters, BoxError> {
        let mut builder = TlsParameters::builder(host.to_owned());
        for cert in extra {
            builder = builder.add_root_certificate(Certificate::from_der(cert.to_vec())?);
        }
        Ok(builder.build()?)
    }

    /// Implicit TLS (`smtps`) to `host` with rustls, trusting the Mozilla roots as lettre
    /// does, and `extra` (tests).
    pub(super) fn implicit(host: &str, extra: &[CertificateDer<'static>]) -> Result<Tls, BoxError> {
        let name = ServerName::try_from(host.to_owned())?;
        // The process-wide provider (ring, installed by main), else ring, as lettre picks.
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in extra {
            roots.add(cert.clone())?;
        }
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::Implicit(TlsConnector::from(Arc::new(config)), name))
    }
}

/// Whether a failed transaction says the connection was closed rather than anything about
/// the mail: a 421 reply, or the connection breaking (no reply code, not lettre refusing
/// the message itself).
fn hung_up(e: &lettre::transport::smtp::Error) -> bool {
    match e.status() {
        Some(code) => u16::from(code) == 421,
        None => !e.is_client(),
    }
}

/// An implicit-TLS stream lettre can use as it uses a plain socket.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Up to `size` connections to one server, opened when needed and kept while idle.
pub(super) struct Pool {
    server: Server,
    /// One permit per connection: a send waits here when all are busy.
    permits: Semaphore,
    /// Connections between mails, most recently used last. Never held across an await.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

impl Pool {
    pub(super) fn new(server: Server, size: u32) -> Pool {
        let size = usize::try_from(size.max(1)).unwrap_or(1);
        Pool {
            server,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
        }
    }

    /// Sends `email` to `envelope`'s recipients on an idle connection or a new one.
    pub(super) async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<(), Failure> {
        // The semaphore is never closed, so acquiring can only wait.
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("pool semaphore is never closed");
        let (conn, reused) = match self.take_working().await {
            Some(conn) => (conn, true),
            None => (self.connect().await?, false),
        };
        match self.transaction(conn, envelope, email).await {
            // The server hung up on the idle connection, or said it was closing it (421, as
            // Exim does after 1,000 mails): once more on a new connection, as the outbox
            // would do a few seconds later.
            Err(Failure::Transaction(e)) if reused && hung_up(&e) => {
                tracing::debug!(error = %e, "reused SMTP connection failed; once more on a new one");
                let conn = self.connect().await?;
                self.transaction(conn, envelope, email).await
            }
            result => result,
        }
    }

    /// One mail on `conn`, which goes back to the idle list if all went well.
    async fn transaction(
        &self,
        mut conn: AsyncSmtpConnection,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<(), Failure> {
        match timeout(TIMEOUT, conn.send(envelope, email)).await {
            Ok(Ok(_)) => {
                self.idle().push(Idle {
                    conn,
                    since: Instant::now(),
                });
                Ok(())
            }
            // The connection is dropped: after a failed command lettre has sent QUIT (it
            // never sends RSET), and after a timeout it is somewhere mid-transaction.
            Ok(Err(e)) => Err(Failure::Transaction(e)),
            Err(_) => Err(Failure::TimedOut("sending the message")),
        }
    }

    /// The most recently used idle connection that still works.
    async fn take_working(&self) -> Option<AsyncSmtpConnection> {
        while let Some(Idle { mut conn, since }) = self.take_idle() {
            if since.elapsed() < FRESH {
                return Some(conn);
            }
            // Idle long enough that the server may have hung up: ask before using it.
            if let Ok(true) = timeout(NOOP_TIMEOUT, conn.test_connected()).await {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        timeout(TIMEOUT, self.server.connect())
            .await
            .unwrap_or(Err(Failure::TimedOut("connecting")))
    }

    /// Pops the newest idle connection after closing those idle too long.
    fn take_idle(&self) -> Option<Idle> {
        let mut idle = self.idle();
        let stale: Vec<Idle> = idle
            .extract_if(.., |c| c.since.elapsed() >= MAX_IDLE || c.conn.has_broken())
            .collect();
        let newest = idle.pop();
        drop(idle);
        drop(stale);
        newest
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        // Nothing panics while holding the lock; if something did, the list is still valid.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
pub(super) mod tests {
    //! A fake SMTP server, also used by `send`'s tests, and the pool's behaviour against it.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use lettre::Message;
    use lettre::message::Mailbox;
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    use super::*;

    /// A self-signed certificate for 127.0.0.1 and localhost, valid 2020–2120, made for
    /// these tests with `openssl ca -selfsign`; the key protects nothing else.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfjCCASWgAwIBAgIBATAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAx0aWRpbmdz
IHRlc3QwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBcxFTATBgNV
BAMMDHRpZGluZ3MgdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABL1DFAbk
3TCFcj+mQRKbrY2z98lWwZwHDP53FOk3EY78doBKpH8TPlke3Od1OgyRX4DEOQry
i/9pwlYWE1l1x3+jYDBeMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAMBgNV
HRMBAf8EAjAAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBSoG6gbh2E6
fWEP+krFGggule0guDAKBggqhkjOPQQDAgNHADBEAiBmvHnPy4CazK8nicQcOtcZ
hEqPmcb4WHQxOJRZrQX5wgIgSot6NrCwv2r7IzzJvJkqak8d63X6haiuwx0DceD7
SpQ=
-----END CERTIFICATE-----
";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJF6iE3cblc8oA2+k
EghDfwrYcb+L09vRA00iLfQoQf2hRANCAAS9QxQG5N0whXI/pkESm62Ns/fJVsGc
Bwz+dxTpNxGO/HaASqR/Ez5ZHtzndToMkV+AxDkK8ov/acJWFhNZdcd/
-----END PRIVATE KEY-----
";

    fn cert() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()
    }

    /// How the fake server encrypts.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum FakeTls {
        None,
        /// Offers STARTTLS.
        StartTls,
        /// TLS from the first byte.
        Implicit,
    }

    /// What the fake server answers.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct FakeOptions {
        pub(crate) tls: FakeTls,
        /// The reply to `RCPT TO`.
        pub(crate) rcpt: &'static str,
        /// The reply to `AUTH`.
        pub(crate) auth: &'static str,
        /// Mails taken on one connection before it is closed (0: no limit).
        pub(crate) per_connection: usize,
        /// Said to the next command before closing; `None`: close right after the last
        /// mail, as a server does with an idle client.
        pub(crate) closing: Option<&'static str>,
    }

    impl Default for FakeOptions {
        fn default() -> Self {
            FakeOptions {
                tls: FakeTls::None,
                rcpt: "250 ok",
                auth: "235 welcome",
                per_connection: 0,
                closing: None,
            }
        }
    }

    /// A running fake server: its address and every command it received, as
    /// `"<connection number> <command line>"`.
    pub(crate) struct Fake {
        pub(crate) port: u16,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Fake {
        pub(crate) fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }

        /// The log lines whose command starts with `verb`.
        fn commands(&self, verb: &str) -> Vec<String> {
            self.log()
                .into_iter()
                .filter(|l| l.split(' ').nth(1).is_some_and(|v| v.eq_ignore_ascii_case(verb)))
                .collect()
        }
    }

    /// Starts a fake SMTP server on 127.0.0.1 that takes any number of connections.
    pub(crate) async fn fake_smtp(options: FakeOptions) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(rustls::ALL_VERSIONS)
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert()], key)
                .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let connections = Arc::new(AtomicUsize::new(0));
        let shared = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                let (log, acceptor) = (Arc::clone(&shared), acceptor.clone());
                tokio::spawn(async move {
                    let say = |line: &str| log.lock().unwrap().push(format!("{n} {line}"));
                    match options.tls {
                        FakeTls::None => drop(session(tcp, n, true, options, &log).await),
                        FakeTls::Implicit => match acceptor.accept(tcp).await {
                            Ok(tls) => drop(session(tls, n, true, options, &log).await),
                            Err(e) => say(&format!("TLS-FAILED {e}")),
                        },
                        FakeTls::StartTls => {
                            if let Some(tcp) = session(tcp, n, true, options, &log).await {
                                match acceptor.accept(tcp).await {
                                    Ok(tls) => drop(session(tls, n, false, options, &log).await),
                                    Err(e) => say(&format!("TLS-FAILED {e}")),
                                }
                            }
                        }
                    }
                });
            }
        });
        Fake { port, log }
    }

    /// One SMTP conversation; gives the stream back when the client asked for STARTTLS.
    async fn session<S: AsyncRead + AsyncWrite + Unpin>(
        stream: S,
        n: usize,
        greet: bool,
        options: FakeOptions,
        log: &Mutex<Vec<String>>,
    ) -> Option<S> {
        let mut stream = BufReader::new(stream);
        if greet && stream.get_mut().write_all(b"220 fake ESMTP\r\n").await.is_err() {
            return None;
        }
        let offer_starttls = greet && options.tls == FakeTls::StartTls;
        let mut in_data = false;
        let mut taken = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if !matches!(stream.read_line(&mut line).await, Ok(1..)) {
                return None;
            }
            let line = line.trim_end();
            let reply = if in_data {
                if line != "." {
                    continue;
                }
                in_data = false;
                taken += 1;
                if taken == options.per_connection && options.closing.is_none() {
                    let _ = stream.get_mut().write_all(b"250 queued\r\n").await;
                    return None;
                }
                "250 queued"
            } else {
                log.lock().unwrap().push(format!("{n} {line}"));
                if options.per_connection > 0
                    && taken >= options.per_connection
                    && let Some(closing) = options.closing
                {
                    let _ = stream
                        .get_mut()
                        .write_all(format!("{closing}\r\n").as_bytes())
                        .await;
                    return None;
                }
                match line.split(' ').next().unwrap_or("").to_ascii_uppercase().as_str() {
                    "EHLO" if offer_starttls => "250-fake\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS",
                    "EHLO" => "250-fake\r\n250 AUTH PLAIN LOGIN",
                    "STARTTLS" => {
                        stream.get_mut().write_all(b"220 go ahead\r\n").await.ok()?;
                        return Some(stream.into_inner());
                    }
                    "AUTH" => options.auth,
                    "RCPT" => options.rcpt,
                    "DATA" => {
                        in_data = true;
                        "354 go on"
                    }
                    "QUIT" => {
                        let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                        return None;
                    }
                    _ => "250 ok",
                }
            };
            if stream
                .get_mut()
                .write_all(format!("{reply}\r\n").as_bytes())
                .await
                .is_err()
            {
                return None;
            }
        }
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

    fn server(fake: &Fake, tls: Tls) -> Server {
        Server {
            host: "127.0.0.1".to_owned(),
            port: fake.port,
            tls,
            credentials: None,
            hello: ClientId::Domain("client.example.org".to_owned()),
        }
    }

    async fn send(pool: &Pool) -> Result<(), Failure> {
        let message = message();
        pool.send(message.envelope(), &message.formatted()).await
    }

    /// Makes the idle connections look `age` older.
    fn age(pool: &Pool, age: Duration) {
        for idle in pool.idle().iter_mut() {
            idle.since = idle.since.checked_sub(age).unwrap();
        }
    }

    #[tokio::test]
    async fn a_connection_is_reused_without_noop_while_fresh_after_noop_later_and_closed_when_stale() {
        let fake = fake_smtp(FakeOptions::default()).await;
        let pool = Pool::new(server(&fake, Tls::None), 4);
        for _ in 0..3 {
            send(&pool).await.unwrap();
        }
        assert_eq!(fake.commands("MAIL").len(), 3);
        assert!(fake.log().iter().all(|l| l.starts_with("1 ")), "{:?}", fake.log());
        assert_eq!(fake.commands("EHLO"), ["1 EHLO client.example.org"]);
        assert!(fake.commands("NOOP").is_empty());

        age(&pool, FRESH + Duration::from_secs(1));
        send(&pool).await.unwrap();
        assert_eq!(fake.commands("NOOP"), ["1 NOOP"]);
        assert_eq!(
            fake.commands("MAIL").last().unwrap(),
            "1 MAIL FROM:<news@example.org>"
        );

        age(&pool, MAX_IDLE);
        send(&pool).await.unwrap();
        assert_eq!(fake.commands("NOOP").len(), 1);
        assert!(
            fake.commands("MAIL").last().unwrap().starts_with("2 "),
            "{:?}",
            fake.log()
        );
    }

    #[tokio::test]
    async fn a_mail_on_a_connection_the_server_closed_goes_once_more_on_a_new_one() {
        for closing in [None, Some("421 4.7.0 too many messages, closing")] {
            let fake = fake_smtp(FakeOptions {
                per_connection: 1,
                closing,
                ..FakeOptions::default()
            })
            .await;
            let pool = Pool::new(server(&fake, Tls::None), 1);
            for _ in 0..3 {
                send(&pool).await.unwrap();
            }
            let data: Vec<_> = fake.commands("DATA");
            assert_eq!(
                data,
                ["1 DATA", "2 DATA", "3 DATA"],
                "{closing:?}: {:?}",
                fake.log()
            );
        }
    }

    #[tokio::test]
    async fn a_connection_whose_transaction_failed_is_not_reused() {
        let fake = fake_smtp(FakeOptions {
            rcpt: "550 5.1.1 no such user",
            ..FakeOptions::default()
        })
        .await;
        let pool = Pool::new(server(&fake, Tls::None), 4);
        for _ in 0..2 {
            let failed = send(&pool).await;
            assert!(
                matches!(&failed, Err(Failure::Transaction(e)) if e.is_permanent()),
                "{failed:?}"
            );
        }
        assert_eq!(
            fake.commands("MAIL"),
            ["1 MAIL FROM:<news@example.org>", "2 MAIL FROM:<news@example.org>"]
        );
        assert!(pool.idle().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_connections_are_opened_than_the_pool_holds() {
        let fake = fake_smtp(FakeOptions::default()).await;
        let pool = Pool::new(server(&fake, Tls::None), 3);
        let sends: Vec<_> = (0..30).map(|_| send(&pool)).collect();
        for sent in futures::future::join_all(sends).await {
            sent.unwrap();
        }
        assert_eq!(fake.commands("MAIL").len(), 30);
        assert!(fake.commands("EHLO").len() <= 3, "{:?}", fake.commands("EHLO"));
        assert!(pool.idle().len() <= 3);
    }

    #[tokio::test]
    async fn implicit_tls_and_starttls_carry_the_login_and_the_mail() {
        let credentials = Credentials::new("news@example.org".to_owned(), "p@ss w:rd".to_owned());
        // base64 of "\0news@example.org\0p@ss w:rd"
        let plain = "AUTH PLAIN AG5ld3NAZXhhbXBsZS5vcmcAcEBzcyB3OnJk";
        for (fake_tls, tls) in [
            (FakeTls::Implicit, Tls::implicit("127.0.0.1", &[cert()]).unwrap()),
            (
                FakeTls::StartTls,
                Tls::Required(Tls::starttls_parameters("127.0.0.1", &[cert()]).unwrap()),
            ),
            (
                FakeTls::StartTls,
                Tls::Opportunistic(Tls::starttls_parameters("127.0.0.1", &[cert()]).unwrap()),
            ),
        ] {
            let fake = fake_smtp(FakeOptions {
                tls: fake_tls,
                ..FakeOptions::default()
            })
            .await;
            let pool = Pool::new(
                Server {
                    credentials: Some(credentials.clone()),
                    ..server(&fake, tls)
                },
                2,
            );
            send(&pool).await.unwrap();
            send(&pool).await.unwrap();
            let expected: &[&str] = match fake_tls {
                FakeTls::StartTls => &["1 EHLO", "1 STARTTLS", "1 EHLO", "1 AUTH", "1 MAIL"],
                _ => &["1 EHLO", "1 AUTH", "1 MAIL"],
            };
            let log = fake.log();
            assert!(log.iter().zip(expected).all(|(l, e)| l.starts_with(e)), "{log:?}");
            assert_eq!(fake.commands("AUTH"), [format!("1 {plain}")]);
            assert_eq!(fake.commands("MAIL").len(), 2);
        }
    }

    #[tokio::test]
    async fn opportunistic_tls_stays_plain_when_not_offered_and_required_tls_refuses() {
        let fake = fake_smtp(FakeOptions::default()).await;
        let parameters = || Tls::starttls_parameters("127.0.0.1", &[cert()]).unwrap();
        send(&Pool::new(server(&fake, Tls::Opportunistic(parameters())), 1))
            .await
            .unwrap();
        assert!(fake.commands("STARTTLS").is_empty());
        let refused = send(&Pool::new(server(&fake, Tls::Required(parameters())), 1)).await;
        assert!(
            matches!(refused, Err(Failure::Connect("STARTTLS", _))),
            "{refused:?}"
        );
        assert_eq!(fake.commands("MAIL").len(), 1, "no mail in the clear");
    }

    #[tokio::test]
    async fn an_untrusted_certificate_stops_the_connection() {
        let fake = fake_smtp(FakeOptions {
            tls: FakeTls::Implicit,
            ..FakeOptions::default()
        })
        .await;
        let failed = send(&Pool::new(
            server(&fake, Tls::implicit("127.0.0.1", &[]).unwrap()),
            1,
        ))
        .await;
        match failed {
            Err(Failure::Connect("TLS handshake", Cause::Io(e))) => {
                assert!(e.to_string().contains("UnknownIssuer"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert!(fake.commands("EHLO").is_empty());
    }
}
