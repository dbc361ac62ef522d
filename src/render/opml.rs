//! OPML 2.0 subscription list, written by hand (it is a dozen lines of markup) with every
//! value cleaned and escaped.

use std::fmt::Write;

use super::xml::{clean, escape};
use super::{Format, OpmlGroup};

/// The escaped, cleaned form of `s`, for text and attribute values.
fn safe(s: &str) -> String {
    escape(&clean(s)).into_owned()
}

/// The document.
pub(super) fn render(title: &str, groups: &[OpmlGroup]) -> Vec<u8> {
    let mut out = String::with_capacity(256 + groups.iter().map(|g| 200 * g.feeds.len()).sum::<usize>());
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    // `fmt::Write` into a String cannot fail.
    let _ = writeln!(out, "    <title>{}</title>", safe(title));
    out.push_str("  </head>\n  <body>\n");
    for group in groups {
        let name = safe(&group.title);
        let _ = writeln!(out, "    <outline text=\"{name}\" title=\"{name}\">");
        for feed in &group.feeds {
            let name = safe(&feed.title);
            // OPML 2.0 marks every subscription `type="rss"`; `version` is defined for RSS only.
            let version = match feed.format {
                Format::Rss => " version=\"RSS2\"",
                Format::Atom | Format::Json => "",
            };
            let _ = writeln!(
                out,
                "      <outline type=\"rss\"{version} text=\"{name}\" title=\"{name}\" xmlUrl=\"{}\" htmlUrl=\"{}\"/>",
                safe(&feed.xml_url),
                safe(&feed.html_url),
            );
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out.into_bytes()
}
