//! The replies of an HTTP/2 connection's concurrent requests, coalesced into one write.
//!
//! hyper answers each HTTP/2 stream from a task of its own, and each answer wakes the connection's task, which
//! tokio runs next (its LIFO slot): left alone, a client that sends eight requests at once gets eight replies in
//! eight `writev`s, each of which (when the client is waiting) wakes it on its own — on the 2-core benchmark
//! machine that kernel work was a third of a gRPC request's CPU time. So when more than one request arrived since
//! the connection last wrote, its first write yields until the tasks already runnable (the other streams'
//! handlers) have run — tokio's deferred wake (`tokio::task::yield_now`), which fires once its run queue is
//! drained or at its next I/O poll, so no reply waits for a slow handler, only for the ready ones — and the
//! replies of every stream answered meanwhile leave together. A connection with one request at a time (every
//! HTTP/1 connection, a gRPC client with one call in flight) writes at once, as before.
//!
//! Which requests arrived is read off the bytes the client sends: after the 24-byte HTTP/2 preface, frames of a
//! 9-byte header (24-bit length, type, flags, stream id) and their payload (RFC 9113 §3.4, §4.1); a HEADERS
//! frame (type 1) opens a request. A connection that does not start with the preface is not scanned further.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// The client preface of an HTTP/2 connection (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of an HTTP/2 frame header.
const FRAME_HEADER: usize = 9;

/// The type of a HEADERS frame.
const HEADERS: u8 = 0x1;

/// Where the scan of a client's bytes stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Within the preface: this many of its bytes matched so far.
    Preface(usize),
    /// Between frames: `have` bytes of the next frame's header read, then `skip` bytes of payload to pass over
    /// (`skip` is only non-zero once a header is complete).
    Frames {
        header: [u8; FRAME_HEADER],
        have: usize,
        skip: usize,
    },
    /// Not HTTP/2: nothing to coalesce.
    Off,
}

/// Counts the requests an HTTP/2 client opens, from the bytes it sends, however they are split across reads.
#[derive(Debug, Clone)]
pub(crate) struct FrameScan(Scan);

impl Default for FrameScan {
    fn default() -> Self {
        FrameScan(Scan::Preface(0))
    }
}

impl FrameScan {
    /// Scans the next bytes the client sent; returns the number of HEADERS frames that start in them.
    pub(crate) fn read(&mut self, mut bytes: &[u8]) -> usize {
        let mut opened = 0;
        loop {
            match &mut self.0 {
                Scan::Off => return opened,
                Scan::Preface(seen) => {
                    let n = (PREFACE.len() - *seen).min(bytes.len());
                    if bytes[..n] != PREFACE[*seen..*seen + n] {
                        self.0 = Scan::Off;
                        return opened;
                    }
                    *seen += n;
                    bytes = &bytes[n..];
                    if *seen < PREFACE.len() {
                        return opened;
                    }
                    self.0 = Scan::Frames {
                        header: [0; FRAME_HEADER],
                        have: 0,
                        skip: 0,
                    };
                }
                Scan::Frames { header, have, skip } => {
                    let passed = (*skip).min(bytes.len());
                    *skip -= passed;
                    bytes = &bytes[passed..];
                    if bytes.is_empty() {
                        return opened;
                    }
                    let n = (FRAME_HEADER - *have).min(bytes.len());
                    header[*have..*have + n].copy_from_slice(&bytes[..n]);
                    *have += n;
                    bytes = &bytes[n..];
                    if *have == FRAME_HEADER {
                        if header[3] == HEADERS {
                            opened += 1;
                        }
                        *skip = usize::from(header[0]) << 16
                            | usize::from(header[1]) << 8
                            | usize::from(header[2]);
                        *have = 0;
                    }
                }
            }
        }
    }
}

/// Set by tokio when a deferred wake fires, then passed on to the connection's task.
#[derive(Debug)]
struct Deferred {
    fired: AtomicBool,
    task: Waker,
}

impl Wake for Deferred {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// The write side of one connection: whether its next write goes out now or after the runnable tasks.
#[derive(Debug, Default)]
pub(crate) struct Coalesce {
    scan: FrameScan,
    /// Requests opened since the connection last wrote.
    opened: usize,
    /// The pending yield of this batch's first write, if it is waiting.
    waiting: Option<Arc<Deferred>>,
    /// Whether something was written since the last flush.
    wrote: bool,
}

impl Coalesce {
    /// Takes note of bytes the client sent.
    pub(crate) fn read(&mut self, bytes: &[u8]) {
        self.opened = self.opened.saturating_add(self.scan.read(bytes));
    }

    /// Ready when a write may go to the socket: at once unless several requests arrived since the last write,
    /// else once tokio has run the tasks that were runnable when the write was first tried.
    pub(crate) fn poll_write_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(deferred) = &self.waiting {
            if !deferred.fired.load(Ordering::Acquire) {
                return Poll::Pending;
            }
            self.waiting = None;
        } else if self.opened > 1 && !self.wrote {
            let deferred = Arc::new(Deferred {
                fired: AtomicBool::new(false),
                task: cx.waker().clone(),
            });
            let waker = Waker::from(deferred.clone());
            let mut yielded = std::pin::pin!(tokio::task::yield_now());
            // Outside a tokio worker the wake comes at once; either way `fired` says when to go on.
            if yielded
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
                && !deferred.fired.load(Ordering::Acquire)
            {
                self.waiting = Some(deferred);
                return Poll::Pending;
            }
        }
        self.wrote = true;
        Poll::Ready(())
    }

    /// Takes note of a completed flush: the batch (if anything was written) is out.
    pub(crate) fn flushed(&mut self) {
        if self.wrote {
            self.wrote = false;
            self.opened = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame header: length, type, flags 0, stream id.
    fn frame(kind: u8, payload: &[u8], stream: u32) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, 0];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// A client's bytes: the preface, SETTINGS, then a HEADERS and a DATA frame for each of `requests` streams.
    fn client(requests: u32) -> Vec<u8> {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, &[0; 6], 0));
        for i in 0..requests {
            // A payload that looks like frame headers of type 1 must not be counted.
            bytes.extend(frame(HEADERS, &[0, 0, 0, 1, 0, 0, 0, 0, 1, 7], 2 * i + 1));
            bytes.extend(frame(0x0, &[0, 0, 0, 9, 1, 0, 0, 0, 0, 1, 1], 2 * i + 1));
        }
        bytes.extend(frame(0x8, &[0, 0, 1, 0], 0));
        bytes
    }

    #[test]
    fn headers_frames_are_counted_however_the_bytes_are_split() {
        let bytes = client(5);
        assert_eq!(FrameScan::default().read(&bytes), 5);
        for chunk in [1, 2, 7, 9, 10, 23, 24, 25, 100] {
            let mut scan = FrameScan::default();
            let opened: usize = bytes.chunks(chunk).map(|c| scan.read(c)).sum();
            assert_eq!(opened, 5, "chunks of {chunk}");
        }
        // A frame whose payload is longer than one read.
        let mut scan = FrameScan::default();
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x0, &[HEADERS; 300], 1));
        bytes.extend(frame(HEADERS, &[], 3));
        let opened: usize = bytes.chunks(64).map(|c| scan.read(c)).sum();
        assert_eq!(opened, 1);
    }

    #[test]
    fn http1_is_not_scanned() {
        let mut scan = FrameScan::default();
        assert_eq!(scan.read(b"POST / HTTP/1.1\r\n"), 0);
        assert_eq!(scan.read(&client(3)), 0);
        // A preface that goes wrong late.
        let mut scan = FrameScan::default();
        assert_eq!(scan.read(b"PRI * HTTP/2.0\r\n\r\nXX"), 0);
        assert_eq!(scan.read(&client(3)[20..]), 0);
    }

    /// Polls `due` once on the current task; `Ready` if the write may go.
    async fn poll_once(due: &mut Coalesce) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(due.poll_write_due(cx))).await
    }

    #[tokio::test]
    async fn one_request_writes_at_once_and_several_wait_for_the_runnable_tasks() {
        let mut io = Coalesce::default();
        io.read(&client(1));
        assert!(poll_once(&mut io).await.is_ready());
        io.flushed();

        // Three requests: the first write waits; a task spawned before it (another stream's handler) runs
        // before the write may go.
        io.read(&client(3)[PREFACE.len()..]);
        let ran = Arc::new(AtomicBool::new(false));
        let handler = tokio::spawn({
            let ran = ran.clone();
            async move { ran.store(true, Ordering::Release) }
        });
        std::future::poll_fn(|cx| {
            assert!(io.poll_write_due(cx).is_pending());
            // Woken again by something else (another stream's reply) before the deferred wake: still waiting.
            assert!(io.poll_write_due(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert!(!ran.load(Ordering::Acquire));
        std::future::poll_fn(|cx| io.poll_write_due(cx)).await;
        assert!(
            ran.load(Ordering::Acquire),
            "the runnable task ran before the write"
        );
        handler.await.unwrap();
        // Further writes of the batch go at once; after the flush, one request writes at once again.
        assert!(poll_once(&mut io).await.is_ready());
        io.flushed();
        io.read(&frame(HEADERS, &[], 9));
        assert!(poll_once(&mut io).await.is_ready());
    }

    #[test]
    fn a_flush_without_a_write_keeps_the_count() {
        let mut io = Coalesce::default();
        io.read(&client(2));
        io.flushed();
        assert_eq!(io.opened, 2);
    }
}
