//! Feeds over HTTP: path parsing, name resolution to the canonical feed, and
//! [`build`] — the one function that turns a feed into bytes, shared by the server and
//! `tidings render`.
//!
//! A request resolves to a [`FeedSpec`]: the canonical [`FeedKind`] (a region asked for by
//! display name or alias becomes its slug) plus a canonical [`Filter`]. Its
//! [`key`](FeedSpec::key) — canonical path and sorted query — names the cache entry and,
//! after the public URL, the feed's self link, so every spelling serves identical bytes.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::conditional::Rendered;
use super::query::{DEFAULT_LIMIT, Filter, Params, RegionKey};
use super::{Catalog, ServeError, ServeState};
use crate::app::App;
use crate::render::{self, FeedKind, FeedMeta, Format};
use crate::store::FeedQuery;

/// One feed, canonical: what it is about, the label of that subject, and its filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedSpec {
    /// Canonical kind (regions by slug).
    pub kind: FeedKind,
    /// Human name of the subject: `全部`, a region's display name, a tag, a source's title.
    pub label: String,
    /// Extra conditions from the query string.
    pub filter: Filter,
}

impl FeedSpec {
    /// An unfiltered feed.
    pub fn plain(kind: FeedKind, label: String) -> FeedSpec {
        FeedSpec {
            kind,
            label,
            filter: Filter::default(),
        }
    }

    /// Canonical path plus canonical query: the cache key and the self link's tail.
    pub fn key(&self, format: Format) -> String {
        let query = self.filter.canonical_query();
        let path = self.kind.path(format);
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    }

    /// Where `tidings render` writes this feed, relative to its output directory. Names are
    /// the raw UTF-8 names (a static server decodes the percent-encoded URL to them);
    /// `None` for a name that cannot be one path segment (contains `/`, `\` or NUL).
    pub fn file_path(&self, format: Format) -> Option<std::path::PathBuf> {
        let (dir, name) = match &self.kind {
            FeedKind::All => ("feeds", "all"),
            FeedKind::Region(s) => ("feeds/region", s.as_str()),
            FeedKind::Tag(t) => ("feeds/tag", t.as_str()),
            FeedKind::Source(s) => ("feeds/source", s.as_str()),
        };
        if name.is_empty() || name.contains(['/', '\\', '\0']) {
            return None;
        }
        Some(std::path::Path::new(dir).join(format!("{name}.{}", format.ext())))
    }

    /// Title, description and links, in zh-CN.
    pub fn meta(&self, public_url: &url::Url, format: Format) -> FeedMeta {
        let f = &self.filter;
        let mut parts = Vec::new();
        if !(self.kind == FeedKind::All && f.is_narrowing()) {
            parts.push(self.label.clone());
        }
        parts.extend(f.region.as_ref().map(|r| r.name.clone()));
        parts.extend(f.tag.clone());
        parts.extend(f.q.as_ref().map(|q| format!("含“{q}”")));
        parts.extend(f.exclude.as_ref().map(|x| format!("不含“{x}”")));
        let subject = match &self.kind {
            FeedKind::All => "全部".to_owned(),
            FeedKind::Region(_) => format!("{}地区", self.label),
            FeedKind::Tag(t) => format!("标签「{t}」"),
            FeedKind::Source(_) => format!("来源「{}」", self.label),
        };
        let mut conditions = Vec::new();
        conditions.extend(f.region.as_ref().map(|r| format!("地区：{}", r.name)));
        conditions.extend(f.tag.as_ref().map(|t| format!("标签：{t}")));
        conditions.extend(f.q.as_ref().map(|q| format!("包含：{q}")));
        conditions.extend(f.exclude.as_ref().map(|x| format!("排除：{x}")));
        let mut description = format!("Tidings 聚合的{subject}新闻");
        if !conditions.is_empty() {
            description.push_str(&format!("（{}）", conditions.join("；")));
        }
        FeedMeta {
            title: format!("{} · Tidings", parts.join(" · ")),
            description,
            self_url: absolute(public_url, &self.key(format)),
            home_url: public_url.as_str().to_owned(),
            language: "zh-CN".to_owned(),
        }
    }
}

/// `public_url` joined with an absolute path (`/feeds/…`), keeping any path prefix of the
/// public URL (`https://example.org/news/` + `/feeds/all.atom`).
pub fn absolute(public_url: &url::Url, path: &str) -> String {
    format!("{}{path}", public_url.as_str().trim_end_matches('/'))
}

/// Resolves a feed path (`section` is `region`, `tag`, `source`, or `None` for
/// `/feeds/{name}.ext`) and its parameters against the catalog. Unknown names are 404s.
pub fn resolve(
    catalog: &Catalog,
    section: Option<&str>,
    name: &str,
    params: &Params,
) -> Result<FeedSpec, ServeError> {
    let not_found = |what: &str, name: &str| ServeError::NotFound(format!("未找到{what}：{name}"));
    let (kind, label) = match section {
        None if name == "all" => (FeedKind::All, "全部".to_owned()),
        Some("region") => {
            let r = catalog.region(name).ok_or_else(|| not_found("地区", name))?;
            (FeedKind::Region(r.slug.clone()), r.name.clone())
        }
        Some("tag") => {
            let t = catalog.tag(name).ok_or_else(|| not_found("标签", name))?;
            (FeedKind::Tag(t.key.clone()), t.key.clone())
        }
        Some("source") => {
            let s = catalog.source(name).ok_or_else(|| not_found("来源", name))?;
            (FeedKind::Source(s.id.clone()), s.title.clone())
        }
        Some(other) => return Err(not_found("订阅源", &format!("/feeds/{other}/{name}"))),
        None => return Err(not_found("订阅源", &format!("/feeds/{name}"))),
    };
    let region = match &params.region {
        None => None,
        Some(n) => {
            let r = catalog.region(n).ok_or_else(|| not_found("地区", n))?;
            (kind != FeedKind::Region(r.slug.clone())).then(|| RegionKey {
                slug: r.slug.clone(),
                name: r.name.clone(),
            })
        }
    };
    let tag = match &params.tag {
        None => None,
        Some(t) => {
            let t = catalog.tag(t).ok_or_else(|| not_found("标签", t))?;
            (kind != FeedKind::Tag(t.key.clone())).then(|| t.key.clone())
        }
    };
    let filter = Filter {
        region,
        tag,
        q: params.q.clone(),
        exclude: params.exclude.clone(),
        limit: params.limit.unwrap_or(DEFAULT_LIMIT),
    };
    Ok(FeedSpec { kind, label, filter })
}

/// Renders one feed from the store: the single code path behind `/feeds/…` and
/// `tidings render`, so both give the same bytes for the same store state.
pub async fn build(app: &App, spec: &FeedSpec, format: Format) -> Result<Rendered, ServeError> {
    let f = &spec.filter;
    let (mut region, mut tag, mut source) = (None, None, None);
    match &spec.kind {
        FeedKind::All => {}
        FeedKind::Region(r) => region = Some(r.clone()),
        FeedKind::Tag(t) => tag = Some(t.clone()),
        FeedKind::Source(s) => source = Some(s.clone()),
    }
    // An item has one region: a second, different region leaves nothing.
    let disjoint = region.is_some() && f.region.is_some();
    region = region.or_else(|| f.region.as_ref().map(|r| r.slug.clone()));
    // A second tag is checked here: the store filters by one tag.
    let second_tag = if tag.is_some() { f.tag.clone() } else { None };
    tag = tag.or_else(|| f.tag.clone());
    let query = FeedQuery {
        source,
        region,
        tag,
        q: f.q.clone(),
        exclude: f.exclude.clone(),
        limit: if second_tag.is_some() { i64::MAX } else { f.limit },
    };
    let mut items = if disjoint {
        Vec::new()
    } else {
        app.store.feed_items(&query).await?
    };
    if let Some(t) = &second_tag {
        items.retain(|i| i.article.tags.contains(t));
        items.truncate(usize::try_from(f.limit).unwrap_or(usize::MAX));
    }
    let meta = spec.meta(&app.config.public_url(), format);
    // Rendering 500 items is CPU work: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let bytes = render::render(format, &meta, &items);
        Rendered::new(bytes, render::last_modified(&items), format.content_type())
    })
    .await
    .map_err(|e| ServeError::Internal(format!("rendering {}: {e}", spec.key(format))))
}

/// Splits `name.ext` at the last dot (tags may contain dots).
fn split_file(file: &str) -> Result<(&str, Format), ServeError> {
    let (name, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| ServeError::NotFound(format!("未找到订阅源：{file}（需要 .rss、.atom 或 .json）")))?;
    let format = Format::from_ext(ext)
        .ok_or_else(|| ServeError::NotFound(format!("不支持的格式：{ext}（可用 rss、atom、json）")))?;
    Ok((name, format))
}

/// `GET /feeds/{file}` (only `all.{ext}` exists).
pub(super) async fn top(
    State(state): State<ServeState>,
    uri: Uri,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    serve(&state, &uri, None, &file, query.as_deref(), &headers).await
}

/// `GET /feeds/{section}/{file}`.
pub(super) async fn nested(
    State(state): State<ServeState>,
    uri: Uri,
    Path((section, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    serve(&state, &uri, Some(&section), &file, query.as_deref(), &headers).await
}

async fn serve(
    state: &ServeState,
    uri: &Uri,
    section: Option<&str>,
    file: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ServeError> {
    let version = state.version().await?;
    let raw = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    // A request seen before at this version: no parsing, no name resolution.
    if let Some(doc) = state.cache.by_uri(version, raw) {
        return Ok(doc.respond(headers).await);
    }
    let (name, format) = split_file(file)?;
    let params = Params::parse(query)?;
    let catalog = state.catalog(version).await?;
    let spec = resolve(&catalog, section, name, &params)?;
    let key = spec.key(format);
    let doc = state
        .cache
        .document(version, &key, build(&state.app, &spec, format))
        .await?;
    state.cache.remember_uri(version, raw, &doc);
    Ok(doc.respond(headers).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_at_the_last_dot() {
        assert_eq!(split_file("v1.2.atom").unwrap(), ("v1.2", Format::Atom));
        assert!(matches!(split_file("all.xml"), Err(ServeError::NotFound(m)) if m.contains("xml")));
        assert!(split_file("all").is_err());
    }

    #[test]
    fn meta_names_the_subject_and_links_the_canonical_url() {
        let base = url::Url::parse("https://example.org/news/").unwrap();
        let spec = FeedSpec::plain(FeedKind::Region("jinzhong".into()), "晋中".into());
        let m = spec.meta(&base, Format::Atom);
        assert_eq!(m.title, "晋中 · Tidings");
        assert_eq!(m.description, "Tidings 聚合的晋中地区新闻");
        assert_eq!(m.self_url, "https://example.org/news/feeds/region/jinzhong.atom");
        assert_eq!(m.home_url, "https://example.org/news/");
        let mut all = FeedSpec::plain(FeedKind::All, "全部".into());
        all.filter.tag = Some("<新>".into());
        let m = all.meta(&base, Format::Json);
        assert_eq!(m.title, "<新> · Tidings");
        assert_eq!(
            m.self_url,
            "https://example.org/news/feeds/all.json?tag=%3C%E6%96%B0%3E"
        );
        let tag = FeedSpec::plain(FeedKind::Tag("a/b".into()), "a/b".into());
        assert_eq!(tag.file_path(Format::Rss), None);
        let tag = FeedSpec::plain(FeedKind::Tag("R&D".into()), "R&D".into());
        assert_eq!(
            tag.file_path(Format::Rss).unwrap(),
            std::path::Path::new("feeds/tag/R&D.rss")
        );
    }
}
