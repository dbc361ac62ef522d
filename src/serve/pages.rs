//! HTML for people: the index page (`/`, every feed with its links) and the template
//! environment shared with the status page. Templates are minijinja, embedded in the
//! binary; names end in `.html`, so every value is HTML-escaped.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use minijinja::Environment;
use minijinja::value::Serde;
use serde::Serialize;

use super::conditional::Rendered;
use super::feeds::{FeedSpec, absolute};
use super::query::{DEFAULT_LIMIT, MAX_LIMIT};
use super::{Catalog, ServeError, ServeState};
use crate::app::App;
use crate::render::{FeedKind, Format};

/// The site's name in titles.
pub const SITE_TITLE: &str = "Tidings";

const TEMPLATES: [(&str, &str); 4] = [
    ("index.html", include_str!("templates/index.html")),
    ("status.html", include_str!("templates/status.html")),
    ("message.html", include_str!("templates/message.html")),
    (
        "subscribe_form.html",
        include_str!("templates/subscribe_form.html"),
    ),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("bjtime", bjtime);
        env.add_filter("href", href);
        for (name, source) in TEMPLATES {
            // A broken template is a bug caught by the unit tests; at run time the page
            // then answers 500 (get_template fails) instead of the process dying.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!("template {name}: {e:#}");
            }
        }
        env
    })
}

pub(super) fn render_page(name: &str, ctx: impl Serialize) -> Result<String, ServeError> {
    templates()
        .get_template(name)
        .and_then(|t| t.render(Serde(ctx)))
        .map_err(|e| ServeError::Internal(format!("rendering {name}: {e:#}")))
}

/// `href` filter: a URL for an attribute value, with `&<>"'` escaped but `/` kept
/// readable (auto-escape would write `&#x2f;`; both are valid HTML).
fn href(url: String) -> minijinja::Value {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    minijinja::Value::from_safe_string(out)
}

/// `bjtime` filter: an RFC 3339 time as `YYYY-MM-DD HH:MM` in Beijing time; `—` when absent.
fn bjtime(value: Option<String>) -> String {
    let Some(t) = value.and_then(|v| DateTime::parse_from_rfc3339(&v).ok()) else {
        return "—".to_owned();
    };
    if t.timestamp() == 0 {
        return "—".to_owned();
    }
    t.with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

#[derive(Serialize)]
struct Links {
    rss: String,
    atom: String,
    json: String,
}

impl Links {
    fn of(public_url: &url::Url, kind: &FeedKind) -> Links {
        let at = |f: Format| absolute(public_url, &kind.path(f));
        Links {
            rss: at(Format::Rss),
            atom: at(Format::Atom),
            json: at(Format::Json),
        }
    }
}

#[derive(Serialize)]
struct AllFeed {
    title: String,
    links: Links,
}

#[derive(Serialize)]
struct Row {
    name: String,
    key: String,
    count: i64,
    last_updated: Option<DateTime<Utc>>,
    enabled: bool,
    links: Links,
}

#[derive(Serialize)]
struct IndexPage {
    site_title: &'static str,
    all: AllFeed,
    total: i64,
    updated: DateTime<Utc>,
    opml_url: String,
    status_url: String,
    default_limit: i64,
    max_limit: i64,
    regions: Vec<Row>,
    tags: Vec<Row>,
    sources: Vec<Row>,
    subscribe: Option<super::subscribe::SubscribeForm>,
    telegram: bool,
}

/// The index page for a catalog: the same bytes from the server and `tidings render`.
pub fn index_document(app: &App, catalog: &Catalog) -> Result<Rendered, ServeError> {
    let base = app.config.public_url();
    let row = |name: &str, key: &str, count, last_updated, enabled, kind: FeedKind| Row {
        name: name.to_owned(),
        key: key.to_owned(),
        count,
        last_updated,
        enabled,
        links: Links::of(&base, &kind),
    };
    let page = IndexPage {
        site_title: SITE_TITLE,
        all: AllFeed {
            title: FeedSpec::plain(FeedKind::All, "全部".into())
                .meta(&base, Format::Atom)
                .title,
            links: Links::of(&base, &FeedKind::All),
        },
        total: catalog.sources.iter().map(|s| s.count).sum(),
        updated: catalog.last_updated,
        opml_url: absolute(&base, "/feeds.opml"),
        status_url: absolute(&base, "/status"),
        default_limit: DEFAULT_LIMIT,
        max_limit: MAX_LIMIT,
        regions: catalog
            .regions
            .iter()
            .map(|r| {
                let kind = FeedKind::Region(r.slug.clone());
                row(&r.name, &r.slug, r.count, r.last_updated, true, kind)
            })
            .collect(),
        tags: catalog
            .tags
            .iter()
            .map(|t| {
                let kind = FeedKind::Tag(t.key.clone());
                row(&t.key, &t.key, t.count, t.last_updated, true, kind)
            })
            .collect(),
        sources: catalog
            .sources
            .iter()
            .map(|s| {
                let kind = FeedKind::Source(s.id.clone());
                row(&s.title, &s.id, s.count, s.last_updated, s.enabled, kind)
            })
            .collect(),
        subscribe: app
            .mail
            .is_some()
            .then(|| super::subscribe::SubscribeForm::blank(app, catalog)),
        telegram: app.config.secrets.telegram_token.is_some(),
    };
    let html = render_page("index.html", page)?;
    Ok(Rendered::new(
        html.into_bytes(),
        catalog.last_updated,
        "text/html; charset=utf-8",
    ))
}

/// `GET /`
pub(super) async fn index(
    State(state): State<ServeState>,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    let version = state.version().await?;
    let catalog = state.catalog(version).await?;
    let doc = state
        .cache
        .document(version, "/", async { index_document(&state.app, &catalog) })
        .await?;
    Ok(doc.respond(&headers).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_times_show_in_beijing() {
        let env = templates();
        for (name, _) in TEMPLATES {
            env.get_template(name).unwrap();
        }
        assert_eq!(bjtime(Some("2024-03-01T10:00:00Z".into())), "2024-03-01 18:00");
        assert_eq!(bjtime(None), "—");
        assert_eq!(bjtime(Some("1970-01-01T00:00:00Z".into())), "—");
        assert_eq!(
            href("http://h/a?b=1&c=\"'<>".into()).to_string(),
            "http://h/a?b=1&amp;c=&quot;&#39;&lt;&gt;"
        );
    }
}
