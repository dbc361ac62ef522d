//! Answering with a rendered document: content negotiation (gzip, br), validators
//! (`ETag`, `Last-Modified`) and conditional GET (`If-None-Match`, `If-Modified-Since` → 304).
//!
//! A [`Rendered`] document keeps its identity bytes plus lazily compressed variants, so a
//! cached feed is compressed once per encoding, not once per request. The identity variant
//! carries the strong `ETag` (a hash of its bytes); compressed variants carry the same tag
//! marked weak (`W/"…"`): they are the same content in different bytes, and a client that
//! sends the weak tag back still gets its 304 (`If-None-Match` uses weak comparison).

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// `Cache-Control` of feeds and of the pages built from them.
pub const CACHE_CONTROL: &str = "public, max-age=60";

/// A document ready to serve: bytes plus validators.
#[derive(Debug)]
pub struct Rendered {
    /// The identity bytes.
    pub bytes: Bytes,
    /// Strong entity tag, quoted: `"` + 32 hex digits of SHA-256 + `"`.
    pub etag: String,
    /// The document's own time (for feeds, the greatest item `updated`).
    pub last_modified: DateTime<Utc>,
    /// `Content-Type`, with charset.
    pub content_type: &'static str,
    /// Header values computed once: strong tag, weak tag, `Last-Modified`, `Content-Type`.
    values: HeaderValues,
    gzip: OnceCell<Option<Bytes>>,
    br: OnceCell<Option<Bytes>>,
}

/// Response header values of a document, built once instead of on every request.
#[derive(Debug)]
struct HeaderValues {
    strong: HeaderValue,
    weak: HeaderValue,
    last_modified: HeaderValue,
    content_type: HeaderValue,
}

impl Rendered {
    /// Wraps rendered bytes, computing the entity tag.
    pub fn new(bytes: Vec<u8>, last_modified: DateTime<Utc>, content_type: &'static str) -> Rendered {
        let etag = etag_of(&bytes);
        // Hex digits, an HTTP date and our own content-type constants are always valid
        // header values.
        let value = |s: &str| HeaderValue::from_str(s).expect("ASCII header value");
        let values = HeaderValues {
            strong: value(&etag),
            weak: value(&format!("W/{etag}")),
            last_modified: value(&http_date(last_modified)),
            content_type: value(content_type),
        };
        Rendered {
            bytes: Bytes::from(bytes),
            etag,
            last_modified,
            content_type,
            values,
            gzip: OnceCell::new(),
            br: OnceCell::new(),
        }
    }

    /// The bytes in `encoding`, compressed on first use (off the async workers) and kept.
    /// `None` when compression failed; the caller then serves identity.
    async fn encoded(&self, encoding: Encoding) -> Option<Bytes> {
        let cell = match encoding {
            Encoding::Identity => return Some(self.bytes.clone()),
            Encoding::Gzip => &self.gzip,
            Encoding::Br => &self.br,
        };
        cell.get_or_init(|| async {
            let bytes = self.bytes.clone();
            match tokio::task::spawn_blocking(move || compress(&bytes, encoding)).await {
                Ok(Ok(out)) => Some(Bytes::from(out)),
                Ok(Err(e)) => {
                    tracing::error!("{encoding:?} compression failed: {e}");
                    None
                }
                Err(e) => {
                    tracing::error!("{encoding:?} compression task failed: {e}");
                    None
                }
            }
        })
        .await
        .clone()
    }

    /// The response to a GET or HEAD with these request headers: 304 when the client's
    /// copy is current, else 200 with the best encoding the client accepts.
    pub async fn respond(&self, request: &HeaderMap) -> Response {
        let wanted = negotiate(request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()));
        let values = &self.values;
        let mut headers = HeaderMap::with_capacity(6);
        let etag = if wanted == Encoding::Identity {
            &values.strong
        } else {
            &values.weak
        };
        headers.insert(header::ETAG, etag.clone());
        headers.insert(header::LAST_MODIFIED, values.last_modified.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        // A 304 needs no body, so the compressed variant is not even looked up.
        if not_modified(request, &self.etag, self.last_modified) {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        let (encoding, body) = match self.encoded(wanted).await {
            Some(body) => (wanted, body),
            None => (Encoding::Identity, self.bytes.clone()),
        };
        if encoding != wanted {
            headers.insert(header::ETAG, values.strong.clone());
        }
        headers.insert(header::CONTENT_TYPE, values.content_type.clone());
        if let Some(name) = encoding.header() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        }
        (StatusCode::OK, headers, Body::from(body)).into_response()
    }
}

/// The quoted strong entity tag of some bytes: the first 16 bytes of their SHA-256, in hex.
pub fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", crate::domain::hex(&Sha256::digest(bytes)[..16]))
}

/// A content coding we can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// `gzip`.
    Gzip,
    /// `br` (Brotli).
    Br,
}

impl Encoding {
    fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Br => Some("br"),
        }
    }
}

/// Picks the coding for an `Accept-Encoding` value: the acceptable one (q > 0) with the
/// highest weight, `br` before `gzip` on ties; identity when neither is acceptable.
pub fn negotiate(accept: Option<&str>) -> Encoding {
    let Some(accept) = accept else {
        return Encoding::Identity;
    };
    let (mut br, mut gzip, mut star) = (None, None, None);
    for part in accept.split(',') {
        let mut fields = part.split(';');
        let coding = fields.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        for param in fields {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    if br > 0.0 && br >= gzip {
        Encoding::Br
    } else if gzip > 0.0 {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn compress(bytes: &[u8], encoding: Encoding) -> std::io::Result<Vec<u8>> {
    match encoding {
        Encoding::Identity => Ok(bytes.to_vec()),
        Encoding::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(bytes)?;
            enc.finish()
        }
        Encoding::Br => {
            let mut out = Vec::new();
            {
                // Quality 5 compresses feeds about as well as gzip -9, many times faster than 11.
                let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                enc.write_all(bytes)?;
                enc.flush()?;
            }
            Ok(out)
        }
    }
}

/// Whether the client's copy is current (RFC 9110 §13.2.2): `If-None-Match` decides when
/// present (weak comparison, `*`, lists); otherwise `If-Modified-Since` at or after
/// `last_modified` (whole seconds).
pub fn not_modified(request: &HeaderMap, etag: &str, last_modified: DateTime<Utc>) -> bool {
    let inm: Vec<&HeaderValue> = request.get_all(header::IF_NONE_MATCH).iter().collect();
    if !inm.is_empty() {
        let ours = opaque(etag);
        return inm
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(entity_tags)
            .any(|t| t == "*" || opaque(t) == ours);
    }
    request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
        .is_some_and(|since| last_modified.timestamp() <= since.timestamp())
}

/// The opaque part of an entity tag, without `W/` (weak comparison ignores it).
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// Splits an `If-None-Match` value into entity tags (commas inside quotes belong to the tag).
fn entity_tags(value: &str) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                if let Some(s) = start.take() {
                    tags.push(value[s..i].trim());
                }
                continue;
            }
            _ => {}
        }
        if start.is_none() && !c.is_whitespace() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        tags.push(value[s..].trim());
    }
    tags
}

/// An HTTP date (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses an HTTP date in any of the three forms RFC 9110 accepts.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn negotiation_honours_weights_and_prefers_br_on_ties() {
        assert_eq!(negotiate(None), Encoding::Identity);
        assert_eq!(negotiate(Some("gzip, deflate, br")), Encoding::Br);
        assert_eq!(negotiate(Some("gzip")), Encoding::Gzip);
        assert_eq!(negotiate(Some("br;q=0.5, gzip;q=0.8")), Encoding::Gzip);
        assert_eq!(negotiate(Some("br;q=0, gzip;q=0")), Encoding::Identity);
        assert_eq!(negotiate(Some("*")), Encoding::Br);
        assert_eq!(negotiate(Some("*;q=0.1, br;q=0")), Encoding::Gzip);
        assert_eq!(negotiate(Some("identity, deflate")), Encoding::Identity);
        assert_eq!(negotiate(Some("X-GZIP")), Encoding::Gzip);
    }

    #[test]
    fn if_none_match_uses_weak_comparison_lists_and_star() {
        let lm = DateTime::UNIX_EPOCH;
        let tag = "\"abc\"";
        assert!(not_modified(&headers(&[("if-none-match", "\"abc\"")]), tag, lm));
        assert!(not_modified(&headers(&[("if-none-match", "W/\"abc\"")]), tag, lm));
        assert!(not_modified(
            &headers(&[("if-none-match", "\"x\", W/\"abc\"")]),
            tag,
            lm
        ));
        assert!(not_modified(
            &headers(&[("if-none-match", "\"x\""), ("if-none-match", "\"abc\"")]),
            tag,
            lm
        ));
        assert!(not_modified(&headers(&[("if-none-match", "*")]), tag, lm));
        assert!(!not_modified(&headers(&[("if-none-match", "\"ab\"")]), tag, lm));
        assert!(!not_modified(&headers(&[("if-none-match", "\"a,bc\"")]), tag, lm));
        assert_eq!(entity_tags(" \"a,b\" , W/\"c\""), vec!["\"a,b\"", "W/\"c\""]);
        // If-None-Match wins over If-Modified-Since.
        let h = headers(&[
            ("if-none-match", "\"other\""),
            ("if-modified-since", "Sun, 06 Nov 2094 08:49:37 GMT"),
        ]);
        assert!(!not_modified(&h, tag, lm));
    }

    #[test]
    fn if_modified_since_compares_whole_seconds() {
        let lm = DateTime::parse_from_rfc3339("2024-03-01T10:00:00.700Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| headers(&[("if-modified-since", s)]);
        assert!(not_modified(&at("Fri, 01 Mar 2024 10:00:00 GMT"), "\"t\"", lm));
        assert!(not_modified(&at("Fri, 01 Mar 2024 11:00:00 GMT"), "\"t\"", lm));
        assert!(!not_modified(&at("Fri, 01 Mar 2024 09:59:59 GMT"), "\"t\"", lm));
        assert!(!not_modified(&at("yesterday"), "\"t\"", lm));
        assert!(not_modified(&at("Friday, 01-Mar-24 10:00:00 GMT"), "\"t\"", lm));
        assert!(not_modified(&at("Fri Mar  1 10:00:00 2024"), "\"t\"", lm));
        assert_eq!(http_date(lm), "Fri, 01 Mar 2024 10:00:00 GMT");
    }

    #[tokio::test]
    async fn compressed_variants_decode_to_the_identity_bytes_under_a_weak_tag() {
        use std::io::Read;
        let text = "新闻 ".repeat(500).into_bytes();
        let r = Rendered::new(text.clone(), DateTime::UNIX_EPOCH, "text/plain; charset=utf-8");
        assert_eq!(r.etag.len(), 34);
        let res = r.respond(&headers(&[("accept-encoding", "gzip")])).await;
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert_eq!(res.headers()["etag"].to_str().unwrap(), format!("W/{}", r.etag));
        assert_eq!(res.headers()["vary"], "Accept-Encoding");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, text);

        let res = r.respond(&headers(&[("accept-encoding", "br")])).await;
        assert_eq!(res.headers()["content-encoding"], "br");
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        let mut plain = Vec::new();
        brotli::Decompressor::new(&body[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, text);

        let res = r.respond(&headers(&[("if-none-match", &r.etag)])).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert!(res.headers().get("content-type").is_none());
        let body = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        assert!(body.is_empty());
    }
}
