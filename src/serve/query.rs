//! Feed query strings (`?region=…&tag=…&q=…&exclude=…&limit=N`): parsing, and the
//! canonical form that names a filtered feed (sorted parameters, regions by slug).

use url::form_urlencoded;

use super::ServeError;

/// Items per feed when the URL names no `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest `limit` honoured; larger values are clamped to it.
pub const MAX_LIMIT: i64 = 500;

/// Query parameters of a feed URL, as given (names not yet resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `region=` (slug, display name or alias).
    pub region: Option<String>,
    /// `tag=`.
    pub tag: Option<String>,
    /// `q=`: keep items whose title or summary contains it.
    pub q: Option<String>,
    /// `exclude=`: drop items whose title or summary contains it.
    pub exclude: Option<String>,
    /// `limit=`, already clamped to 1..=[`MAX_LIMIT`].
    pub limit: Option<i64>,
}

impl Params {
    /// Parses a raw query string. Empty values count as absent, unknown names are ignored
    /// (feed readers append their own), a repeated name or a bad `limit` is an error.
    pub fn parse(raw: Option<&str>) -> Result<Params, ServeError> {
        let mut p = Params::default();
        let mut limit: Option<String> = None;
        for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match &*key {
                "region" => &mut p.region,
                "tag" => &mut p.tag,
                "q" => &mut p.q,
                "exclude" => &mut p.exclude,
                "limit" => &mut limit,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ServeError::BadRequest(format!("参数重复：{key}")));
            }
            let value = value.trim();
            if !value.is_empty() {
                *slot = Some(value.to_owned());
            }
        }
        if let Some(l) = limit {
            match l.parse::<i64>() {
                Ok(n) if n > 0 => p.limit = Some(n.min(MAX_LIMIT)),
                Ok(_) => return Err(ServeError::BadRequest(format!("limit 必须是正整数：{l}"))),
                // Digits too many for an i64 are still "a large number": clamp.
                Err(_) if l.bytes().all(|b| b.is_ascii_digit()) => p.limit = Some(MAX_LIMIT),
                Err(_) => return Err(ServeError::BadRequest(format!("limit 必须是正整数：{l}"))),
            }
        }
        Ok(p)
    }
}

/// A region in a filter: slug plus the display name for titles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegionKey {
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// The resolved, canonical filter of a feed (AND of every condition).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Also in this region (never the feed's own region).
    pub region: Option<RegionKey>,
    /// Also carrying this tag (never the feed's own tag).
    pub tag: Option<String>,
    /// Title or summary contains.
    pub q: Option<String>,
    /// Title or summary does not contain.
    pub exclude: Option<String>,
    /// Newest items kept.
    pub limit: i64,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            region: None,
            tag: None,
            q: None,
            exclude: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl Filter {
    /// The canonical query string: parameters sorted by name, the default limit left out;
    /// empty for an unfiltered feed.
    pub fn canonical_query(&self) -> String {
        let limit = (self.limit != DEFAULT_LIMIT).then(|| self.limit.to_string());
        let pairs = [
            ("exclude", self.exclude.as_deref()),
            ("limit", limit.as_deref()),
            ("q", self.q.as_deref()),
            ("region", self.region.as_ref().map(|r| r.slug.as_str())),
            ("tag", self.tag.as_deref()),
        ];
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }

    pub(super) fn is_narrowing(&self) -> bool {
        self.region.is_some() || self.tag.is_some() || self.q.is_some() || self.exclude.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_trimmed_clamped_and_rejected_when_repeated() {
        let p = Params::parse(Some(
            "region=%E6%99%8B%E4%B8%AD&tag=R%26D&q=+a+b+&exclude=&limit=10000&x=1",
        ))
        .unwrap();
        assert_eq!(p.region.as_deref(), Some("晋中"));
        assert_eq!(p.tag.as_deref(), Some("R&D"));
        assert_eq!(p.q.as_deref(), Some("a b"));
        assert_eq!((p.exclude, p.limit), (None, Some(MAX_LIMIT)));
        assert_eq!(
            Params::parse(Some("limit=99999999999999999999")).unwrap().limit,
            Some(500)
        );
        assert_eq!(Params::parse(None).unwrap(), Params::default());
        for bad in ["limit=0", "limit=-3", "limit=ten", "tag=a&tag=b"] {
            assert!(
                matches!(Params::parse(Some(bad)), Err(ServeError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn canonical_query_is_sorted_and_leaves_out_the_default_limit() {
        let f = Filter {
            region: Some(RegionKey {
                slug: "jinzhong".into(),
                name: "晋中".into(),
            }),
            tag: Some("高质量".into()),
            q: Some("a b".into()),
            exclude: Some("&".into()),
            limit: 10,
        };
        assert_eq!(
            f.canonical_query(),
            "exclude=%26&limit=10&q=a+b&region=jinzhong&tag=%E9%AB%98%E8%B4%A8%E9%87%8F"
        );
        assert_eq!(Filter::default().canonical_query(), "");
    }
}
