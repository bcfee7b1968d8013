//! Reads the header of every frame a screen sends (RFC 6455, section 5.2)
//! before the WebSocket library does, and ends the connection as soon as
//! one announces more than the limit. The library itself checks a frame's
//! size only once the whole frame has arrived, so a header announcing
//! 2 GiB would otherwise hold the connection open, waiting, until the
//! silence timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_core::Stream;

/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER: usize = 14;

enum State {
    /// Gathering a header.
    Header {
        bytes: [u8; MAX_HEADER],
        have: usize,
    },
    /// Inside a frame's payload, this much of it left.
    Payload { left: u64 },
}

pub struct FrameGuard<S> {
    inner: S,
    max: u64,
    state: State,
    /// Set when a frame was refused, so the screen can say why it closes.
    refused: Arc<AtomicBool>,
}

impl<S> FrameGuard<S> {
    pub fn new(inner: S, max: usize, refused: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            max: max as u64,
            state: State::Header {
                bytes: [0; MAX_HEADER],
                have: 0,
            },
            refused,
        }
    }

    /// Follows `chunk` through frame boundaries; false when a frame is too large.
    fn accept(&mut self, mut chunk: &[u8]) -> bool {
        while !chunk.is_empty() {
            match &mut self.state {
                State::Payload { left } => {
                    let skip = (*left).min(chunk.len() as u64);
                    *left -= skip;
                    chunk = &chunk[skip as usize..];
                    if *left == 0 {
                        self.state = State::Header {
                            bytes: [0; MAX_HEADER],
                            have: 0,
                        };
                    }
                }
                State::Header { bytes, have } => {
                    bytes[*have] = chunk[0];
                    *have += 1;
                    chunk = &chunk[1..];
                    let Some(length) = announced(&bytes[..*have]) else {
                        continue;
                    };
                    if length > self.max {
                        return false;
                    }
                    self.state = if length == 0 {
                        State::Header {
                            bytes: [0; MAX_HEADER],
                            have: 0,
                        }
                    } else {
                        State::Payload { left: length }
                    };
                }
            }
        }
        true
    }
}

/// The payload length a complete header announces; `None` while the
/// header is still incomplete.
fn announced(header: &[u8]) -> Option<u64> {
    if header.len() < 2 {
        return None;
    }
    let masked = header[1] & 0x80 != 0;
    let (extended, short) = match header[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        short => (0, Some(u64::from(short))),
    };
    let needed = 2 + extended + if masked { 4 } else { 0 };
    if header.len() < needed {
        return None;
    }
    Some(short.unwrap_or_else(|| {
        header[2..2 + extended]
            .iter()
            .fold(0u64, |length, byte| (length << 8) | u64::from(*byte))
    }))
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.accept(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    self.refused.store(true, Ordering::Relaxed);
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_guard() -> FrameGuard<futures_util::stream::Empty<Result<Bytes, PayloadError>>> {
        FrameGuard::new(futures_util::stream::empty(), 16 * 1024, Arc::default())
    }

    /// A masked client frame header announcing `length`.
    fn header(length: u64) -> Vec<u8> {
        let mut bytes = vec![0x81];
        match length {
            0..=125 => bytes.push(0x80 | length as u8),
            126..=0xffff => {
                bytes.push(0x80 | 126);
                bytes.extend((length as u16).to_be_bytes());
            }
            _ => {
                bytes.push(0x80 | 127);
                bytes.extend(length.to_be_bytes());
            }
        }
        bytes.extend([1, 2, 3, 4]);
        bytes
    }

    #[test]
    fn frames_within_the_limit_pass_even_split_across_chunks() {
        let mut guard = new_guard();
        let mut stream = header(5);
        stream.extend(b"hello");
        stream.extend(header(16 * 1024));
        stream.extend(vec![0; 16 * 1024]);
        stream.extend(header(0));
        for chunk in stream.chunks(7) {
            assert!(guard.accept(chunk));
        }
    }

    #[test]
    fn a_header_announcing_too_much_is_refused_before_its_payload() {
        let mut guard = new_guard();
        let mut stream = header(3);
        stream.extend(b"abc");
        assert!(guard.accept(&stream));
        let two_gib = header(2 << 30);
        assert!(guard.accept(&two_gib[..5]), "not whole yet");
        assert!(!guard.accept(&two_gib[5..]));
        assert!(!new_guard().accept(&header(16 * 1024 + 1)));
    }
}
