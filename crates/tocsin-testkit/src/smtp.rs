//! [`SmtpSink`]: a minimal but correct SMTP server (RFC 5321) that keeps the
//! mail it accepts.
//!
//! It speaks EHLO/HELO, MAIL FROM, RCPT TO, DATA (with dot-unstuffing),
//! RSET, NOOP and QUIT, offers no AUTH or STARTTLS, and enforces command
//! order, so a client that skips a step gets the 503 a real server sends.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{WaitError, mime, wait_count};

/// Longest command line accepted (RFC 5321 asks for 512 octets; be generous).
const LINE_LIMIT: u64 = 64 * 1024;
/// Largest message accepted, advertised as SIZE.
const MESSAGE_LIMIT: usize = 10 * 1024 * 1024;

/// One accepted message: the envelope and the content as transmitted
/// (CRLF line breaks, dots unstuffed, without the terminating `.` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl ReceivedMail {
    /// The first header field `name` (case-insensitive), unfolded, as sent.
    pub fn header(&self, name: &str) -> Option<String> {
        mime::header(&self.data, name)
    }

    /// The Subject with RFC 2047 encoded-words decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|s| mime::decode_words(&s))
    }

    /// The decoded `text/plain` part (or the whole body if that is its type).
    pub fn text_part(&self) -> Option<String> {
        mime::find_part(&self.data, "text/plain")
    }

    /// The decoded `text/html` part.
    pub fn html_part(&self) -> Option<String> {
        mime::find_part(&self.data, "text/html")
    }
}

/// Negative answers still to give at one stage of the transaction.
#[derive(Debug, Default, Clone, Copy)]
struct Rejections {
    remaining: usize,
    code: u16,
}

impl Rejections {
    fn take(&mut self) -> Option<u16> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(self.code)
    }
}

#[derive(Default)]
struct Plan {
    mail: Rejections,
    data: Rejections,
}

struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    plan: Mutex<Plan>,
    count: watch::Sender<usize>,
}

impl Shared {
    fn messages(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An SMTP server on `127.0.0.1:0` that accepts every message unless told
/// to reject some.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    count: watch::Receiver<usize>,
    server: JoinHandle<()>,
}

impl SmtpSink {
    /// Binds and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound: a broken test environment.
    #[allow(clippy::expect_used)]
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address of a bound listener");
        let (count_tx, count) = watch::channel(0);
        let shared =
            Arc::new(Shared { messages: Mutex::new(Vec::new()), plan: Mutex::new(Plan::default()), count: count_tx });
        let accepting = shared.clone();
        let server = tokio::spawn(async move {
            let mut sessions = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                sessions.spawn(session(stream, accepting.clone()));
                // Reap finished sessions so the set does not grow.
                while sessions.try_join_next().is_some() {}
            }
        });
        SmtpSink { addr, shared, count, server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer the next `n` MAIL FROM commands with `code` (e.g. 451, 550).
    pub fn reject_next(&self, n: usize, code: u16) {
        self.shared.plan().mail = Rejections { remaining: n, code };
    }

    /// Answer the end of the next `n` DATA transfers with `code`, after the
    /// client has sent the whole message.
    pub fn reject_next_data(&self, n: usize, code: u16) {
        self.shared.plan().data = Rejections { remaining: n, code };
    }

    /// Every accepted message so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages().clone()
    }

    /// Waits until at least `n` messages were accepted and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<ReceivedMail>, WaitError> {
        let mut rx = self.count.clone();
        wait_count(&mut rx, n, timeout).await?;
        Ok(self.messages())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Dropping the JoinSet inside aborts the open sessions too.
        self.server.abort();
    }
}

fn rejection_text(code: u16) -> &'static str {
    if (400..500).contains(&code) {
        "try again later (rejected as the test asked)"
    } else {
        "rejected as the test asked"
    }
}

#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let _ = converse(&mut read, &mut write, &shared).await;
}

async fn converse<R, W>(read: &mut R, write: &mut W, shared: &Shared) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    write.write_all(b"220 tocsin-testkit ESMTP ready\r\n").await?;
    let mut envelope = Envelope::default();
    let mut greeted = false;
    loop {
        let Some(line) = read_line(read).await? else { return Ok(()) };
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                greeted = true;
                envelope = Envelope::default();
                format!(
                    "250-tocsin-testkit greets {arg}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {MESSAGE_LIMIT}\r\n"
                )
            }
            "HELO" => {
                greeted = true;
                envelope = Envelope::default();
                "250 tocsin-testkit\r\n".into()
            }
            "MAIL" if !greeted => "503 5.5.1 send EHLO or HELO first\r\n".into(),
            "MAIL" if envelope.from.is_some() => "503 5.5.1 nested MAIL command\r\n".into(),
            "MAIL" => match path(arg, "FROM:") {
                None => "501 5.5.4 syntax: MAIL FROM:<address>\r\n".into(),
                Some(from) => match shared.plan().mail.take() {
                    Some(code) => format!("{code} {}\r\n", rejection_text(code)),
                    None => {
                        envelope.from = Some(from);
                        "250 2.1.0 ok\r\n".into()
                    }
                },
            },
            "RCPT" if envelope.from.is_none() => "503 5.5.1 need MAIL before RCPT\r\n".into(),
            "RCPT" => match path(arg, "TO:") {
                Some(to) if !to.is_empty() => {
                    envelope.to.push(to);
                    "250 2.1.5 ok\r\n".into()
                }
                _ => "501 5.5.4 syntax: RCPT TO:<address>\r\n".into(),
            },
            "DATA" if envelope.to.is_empty() => "503 5.5.1 need RCPT before DATA\r\n".into(),
            "DATA" => {
                write.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                let Some(data) = read_data(read).await? else { return Ok(()) };
                let from = envelope.from.take().unwrap_or_default();
                let to = std::mem::take(&mut envelope.to);
                let rejection = shared.plan().data.take();
                match rejection {
                    Some(code) => format!("{code} {}\r\n", rejection_text(code)),
                    None if data.len() > MESSAGE_LIMIT => "552 5.3.4 message too big\r\n".into(),
                    None => {
                        let total = {
                            let mut messages = shared.messages();
                            messages.push(ReceivedMail { from, to, data });
                            messages.len()
                        };
                        shared.count.send_replace(total);
                        "250 2.0.0 queued\r\n".into()
                    }
                }
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 ok\r\n".into()
            }
            "NOOP" => "250 2.0.0 ok\r\n".into(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not implemented\r\n".into(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// One line without its line break; `None` at end of input. Over-long lines
/// end the session, as a real server would.
async fn read_line<R: AsyncBufRead + Unpin>(read: &mut R) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = read.take(LINE_LIMIT).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "line too long or unterminated"));
    }
    let line = String::from_utf8_lossy(&buf);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The message after a 354, up to the `.` line: each line keeps a CRLF and
/// loses one leading dot (RFC 5321 §4.5.2). `None` if the client hung up.
pub(crate) async fn read_data<R: AsyncBufRead + Unpin>(read: &mut R) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(read).await? else { return Ok(None) };
        if line == "." {
            return Ok(Some(data));
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
    }
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`; params are ignored.
fn path(arg: &str, prefix: &str) -> Option<String> {
    let arg = arg.trim_start();
    if arg.len() < prefix.len() || !arg[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn data_is_dot_unstuffed_up_to_the_dot_line() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n..\r\n...\r\nlast\r\n.\r\nQUIT\r\n";
        let mut reader: &[u8] = wire;
        let data = read_data(&mut reader).await.unwrap().unwrap();
        assert_eq!(data, "Subject: x\r\n\r\n.leading dot\r\n.\r\n..\r\nlast\r\n");
        assert_eq!(reader, b"QUIT\r\n");
        let mut cut: &[u8] = b"no end\r\n";
        assert_eq!(read_data(&mut cut).await.unwrap(), None);
    }

    #[test]
    fn paths_are_parsed_with_params_ignored() {
        assert_eq!(path("FROM:<a@b> BODY=8BITMIME", "FROM:").as_deref(), Some("a@b"));
        assert_eq!(path("from: <a@b>", "FROM:").as_deref(), Some("a@b"));
        assert_eq!(path("TO:<>", "TO:").as_deref(), Some(""));
        assert_eq!(path("TO:a@b", "TO:"), None);
        assert_eq!(path("X", "FROM:"), None);
    }

    async fn expect(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, code: &str) {
        loop {
            let line = read_line(read).await.unwrap().expect("server closed early");
            assert!(line.starts_with(code), "wanted {code}, got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_multi_recipient_session_is_recorded() {
        let sink = SmtpSink::start().await;
        let (read, mut write) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
        let mut read = BufReader::new(read);
        expect(&mut read, "220").await;
        let steps: [(&str, &str); 10] = [
            ("MAIL FROM:<early@x>\r\n", "503"),
            ("EHLO client\r\n", "250"),
            ("RCPT TO:<a@x>\r\n", "503"),
            ("MAIL FROM:<sender@x> BODY=8BITMIME\r\n", "250"),
            ("RCPT TO:<a@x>\r\n", "250"),
            ("RCPT TO:<b@y>\r\n", "250"),
            ("NOOP\r\n", "250"),
            ("DATA\r\n", "354"),
            ("Subject: hi\r\n\r\n.. dotted\r\nbody\r\n.\r\n", "250"),
            ("RSET\r\n", "250"),
        ];
        for (send, want) in steps {
            write.write_all(send.as_bytes()).await.unwrap();
            expect(&mut read, want).await;
        }
        write.write_all(b"DATA\r\n").await.unwrap();
        expect(&mut read, "503").await;
        write.write_all(b"QUIT\r\n").await.unwrap();
        expect(&mut read, "221").await;
        let mut rest = Vec::new();
        read.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());

        let mails = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            mails,
            vec![ReceivedMail {
                from: "sender@x".into(),
                to: vec!["a@x".into(), "b@y".into()],
                data: "Subject: hi\r\n\r\n. dotted\r\nbody\r\n".into(),
            }]
        );
        assert_eq!(mails[0].subject().as_deref(), Some("hi"));
        assert_eq!(mails[0].text_part().as_deref(), Some(". dotted\nbody\n"));
    }

    #[tokio::test]
    async fn rejections_are_given_then_stop() {
        let sink = SmtpSink::start().await;
        sink.reject_next(1, 451);
        sink.reject_next_data(1, 554);
        let (read, mut write) = TcpStream::connect(sink.addr()).await.unwrap().into_split();
        let mut read = BufReader::new(read);
        expect(&mut read, "220").await;
        let steps: [(&str, &str); 10] = [
            ("HELO client\r\n", "250"),
            ("MAIL FROM:<s@x>\r\n", "451"),
            ("MAIL FROM:<s@x>\r\n", "250"),
            ("RCPT TO:<a@x>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("x\r\n.\r\n", "554"),
            ("MAIL FROM:<s@x>\r\n", "250"),
            ("RCPT TO:<a@x>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("y\r\n.\r\n", "250"),
        ];
        for (send, want) in steps {
            write.write_all(send.as_bytes()).await.unwrap();
            expect(&mut read, want).await;
        }
        let mails = sink.wait_for(1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].data, "y\r\n");
        assert_eq!(
            sink.wait_for(2, Duration::from_millis(50)).await,
            Err(WaitError { wanted: 2, got: 1, waited: Duration::from_millis(50) })
        );
    }
}
