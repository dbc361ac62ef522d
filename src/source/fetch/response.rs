//! Reading a response: the size-limited body, headers as text, and reqwest errors
//! turned into [`FetchError`]s.

use reqwest::Response;
use reqwest::header::{HeaderMap, HeaderName};
use url::Url;

use super::error::redact;
use super::guard::BlockedAddress;
use super::{BodyLimit, FetchError, FetchSettings};

/// Turns a failed send or body read into the error that says what happened.
pub(super) fn reqwest_error(settings: &FetchSettings, url: &Url, err: reqwest::Error) -> FetchError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = cause {
        if let Some(BlockedAddress(addr)) = e.downcast_ref::<BlockedAddress>() {
            return FetchError::Blocked {
                url: redact(url),
                addr: *addr,
            };
        }
        cause = e.source();
    }
    if err.is_timeout() {
        let after = if err.is_connect() {
            settings.connect_timeout
        } else {
            settings.timeout
        };
        return FetchError::Timeout {
            url: redact(url),
            after,
        };
    }
    FetchError::network(url, err)
}

pub(super) fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// Reads the decompressed body chunk by chunk, never holding more than the limit plus
/// one chunk.
pub(super) async fn read_body(
    response: &mut Response,
    url: &Url,
    limit: BodyLimit,
    settings: &FetchSettings,
) -> Result<Vec<u8>, FetchError> {
    let (max, truncate) = match limit {
        BodyLimit::Fail(max) => (max, false),
        BodyLimit::Truncate(max) => (max, true),
    };
    let too_large = || FetchError::TooLarge {
        url: redact(url),
        limit: max,
    };
    // reqwest reports a length only when it is the decoded length (no compression).
    let announced = response.content_length().and_then(|n| usize::try_from(n).ok());
    if !truncate && announced.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0).min(max));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| reqwest_error(settings, url, err))?
    {
        if body.len() + chunk.len() > max {
            if truncate {
                body.extend_from_slice(&chunk[..max - body.len()]);
                break;
            }
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
