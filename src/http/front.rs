//! The HTTP server's front door. actix-http answers some requests itself, before the app sees
//! them, with empty bodies: a malformed or oversized request head (400, 431) and a head that does
//! not arrive in time (408). Every error of this service is problem+json, those included, so each
//! connection is read through [`Guarded`]: a second copy of actix's own HTTP/1 decoder checks the
//! bytes before actix's dispatcher gets them. What that decoder accepts is handed on unchanged
//! (the rules are exactly actix's); where it fails, the connection is ended after the responses
//! already due, with a problem document of the matching status.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_codec::{AsyncRead, AsyncWrite, Decoder, ReadBuf};
use actix_http::error::ParseError;
use actix_http::h1;
use bytes::{Buf, Bytes, BytesMut};

/// A connection read through actix's HTTP/1 decoder before actix's dispatcher reads it.
pub struct Guarded<T> {
    io: T,
    shadow: h1::Codec,
    /// Bytes read but not yet consumed by the shadow decoder.
    undecoded: BytesMut,
    /// The same bytes, kept whole to hand on once the decoder has consumed them.
    raw: BytesMut,
    /// Checked bytes, for the dispatcher.
    checked: BytesMut,
    /// The problem response to send before closing.
    pending: Option<Bytes>,
    /// Between messages: the next bytes are a request head.
    awaiting_head: bool,
    first: bool,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    head_timeout: Duration,
    eof: bool,
    /// The connection ends in a refusal: linger to let the client read it.
    refused: bool,
    shut: bool,
    drained: usize,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Where reads land, zeroed once per connection (a fresh zeroed buffer per read cost more
    /// than the rest of the guard together).
    read_buf: Vec<u8>,
}

/// The most one read takes from the socket.
const READ_CHUNK: usize = 16 * 1024;

/// A read into the connection's buffer, made (zeroed) at its first read.
fn chunk(buf: &mut Vec<u8>) -> ReadBuf<'_> {
    if buf.is_empty() {
        buf.resize(READ_CHUNK, 0);
    }
    ReadBuf::new(buf)
}

/// How long a refused connection is kept open for the client to read the refusal.
const LINGER: Duration = Duration::from_secs(2);

impl<T> Guarded<T> {
    /// `head_timeout`: how long a request head may take to arrive, from its first byte (for a
    /// connection's first request, from the connection's opening).
    pub fn new(io: T, head_timeout: Duration) -> Self {
        Self {
            io,
            shadow: h1::Codec::new(actix_http::ServiceConfig::default()),
            undecoded: BytesMut::new(),
            raw: BytesMut::new(),
            checked: BytesMut::new(),
            pending: None,
            awaiting_head: true,
            first: true,
            deadline: Some(Box::pin(tokio::time::sleep(head_timeout))),
            head_timeout,
            eof: false,
            refused: false,
            shut: false,
            drained: 0,
            linger: None,
            read_buf: Vec::new(),
        }
    }

    /// Stops reading; `problem`, when given, is sent once the responses already due are out.
    fn end(&mut self, problem: Option<(u16, &str, &str)>) {
        self.eof = true;
        self.deadline = None;
        if let Some((status, slug, detail)) = problem {
            self.pending = Some(problem_response(status, slug, detail));
            self.refused = true;
        }
    }

    /// Runs the shadow decoder over what has arrived, moving what it accepts to `checked`.
    fn decode(&mut self) {
        loop {
            let before = self.undecoded.len();
            let result = self.shadow.decode(&mut self.undecoded);
            let used = before - self.undecoded.len();
            let accepted = self.raw.split_to(used);
            self.checked.extend_from_slice(&accepted);
            match result {
                Ok(Some(h1::Message::Item(_))) => {
                    self.first = false;
                    self.deadline = None;
                    self.awaiting_head =
                        matches!(self.shadow.message_type(), h1::MessageType::None);
                }
                Ok(Some(h1::Message::Chunk(None))) => self.awaiting_head = true,
                Ok(Some(h1::Message::Chunk(Some(_)))) => {}
                Ok(None) => return,
                Err(err) => {
                    if self.awaiting_head {
                        let (status, slug, detail) = match err {
                            ParseError::TooLarge => (
                                431,
                                "request-header-fields-too-large",
                                "The request head is too large: at most 96 header fields and 128 KiB",
                            ),
                            ParseError::Uri(_) => (
                                400,
                                "bad-request",
                                "The request target is not a valid URI (at most 65 534 characters, ASCII only)",
                            ),
                            _ => (400, "bad-request", "The request head is not valid HTTP/1.1"),
                        };
                        self.end(Some((status, slug, detail)));
                    } else {
                        // A broken body: the dispatcher sees it end early and the app answers.
                        self.end(None);
                    }
                    return;
                }
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.checked.is_empty() {
                let n = out.remaining().min(this.checked.len());
                out.put_slice(&this.checked.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if this.awaiting_head && this.deadline.is_none() && !this.raw.is_empty() {
                this.deadline = Some(Box::pin(tokio::time::sleep(this.head_timeout)));
            }
            if let Some(deadline) = this.deadline.as_mut() {
                if deadline.as_mut().poll(cx).is_ready() {
                    if this.first || !this.raw.is_empty() {
                        this.end(Some((
                            408,
                            "request-timeout",
                            "The request head did not arrive in time",
                        )));
                    } else {
                        this.end(None);
                    }
                    continue;
                }
            }
            let mut read = chunk(&mut this.read_buf);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            let filled = read.filled();
            if filled.is_empty() {
                this.end(None);
                continue;
            }
            this.undecoded.extend_from_slice(filled);
            this.raw.extend_from_slice(filled);
            this.decode();
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while let Some(mut bytes) = this.pending.take() {
            match Pin::new(&mut this.io).poll_write(cx, &bytes) {
                Poll::Pending => {
                    this.pending = Some(bytes);
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => {
                    bytes.advance(n);
                    if !bytes.is_empty() {
                        this.pending = Some(bytes);
                    }
                }
            }
        }
        if !this.shut {
            ready!(Pin::new(&mut this.io).poll_flush(cx))?;
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.shut = true;
        }
        // A lingering close: what the client still sends after a refusal is read and dropped
        // until it closes its side or LINGER has passed, so that
        // unread bytes do not make the kernel reset the connection and lose our answer.
        if this.refused && this.linger.is_none() {
            this.linger = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        while this.refused && this.drained < 1 << 20 {
            if let Some(linger) = this.linger.as_mut() {
                if linger.as_mut().poll(cx).is_ready() {
                    break;
                }
            }
            let mut read = chunk(&mut this.read_buf);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut read)) {
                Ok(()) if !read.filled().is_empty() => this.drained += read.filled().len(),
                _ => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// A complete HTTP/1.1 response carrying a problem document, closing the connection.
fn problem_response(status: u16, slug: &str, detail: &str) -> Bytes {
    let reason = actix_http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::json!({
        "type": format!("/problems/{slug}"),
        "title": reason,
        "status": status,
        "detail": detail,
        "requestId": request_id,
    })
    .to_string();
    tracing::info!(status, request_id = %request_id, detail, "request refused before routing");
    Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\ncache-control: no-store\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
        crate::error::PROBLEM_JSON,
        body.len(),
    ))
}
