//! [`HeadGuard`]: a connection as actix-http's HTTP/1 dispatcher reads it, with every request
//! head judged before the dispatcher sees it, so that a head it would refuse with an empty `431`
//! is answered with problem+json (`headers-too-large`) instead.
//!
//! The guard holds back the bytes of each request head until the head is complete, and counts
//! its header fields and bytes against actix-http's own bounds. A head within them goes on
//! unchanged. A head over them is never given to the dispatcher: it reads the end of the stream
//! there, finishes the requests before it, and shuts the connection down, and the guard writes
//! its answer then (the last thing on the connection), closes, and reads what the client is
//! still sending for a moment so that the close does not reset the connection under the answer.
//!
//! To find the next head the guard follows only the framing it is sure of: no body, or one
//! `Content-Length`. After anything else (chunked bodies, upgrades, `CONNECT`, a request asking
//! to close, HTTP/1.0, a head actix-http may refuse) it stops judging and passes the rest of the
//! connection through unread, so actix-http's framing always decides; at worst a later head gets
//! actix-http's own `431`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::rt::time::{Sleep, sleep};
use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Header fields actix-http 3 parses in one request head (`MAX_HEADERS` in its HTTP/1 decoder);
/// one more and it answers an empty `431`.
pub const MAX_HEADERS: usize = 96;
/// Bytes within which a request head must be complete (actix-http 3's `MAX_BUFFER_SIZE`).
pub const MAX_HEAD_BYTES: usize = 131_072;
/// How long, at most, the client's remaining bytes are read after the answer.
const LINGER: Duration = Duration::from_secs(1);
/// How many of them, at most.
const LINGER_BYTES: usize = 1 << 20;
/// Bytes read from the connection at a time.
const CHUNK: usize = 8192;

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooLarge {
    /// More than [`MAX_HEADERS`] header fields.
    Fields,
    /// Not complete within [`MAX_HEAD_BYTES`].
    Bytes,
}

/// Makes the bytes of the answer to a refused head (a whole HTTP/1.1 response), when it is
/// refused.
pub trait Answer {
    fn answer(&self, why: TooLarge) -> Vec<u8>;
}

/// A connection whose request heads are judged before the dispatcher reads them (see the
/// module documentation).
#[derive(Debug)]
pub struct HeadGuard<T, A> {
    io: T,
    answerer: A,
    /// Bytes read from `io` and not yet given to the dispatcher; the first `ready` of them are
    /// judged and may be given.
    buf: BytesMut,
    ready: usize,
    state: State,
}

/// Where the guard stands in the stream of requests, at `buf[ready..]`.
#[derive(Debug)]
enum State {
    /// At the start of a request head.
    Head,
    /// Inside a body with this many bytes still to come.
    Body(u64),
    /// Judging no more: everything goes through.
    Through,
    /// A head was refused; the dispatcher reads the end of the stream at it.
    Refused(Refusal),
}

#[derive(Debug)]
struct Refusal {
    answer: Vec<u8>,
    written: usize,
    shut: bool,
    linger: Option<Pin<Box<Sleep>>>,
    drained: usize,
}

/// The verdict on the bytes at the start of a request head.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The head is not complete yet, and may still be.
    Partial,
    /// A complete head of `len` bytes, within bounds, followed by a body of `body` bytes.
    Within {
        len: usize,
        body: u64,
    },
    /// Within bounds, but not framed in a way the guard follows.
    Unsure,
    Refuse(TooLarge),
}

impl<T, A> HeadGuard<T, A> {
    pub fn new(io: T, answerer: A) -> Self {
        Self {
            io,
            answerer,
            buf: BytesMut::new(),
            ready: 0,
            state: State::Head,
        }
    }
}

impl<T, A: Answer> HeadGuard<T, A> {
    /// Judges the bytes after `ready`, as far as they go.
    fn judge(&mut self) {
        loop {
            let rest = &self.buf[self.ready..];
            match &mut self.state {
                State::Through => {
                    self.ready = self.buf.len();
                    return;
                }
                State::Refused(_) => return,
                State::Body(left) => {
                    if *left == 0 {
                        self.state = State::Head;
                        continue;
                    }
                    if rest.is_empty() {
                        return;
                    }
                    let take = usize::try_from(*left).map_or(rest.len(), |l| l.min(rest.len()));
                    self.ready += take;
                    *left -= take as u64;
                }
                State::Head => {
                    if rest.is_empty() {
                        return;
                    }
                    match inspect(rest) {
                        Verdict::Partial => return,
                        Verdict::Within { len, body } => {
                            self.ready += len;
                            self.state = State::Body(body);
                        }
                        Verdict::Unsure => self.state = State::Through,
                        Verdict::Refuse(why) => {
                            // Nothing after a refused head is ever read.
                            self.buf.truncate(self.ready);
                            self.state = State::Refused(Refusal {
                                answer: self.answerer.answer(why),
                                written: 0,
                                shut: false,
                                linger: None,
                                drained: 0,
                            });
                            return;
                        }
                    }
                }
            }
        }
    }

    /// How many more bytes may be read into `buf` now: a head being judged never grows past
    /// [`MAX_HEAD_BYTES`].
    fn room(&self) -> usize {
        match self.state {
            State::Head => (MAX_HEAD_BYTES + self.ready)
                .saturating_sub(self.buf.len())
                .min(CHUNK),
            _ => CHUNK,
        }
    }
}

/// Judges the start of a request head as actix-http 3's HTTP/1 decoder would bound it.
fn inspect(bytes: &[u8]) -> Verdict {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD_BYTES => {
            return Verdict::Refuse(TooLarge::Bytes);
        }
        Ok(httparse::Status::Partial) => return Verdict::Partial,
        Err(httparse::Error::TooManyHeaders) => return Verdict::Refuse(TooLarge::Fields),
        // actix-http answers a malformed head itself, and closes.
        Err(_) => return Verdict::Unsure,
    };
    if len > MAX_HEAD_BYTES {
        return Verdict::Refuse(TooLarge::Bytes);
    }
    if req.version != Some(1) || req.method == Some("CONNECT") {
        return Verdict::Unsure;
    }
    let mut body = None;
    for field in req.headers.iter() {
        let name = field.name;
        let value = std::str::from_utf8(field.value).map(str::trim);
        if name.eq_ignore_ascii_case("content-length") {
            match (body, value.ok().and_then(content_length)) {
                (None, Some(n)) => body = Some(n),
                _ => return Verdict::Unsure,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || (name.eq_ignore_ascii_case("connection")
                && value
                    .is_ok_and(|v| v.split(',').any(|o| o.trim().eq_ignore_ascii_case("close"))))
        {
            return Verdict::Unsure;
        }
    }
    Verdict::Within {
        len,
        body: body.unwrap_or(0),
    }
}

/// A `Content-Length` value: digits only.
fn content_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl<T: AsyncRead + Unpin, A: Answer + Unpin> AsyncRead for HeadGuard<T, A> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            match this.state {
                // The end of the stream, as far as the dispatcher is concerned.
                State::Refused(_) => return Poll::Ready(Ok(())),
                State::Through if this.buf.is_empty() => {
                    return Pin::new(&mut this.io).poll_read(cx, out);
                }
                _ => {}
            }
            let mut chunk = [0u8; CHUNK];
            let mut into = ReadBuf::new(&mut chunk[..this.room().max(1)]);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut into))?;
            if into.filled().is_empty() {
                // The client stopped sending: what it sent goes to the dispatcher as it is.
                this.state = State::Through;
                this.ready = this.buf.len();
                if this.ready == 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            this.buf.extend_from_slice(into.filled());
            this.judge();
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin, A: Unpin> AsyncWrite for HeadGuard<T, A> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let State::Refused(refusal) = &mut this.state else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        let mut io = Pin::new(&mut this.io);
        while refusal.written < refusal.answer.len() {
            let n = ready!(
                io.as_mut()
                    .poll_write(cx, &refusal.answer[refusal.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            refusal.written += n;
        }
        if !refusal.shut {
            ready!(io.as_mut().poll_flush(cx))?;
            ready!(io.as_mut().poll_shutdown(cx))?;
            refusal.shut = true;
        }
        // Closing with unread bytes would reset the connection, and the client could lose the
        // answer: read and drop what it is still sending, for a bounded time and amount.
        let linger = refusal
            .linger
            .get_or_insert_with(|| Box::pin(sleep(LINGER)));
        let mut chunk = [0u8; CHUNK];
        while refusal.drained < LINGER_BYTES && linger.as_mut().poll(cx).is_pending() {
            let mut into = ReadBuf::new(&mut chunk);
            match io.as_mut().poll_read(cx, &mut into) {
                Poll::Ready(Ok(())) if !into.filled().is_empty() => {
                    refusal.drained += into.filled().len();
                }
                Poll::Ready(_) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn head(fields: usize) -> Vec<u8> {
        let mut h = b"GET /v1/locations HTTP/1.1\r\nhost: x\r\n".to_vec();
        for i in 1..fields {
            h.extend_from_slice(format!("x-f{i}: v\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        h
    }

    #[test]
    fn bounds_are_actix_https() {
        let at = head(MAX_HEADERS);
        assert_eq!(
            inspect(&at),
            Verdict::Within {
                len: at.len(),
                body: 0
            }
        );
        assert_eq!(
            inspect(&head(MAX_HEADERS + 1)),
            Verdict::Refuse(TooLarge::Fields)
        );
        // Counted as soon as the field after the last one allowed begins.
        let over = head(1000);
        assert_eq!(
            inspect(&over[..over.len() / 2]),
            Verdict::Refuse(TooLarge::Fields)
        );
        let mut long = b"GET / HTTP/1.1\r\nx-long: ".to_vec();
        long.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(inspect(&long), Verdict::Refuse(TooLarge::Bytes));
        assert_eq!(inspect(&long[..MAX_HEAD_BYTES - 1]), Verdict::Partial);
    }

    #[test]
    fn follows_only_the_framing_it_is_sure_of() {
        let put = b"PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n";
        assert_eq!(
            inspect(put),
            Verdict::Within {
                len: put.len(),
                body: 12
            }
        );
        for unsure in [
            &b"POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"[..],
            b"PUT /x HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n",
            b"PUT /x HTTP/1.1\r\ncontent-length: +1\r\n\r\n",
            b"GET / HTTP/1.1\r\nconnection: keep-alive, close\r\n\r\n",
            b"GET / HTTP/1.1\r\nupgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"CONNECT x:1 HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        ] {
            assert_eq!(
                inspect(unsure),
                Verdict::Unsure,
                "{}",
                String::from_utf8_lossy(unsure)
            );
        }
    }

    struct Fixed;
    impl Answer for Fixed {
        fn answer(&self, _: TooLarge) -> Vec<u8> {
            b"ANSWER".to_vec()
        }
    }

    #[test]
    fn judges_heads_after_bodies() {
        let mut g = HeadGuard::new((), Fixed);
        let first = b"PUT /x HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello";
        g.buf.extend_from_slice(first);
        g.buf.extend_from_slice(b"GET /y HTTP/1.1\r\nho");
        g.judge();
        assert_eq!(g.ready, first.len());
        assert!(matches!(g.state, State::Head));
        g.buf.extend_from_slice(b"st: x\r\n\r\n");
        g.judge();
        assert_eq!(g.ready, g.buf.len());
        g.buf.extend_from_slice(&head(200));
        g.judge();
        assert!(matches!(g.state, State::Refused(_)));
        assert_eq!(g.buf.len(), g.ready);
    }
}
