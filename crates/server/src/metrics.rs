//! The Prometheus endpoint of a server (`dkvs-server --metrics ADDR:PORT`):
//! the counters of its STATS reply and its request latency histograms
//! (`crate::stats`) in the Prometheus text exposition format, version
//! 0.0.4 (`crate::stats::prometheus`), at plain HTTP `GET /metrics`.
//! `docs/METRICS.md` lists the metrics.
//!
//! Why a hand-written responder rather than an HTTP crate: the endpoint
//! answers one path with one small body, so a few dozen lines of HTTP/1.x
//! on tokio's `TcpListener` (already a dependency) do it, and every limit
//! is visible here (`docs/DECISIONS.md` #102). What it does:
//!
//! - reads one request head of at most [`MAX_REQUEST`] bytes within
//!   [`READ_TIMEOUT`] (a slower or larger one gets 408 or 431 and is
//!   closed; a request body is never read);
//! - `GET /metrics` (a query string is ignored) → 200 with the exposition
//!   text; `HEAD /metrics` → the same headers; another path → 404; another
//!   method → 405 with `Allow: GET, HEAD`; a head that is not HTTP → 400;
//! - one response per connection (`Connection: close`);
//! - at most [`MAX_CONNECTIONS`] connections at once (more wait in the
//!   listen backlog); each in its own task, so a slow client delays no one.
//!
//! Nothing a client sends can stop the endpoint or the server: every error
//! ends that connection only.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::stats::Source;
use crate::stats::prometheus::exposition;

/// Largest request head read (request line and headers).
pub const MAX_REQUEST: usize = 8192;
/// How long a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing the response may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The `Content-Type` of the exposition format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `GET /metrics` on `listener` with the pairs of `source`, forever
/// (until the task is dropped with the runtime).
pub async fn serve(listener: TcpListener, source: Source) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, go on.
                tracing::debug!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let source = Arc::clone(&source);
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &source).await {
                tracing::debug!(%peer, error = %e, "metrics: connection ended");
            }
            drop(permit);
        });
    }
}

/// Answers one connection: one request, one response, closed.
async fn connection(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream, &mut head)).await;
    let response = match read {
        Err(_) => status(408, "Request Timeout", ""),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Head::TooLarge)) => status(431, "Request Header Fields Too Large", ""),
        Ok(Ok(Head::Closed)) => return Ok(()),
        Ok(Ok(Head::Complete)) => respond(&head, source),
    };
    tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    })
    .await
    .unwrap_or(Ok(()))
}

/// How reading a request head ended.
enum Head {
    /// Up to the blank line.
    Complete,
    /// More than [`MAX_REQUEST`] bytes without the blank line.
    TooLarge,
    /// The client closed before a whole head.
    Closed,
}

async fn read_head(stream: &mut TcpStream, head: &mut Vec<u8>) -> std::io::Result<Head> {
    let mut buf = [0u8; 1024];
    loop {
        if head_end(head).is_some() {
            return Ok(Head::Complete);
        }
        if head.len() >= MAX_REQUEST {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

/// Where the head ends (after `\r\n\r\n`, or `\n\n` from lenient clients).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = memchr::memmem::find(bytes, b"\r\n\r\n").map(|i| i + 4);
    let lf = memchr::memmem::find(bytes, b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The whole response to the request head `head` (a pure function of the
/// head and the source's report).
pub fn respond(head: &[u8], source: &Source) -> Vec<u8> {
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = first.strip_suffix(b"\r").unwrap_or(first);
    let Ok(line) = std::str::from_utf8(line) else {
        return status(400, "Bad Request", "");
    };
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return status(400, "Bad Request", "");
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return status(400, "Bad Request", "");
    }
    let path = target.split('?').next().unwrap_or(target);
    if method != "GET" && method != "HEAD" {
        return status(405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
    }
    if path != "/metrics" {
        return status(404, "Not Found", "");
    }
    let body = exposition(&source());
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method == "GET" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// A response with no content but its status line as text.
fn status(code: u16, reason: &str, extra_headers: &str) -> Vec<u8> {
    let body = format!("{code} {reason}\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn source() -> Source {
        Arc::new(|| crate::stats::Scrape {
            pairs: vec![
                ("uptime_seconds".into(), "12".into()),
                ("engine".into(), "memory".into()),
                ("gets".into(), "3".into()),
                ("keys".into(), "2".into()),
                ("unknown_thing".into(), "9".into()),
            ],
            latency: Default::default(),
        })
    }

    fn text(r: Vec<u8>) -> String {
        String::from_utf8(r).unwrap()
    }

    #[test]
    fn requests_and_statuses() {
        let s = source();
        let ok = text(respond(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &s));
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.contains("\r\n\r\n# HELP dkvs_uptime_seconds "), "{ok}");
        assert!(ok.contains("\ndkvs_keys 2\n"), "{ok}");
        let body = exposition(&s());
        assert!(ok.ends_with(&body), "{ok}");
        assert!(ok.contains(&format!("Content-Length: {}\r\n", body.len())));
        let query = text(respond(b"GET /metrics?x=1 HTTP/1.0\n\n", &s));
        assert!(query.starts_with("HTTP/1.1 200"), "{query}");
        let head = text(respond(b"HEAD /metrics HTTP/1.1\r\n\r\n", &s));
        assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"));
        for (request, code) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], "404"),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", "404"),
            (b"POST /metrics HTTP/1.1\r\n\r\n", "405"),
            (b"DELETE /x HTTP/1.1\r\n\r\n", "405"),
            (b"garbage\r\n\r\n", "400"),
            (b"GET /metrics\r\n\r\n", "400"),
            (b"GET metrics HTTP/1.1\r\n\r\n", "400"),
            (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", "400"),
            (b"", "400"),
        ] {
            let r = text(respond(request, &s));
            assert!(
                r.starts_with(&format!("HTTP/1.1 {code} ")),
                "{request:?}: {r}"
            );
        }
        let r = text(respond(b"PUT /metrics HTTP/1.1\r\n\r\n", &s));
        assert!(r.contains("Allow: GET, HEAD\r\n"), "{r}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// Any head gets one well-formed response with a known status.
        #[test]
        fn any_head_gets_a_response(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            prefix in proptest::sample::select(vec!["", "GET ", "GET /metrics ", "HEAD /", "POST /metrics HTTP/1.1\r\n"]),
        ) {
            let mut request = prefix.as_bytes().to_vec();
            request.extend_from_slice(&head);
            let r = respond(&request, &source());
            let text = String::from_utf8_lossy(&r);
            proptest::prop_assert!(
                ["200", "400", "404", "405"].iter().any(|c| text.starts_with(&format!("HTTP/1.1 {c} "))),
                "{}", text
            );
            proptest::prop_assert!(text.contains("\r\nConnection: close\r\n\r\n"));
            let _ = head_end(&request);
        }
    }

    #[test]
    fn head_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
