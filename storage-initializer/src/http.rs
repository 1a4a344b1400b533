//! `http(s)://` single-file downloads (KServe semantics: one file named after the URL path).

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncWriteExt, BufWriter};
use url::Url;

use crate::download::Progress;
use crate::env::StorageEnv;
use crate::error::StorageError;

const WRITE_BUFFER: usize = 1024 * 1024;

/// Downloads `url` into `into/<basename>`. Returns the number of files written (1).
///
/// Headers from the `<hostname>-headers` variable are sent with the request. Connection errors,
/// 408, 429 and 5xx are retried with backoff; 404 is [`StorageError::NotFound`] and 401/403
/// [`StorageError::AccessDenied`].
pub(crate) async fn download(
    url: &Url,
    shown: &str,
    into: &Path,
    env: &StorageEnv,
) -> Result<usize, StorageError> {
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\']))
        .ok_or_else(|| StorageError::InvalidUri {
            uri: shown.to_string(),
            reason: "the URL path has no file name to save the download as".to_string(),
        })?;
    let http_err = |reason: String| StorageError::Http {
        url: shown.to_string(),
        reason,
    };
    let headers = headers_for(url, env, shown)?;
    let t = &env.tuning;
    // Redirects are followed by hand (`send`) so the configured headers go to the URL's own
    // origin only, and no `Referer` carries the original URL (and its signed query) anywhere.
    let client = reqwest::Client::builder()
        .connect_timeout(t.connect_timeout)
        .read_timeout(t.read_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .build()
        .map_err(|e| http_err(e.to_string()))?;
    let request = Request {
        client: &client,
        url,
        headers: &headers,
        shown,
    };
    let local = into.join(&name);
    let attempts = t.max_attempts.max(1);
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match fetch_once(&request, &local).await {
            Ok(()) => return Ok(1),
            Err((e, true)) if attempt < attempts => {
                tracing::warn!(url = %shown, attempt, error = %e, "download failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Redirects followed before giving up (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// What every attempt at one download sends.
struct Request<'a> {
    client: &'a reqwest::Client,
    /// The URL as the user gave it.
    url: &'a Url,
    /// The `<host>-headers` configured for that URL's host.
    headers: &'a HeaderMap,
    /// The URL for messages.
    shown: &'a str,
}

impl Request<'_> {
    /// GETs the URL, following redirects. The configured headers (and credentials in the URL)
    /// go only to the original origin (scheme, host and port): a hop to another origin, an
    /// `https` to `http` downgrade included, gets none of them.
    async fn send(&self) -> Result<reqwest::Response, (StorageError, bool)> {
        let http_err = |reason: String, retry: bool| {
            (
                StorageError::Http {
                    url: self.shown.to_string(),
                    reason,
                },
                retry,
            )
        };
        let mut current = self.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = current.origin() == self.url.origin();
            let mut builder = self.client.get(current.clone());
            if same_origin {
                builder = builder.headers(self.headers.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| http_err(without_url(&e), true))?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(response);
            };
            let mut next = current.join(location).map_err(|e| {
                http_err(
                    format!("HTTP {} to an invalid location: {e}", response.status()),
                    false,
                )
            })?;
            if !matches!(next.scheme(), "http" | "https") {
                return Err(http_err(
                    format!("redirect to an unsupported scheme `{}`", next.scheme()),
                    false,
                ));
            }
            if next.origin() != self.url.origin() {
                // Never carry the user's URL credentials to another origin.
                let _ = next.set_username("");
                let _ = next.set_password(None);
                tracing::info!(
                    from = %current.origin().ascii_serialization(),
                    to = %next.origin().ascii_serialization(),
                    "redirected to another origin; not sending the configured headers there"
                );
            }
            current = next;
        }
        Err(http_err(
            format!("more than {MAX_REDIRECTS} redirects"),
            false,
        ))
    }
}

/// One attempt; the flag says whether the failure is worth retrying.
async fn fetch_once(request: &Request<'_>, local: &Path) -> Result<(), (StorageError, bool)> {
    let shown = request.shown;
    let http_err = |reason: String, retry: bool| {
        (
            StorageError::Http {
                url: shown.to_string(),
                reason,
            },
            retry,
        )
    };
    let response = request.send().await?;
    let status = response.status();
    match status {
        s if s.is_success() => {}
        StatusCode::NOT_FOUND | StatusCode::GONE => {
            return Err((
                StorageError::NotFound {
                    uri: shown.to_string(),
                },
                false,
            ));
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err((
                StorageError::AccessDenied {
                    uri: shown.to_string(),
                    detail: format!("HTTP {status}"),
                },
                false,
            ));
        }
        s => {
            let retry = s.is_server_error()
                || s == StatusCode::TOO_MANY_REQUESTS
                || s == StatusCode::REQUEST_TIMEOUT;
            return Err(http_err(format!("HTTP {s}"), retry));
        }
    }
    let expected = response.content_length();
    let progress = Progress::start(expected.unwrap_or(0), shown.to_string());
    let file = tokio::fs::File::create(local)
        .await
        .map_err(|e| (StorageError::io("create", local, e), false))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut written = 0u64;
    let mut body = response.bytes_stream();
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(|e| http_err(without_url(&e), true))?;
        out.write_all(&bytes)
            .await
            .map_err(|e| (StorageError::io("write", local, e), false))?;
        written += bytes.len() as u64;
        progress
            .done
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    out.flush()
        .await
        .map_err(|e| (StorageError::io("write", local, e), false))?;
    if let Some(expected) = expected
        && expected != written
    {
        return Err((
            StorageError::Truncated {
                path: shown.to_string(),
                expected,
                actual: written,
            },
            true,
        ));
    }
    progress.finish();
    Ok(())
}

/// reqwest's message without the URL, which may carry a signed query string.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn headers_for(url: &Url, env: &StorageEnv, shown: &str) -> Result<HeaderMap, StorageError> {
    let mut map = HeaderMap::new();
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if let Some(headers) = env.http_headers.get(&host) {
        for (k, v) in headers {
            let name = HeaderName::try_from(k.as_str());
            let value = HeaderValue::try_from(v.as_str());
            match (name, value) {
                (Ok(name), Ok(mut value)) => {
                    value.set_sensitive(true);
                    map.insert(name, value);
                }
                _ => {
                    return Err(StorageError::Config {
                        uri: shown.to_string(),
                        reason: format!("invalid HTTP header `{k}` in {host}-headers"),
                    });
                }
            }
        }
    }
    Ok(map)
}
