//! Signed links in mail: unsubscribe and manage URLs that never expire, and the random
//! double opt-in confirmation tokens that are stored only as hashes.
//!
//! An unsubscribe or manage token is `{id}.{mac}`: the subscription id and the hex of
//! HMAC-SHA256 under `TIDINGS_SECRET_KEY` of `"{purpose}:{id}"`. The purpose is part of the
//! MAC, so an unsubscribe token never opens the manage page and the other way round.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::Secret;
use crate::domain::hex;

type HmacSha256 = Hmac<Sha256>;

/// What a signed subscription token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Unsubscribing (a page on GET, the action on POST).
    Unsubscribe,
    /// Changing topics and delivery preferences.
    Manage,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::Manage => "manage",
        }
    }
}

/// Builds and checks the absolute links put in mail. Cloning is cheap enough (a URL and a key).
#[derive(Clone)]
pub struct Links {
    /// The public URL without query, fragment or trailing slash; paths are appended to it.
    base: String,
    /// The HMAC key; never shown (`Debug` is written by hand).
    key: Vec<u8>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Links {
    /// Links under `public_url` (with or without a trailing slash, possibly with a path
    /// prefix such as `https://example.org/news/`), signed with `key`.
    pub fn new(public_url: &Url, key: &Secret) -> Links {
        Links::with_key(public_url, key.expose())
    }

    /// [`Links::new`] with the key as a string.
    pub(super) fn with_key(public_url: &Url, key: &str) -> Links {
        let mut url = public_url.clone();
        url.set_query(None);
        url.set_fragment(None);
        Links {
            base: url.as_str().trim_end_matches('/').to_owned(),
            key: key.as_bytes().to_vec(),
        }
    }

    /// The one-click unsubscribe page for subscription `id`: `{public_url}/unsubscribe/{token}`.
    pub fn unsubscribe_url(&self, id: i64) -> String {
        self.at("unsubscribe", &self.token(Purpose::Unsubscribe, id))
    }

    /// The page to change subscription `id`'s topics and delivery: `{public_url}/manage/{token}`.
    pub fn manage_url(&self, id: i64) -> String {
        self.at("manage", &self.token(Purpose::Manage, id))
    }

    /// The double opt-in link for a confirmation token: `{public_url}/confirm/{token}`.
    pub fn confirm_url(&self, token: &str) -> String {
        self.at("confirm", token)
    }

    /// The subscription id a token was signed for, if it is genuine and for `purpose`.
    /// The MAC is compared in constant time.
    pub fn verify(&self, purpose: Purpose, token: &str) -> Option<i64> {
        let (id, mac) = token.trim().split_once('.')?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id: i64 = id.parse().ok()?;
        let mac = unhex(mac)?;
        self.mac(purpose, id).verify_slice(&mac).ok()?;
        Some(id)
    }

    fn token(&self, purpose: Purpose, id: i64) -> String {
        format!("{id}.{}", hex(&self.mac(purpose, id).finalize().into_bytes()))
    }

    fn mac(&self, purpose: Purpose, id: i64) -> HmacSha256 {
        // HMAC takes keys of any length (long ones are hashed), so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(format!("{}:{id}", purpose.label()).as_bytes());
        mac
    }

    fn at(&self, section: &str, token: &str) -> String {
        format!("{}/{section}/{}", self.base, encode_segment(token))
    }
}

/// A new confirmation token (32 random bytes as hex) and the hash to store for it.
pub fn new_confirmation_token() -> (String, String) {
    let token = hex(&rand::random::<[u8; 32]>());
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a confirmation token: lower-case hex of the SHA-256 of the token
/// (surrounding whitespace, as a pasted link may bring, is ignored).
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so any token is one
/// path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Bytes from hex (either case); `None` for anything else.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |c: u8| char::from(c).to_digit(16);
            u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(public_url: &str) -> Links {
        Links::with_key(
            &Url::parse(public_url).unwrap(),
            "k3y-with-at-least-32-characters-in-it",
        )
    }

    fn token_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    #[test]
    fn tokens_round_trip_for_their_own_purpose_only() {
        let l = links("https://example.org/");
        let unsub = l.unsubscribe_url(42);
        let manage = l.manage_url(42);
        assert!(
            unsub.starts_with("https://example.org/unsubscribe/42."),
            "{unsub}"
        );
        assert!(manage.starts_with("https://example.org/manage/42."), "{manage}");
        assert_eq!(l.verify(Purpose::Unsubscribe, token_of(&unsub)), Some(42));
        assert_eq!(l.verify(Purpose::Manage, token_of(&manage)), Some(42));
        assert_ne!(token_of(&unsub), token_of(&manage));
        assert_eq!(l.verify(Purpose::Manage, token_of(&unsub)), None);
        assert_eq!(l.verify(Purpose::Unsubscribe, token_of(&manage)), None);
    }

    #[test]
    fn tampered_tokens_and_other_keys_are_refused() {
        let l = links("https://example.org");
        let token = token_of(&l.unsubscribe_url(7)).to_owned();
        let (_, mac) = token.split_once('.').unwrap();
        for bad in [
            format!("8.{mac}"),
            format!("+7.{mac}"),
            format!("7.{}", &mac[..mac.len() - 2]),
            format!("7.{}00", &mac[..mac.len() - 2]),
            "7.".to_owned(),
            "7".to_owned(),
            format!("7.{mac}x"),
            String::new(),
        ] {
            assert_eq!(l.verify(Purpose::Unsubscribe, &bad), None, "{bad}");
        }
        let other = Links::with_key(
            &Url::parse("https://example.org").unwrap(),
            "another-key-with-at-least-32-characters",
        );
        assert_eq!(other.verify(Purpose::Unsubscribe, &token), None);
        assert_eq!(l.verify(Purpose::Unsubscribe, &token.to_uppercase()), Some(7));
    }

    #[test]
    fn links_keep_the_public_path_prefix_with_or_without_a_slash() {
        for base in [
            "https://example.org/news/",
            "https://example.org/news",
            "https://example.org/news/?x=1#top",
        ] {
            let l = links(base);
            assert!(
                l.manage_url(1).starts_with("https://example.org/news/manage/1."),
                "{base}"
            );
            assert_eq!(l.confirm_url("abc"), "https://example.org/news/confirm/abc");
        }
        assert_eq!(
            links("http://127.0.0.1:8080").confirm_url("a b/c"),
            "http://127.0.0.1:8080/confirm/a%20b%2Fc"
        );
    }

    #[test]
    fn confirmation_tokens_are_random_and_stored_hashed() {
        let (token, hash) = new_confirmation_token();
        let (other, _) = new_confirmation_token();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token, other);
        assert_eq!(hash, hash_token(&token));
        assert_ne!(hash, token);
        assert_eq!(hash.len(), 64);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let shown = format!("{:?}", links("https://example.org"));
        assert!(!shown.contains("k3y"), "{shown}");
    }
}
