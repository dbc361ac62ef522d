//! `/feeds.opml`: every feed as OPML 2.0, grouped 全部 / 地区 / 标签 / 来源, one outline per
//! feed in its Atom form (a reader importing all three formats would subscribe three times).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::conditional::Rendered;
use super::feeds::{FeedSpec, absolute};
use super::{Catalog, ServeError, ServeState};
use crate::app::App;
use crate::render::{self, FeedKind, Format, OpmlFeed, OpmlGroup};

/// The OPML document's title.
pub const OPML_TITLE: &str = "Tidings 订阅源";
/// `Content-Type` of the OPML export.
pub const OPML_CONTENT_TYPE: &str = "text/x-opml; charset=utf-8";

/// The OPML export for a catalog: the same bytes from the server and `tidings render`.
pub fn opml_document(app: &App, catalog: &Catalog) -> Rendered {
    let base = app.config.public_url();
    let mut groups: Vec<OpmlGroup> = ["全部", "地区", "标签", "来源"]
        .into_iter()
        .map(|title| OpmlGroup {
            title: title.to_owned(),
            feeds: Vec::new(),
        })
        .collect();
    for (kind, label) in catalog.kinds() {
        let group = match kind {
            FeedKind::All => 0,
            FeedKind::Region(_) => 1,
            FeedKind::Tag(_) => 2,
            FeedKind::Source(_) => 3,
        };
        let format = Format::Atom;
        let spec = FeedSpec::plain(kind, label);
        let meta = spec.meta(&base, format);
        groups[group].feeds.push(OpmlFeed {
            title: meta.title,
            xml_url: absolute(&base, &spec.key(format)),
            html_url: meta.home_url,
            format,
        });
    }
    groups.retain(|g| !g.feeds.is_empty());
    let bytes = render::opml(OPML_TITLE, &groups);
    Rendered::new(bytes, catalog.last_updated, OPML_CONTENT_TYPE)
}

/// `GET /feeds.opml`
pub(super) async fn handler(
    State(state): State<ServeState>,
    headers: HeaderMap,
) -> Result<Response, ServeError> {
    let version = state.version().await?;
    let catalog = state.catalog(version).await?;
    let doc = state
        .cache
        .document(version, "/feeds.opml", async {
            Ok::<_, ServeError>(opml_document(&state.app, &catalog))
        })
        .await?;
    Ok(doc.respond(&headers).await)
}
