//! Canonical article URLs: absolute, no fragment, no tracking parameters.

use url::Url;

/// Query parameters that only track a click and never select content.
const TRACKING: [&str; 12] = [
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "spm",
    "from",
    "share_token",
    "_hsenc",
];

/// Resolves `href` against `base` and removes the fragment and tracking parameters
/// (`utm_*` and the common click ids). Returns `None` for non-HTTP(S) links.
pub fn canonical_url(base: &Url, href: &str) -> Option<Url> {
    let mut url = base.join(href.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("utm_") && !TRACKING.contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_url_is_absolute_without_fragment_or_tracking() {
        let base = Url::parse("http://www.shanxidayuan.com/gsyl/jinzhong/index.html").unwrap();
        let u = canonical_url(&base, "1453.html?utm_source=x&id=3&fbclid=9#comments").unwrap();
        assert_eq!(
            u.as_str(),
            "http://www.shanxidayuan.com/gsyl/jinzhong/1453.html?id=3"
        );
        let u = canonical_url(&base, "/gsyl/jinzhong/1453.html?utm_medium=rss").unwrap();
        assert_eq!(u.as_str(), "http://www.shanxidayuan.com/gsyl/jinzhong/1453.html");
        assert!(canonical_url(&base, "javascript:alert(1)").is_none());
        assert!(canonical_url(&base, "mailto:a@b.c").is_none());
    }
}
