//! `tidings render --out DIR`: every feed as static files, byte-identical to what the
//! server answers for the same store state (the same [`crate::serve::build`] path).
//!
//! Files sit at the server's paths: `DIR/feeds/all.atom`, `DIR/feeds/region/jinzhong.rss`,
//! `DIR/feeds/source/ID.json`, plus `DIR/feeds.opml` and `DIR/index.html`. Tag feeds are
//! named by the raw UTF-8 tag (`DIR/feeds/tag/高质量.atom`, `DIR/feeds/tag/R&D.rss`): the
//! links in the feeds, the OPML and the index are percent-encoded
//! (`/feeds/tag/%E9%AB%98%E8%B4%A8%E9%87%8F.atom`), and a static server (nginx, Caddy,
//! `python -m http.server`) decodes the URL back to that file name. A tag that cannot be a
//! file name (it contains `/`, `\` or NUL) is skipped with a warning. Links use
//! `[server] public_url`; set it to where the files will be served.

use std::path::Path;

use anyhow::Context;

use super::App;
use crate::render::Format;
use crate::serve::{Catalog, FeedSpec, build, index_document, opml_document};

/// Writes every feed (all, each region, each tag, each source × RSS, Atom, JSON Feed), the
/// OPML export and the index page under `out`; returns how many files were written.
pub async fn render_site(app: &App, out: &Path) -> anyhow::Result<usize> {
    let catalog = Catalog::load(app)
        .await
        .context("reading regions, tags and sources")?;
    let mut written = 0;
    for (kind, label) in catalog.kinds() {
        let spec = FeedSpec::plain(kind, label);
        for format in Format::ALL {
            let Some(rel) = spec.file_path(format) else {
                tracing::warn!("skipping {}: its name cannot be a file name", spec.key(format));
                continue;
            };
            let doc = build(app, &spec, format)
                .await
                .with_context(|| format!("rendering {}", spec.key(format)))?;
            write(&out.join(rel), &doc.bytes).await?;
            written += 1;
        }
    }
    let opml = opml_document(app, &catalog);
    write(&out.join("feeds.opml"), &opml.bytes).await?;
    let index = index_document(app, &catalog).context("rendering the index page")?;
    write(&out.join("index.html"), &index.bytes).await?;
    Ok(written + 2)
}

async fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    tokio::fs::write(path, bytes)
        .await
        .with_context(|| format!("writing {}", path.display()))
}
