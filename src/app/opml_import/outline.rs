//! Reading an OPML 1.0/2.0 export: the bytes decoded, the outline tree walked into the feeds
//! it lists (each with the titles of the folders around it) and the outlines that are not
//! feeds.
//!
//! Readers differ in details, so this is lenient where it costs nothing: attribute names are
//! matched without regard to case (`xmlUrl`, `xmlurl`), a missing `version` is fine, and a
//! document in GBK or UTF-16 (a BOM or an `encoding="…"` declaration says so) is decoded.

use std::borrow::Cow;
use std::path::Path;

use encoding_rs::{Encoding, UTF_8};
use roxmltree::{Document, Node};

use super::ImportError;
use crate::domain::normalize_space;

/// One `<outline>` that is a feed or is reported as not being one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outline {
    /// 1-based line of the outline in the file.
    pub line: u32,
    /// `title`, else `text`, whitespace-normalised (may be empty).
    pub title: String,
    /// What the outline is.
    pub kind: OutlineKind,
}

/// A feed, or an outline that is neither a feed nor a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OutlineKind {
    /// An outline with an `xmlUrl`.
    Feed {
        /// `xmlUrl`, trimmed, not yet checked.
        xml_url: String,
        /// `htmlUrl`, the site, when given.
        html_url: Option<String>,
        /// Titles of the enclosing folders, outermost first.
        folders: Vec<String>,
    },
    /// No `xmlUrl` and no outlines inside: a link, a note or an empty folder.
    NotAFeed,
}

/// Decodes and parses `bytes` (the file `path`) and lists its feeds and non-feeds in
/// document order.
pub(super) fn read_outlines(path: &Path, bytes: &[u8]) -> Result<Vec<Outline>, ImportError> {
    let text = decode(path, bytes)?;
    let doc = Document::parse(&text).map_err(|source| ImportError::Xml {
        path: path.to_owned(),
        source,
    })?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("opml") {
        return Err(ImportError::NotOpml {
            path: path.to_owned(),
            root: root.tag_name().name().to_owned(),
        });
    }
    let body = root
        .children()
        .find(|n| is_named(n, "body"))
        .ok_or_else(|| ImportError::NoBody {
            path: path.to_owned(),
        })?;
    // Iterative, not recursive: a hostile file may nest outlines thousands deep.
    let mut out = Vec::new();
    for node in body.descendants().filter(|n| is_named(n, "outline")) {
        let mut enclosing = node.ancestors().skip(1).take_while(|a| *a != body);
        if enclosing.any(|a| xml_url(&a).is_some()) {
            // Outlines inside a feed's outline are not feeds of their own.
            continue;
        }
        let kind = match xml_url(&node) {
            Some(url) => OutlineKind::Feed {
                xml_url: url.to_owned(),
                html_url: attr(&node, "htmlUrl")
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned),
                folders: folders(&node, body),
            },
            None if node.children().any(|c| is_named(&c, "outline")) => continue,
            None => OutlineKind::NotAFeed,
        };
        out.push(Outline {
            line: doc.text_pos_at(node.range().start).row,
            title: title(&node),
            kind,
        });
    }
    Ok(out)
}

/// The text of `bytes`: a BOM wins, then the XML declaration's `encoding`, then UTF-8.
fn decode<'a>(path: &Path, bytes: &'a [u8]) -> Result<Cow<'a, str>, ImportError> {
    let (encoding, bom) = Encoding::for_bom(bytes).unwrap_or_else(|| (declared(bytes).unwrap_or(UTF_8), 0));
    encoding
        .decode_without_bom_handling_and_without_replacement(&bytes[bom..])
        .ok_or_else(|| ImportError::Decode {
            path: path.to_owned(),
            encoding: encoding.name(),
        })
}

/// The encoding named by `<?xml … encoding="…"?>`, when it is a known, ASCII-compatible one.
fn declared(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]);
    let decl = head.strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let rest = decl[decl.find("encoding")? + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let label = &rest[1..][..rest[1..].find(quote)?];
    Encoding::for_label(label.trim().as_bytes()).filter(|e| e.is_ascii_compatible())
}

fn is_named(node: &Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name().eq_ignore_ascii_case(name)
}

fn attr<'a>(node: &Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes()
        .find(|a| a.name().eq_ignore_ascii_case(name))
        .map(|a| a.value())
}

fn xml_url<'a>(node: &Node<'a, '_>) -> Option<&'a str> {
    attr(node, "xmlUrl").map(str::trim).filter(|u| !u.is_empty())
}

fn title(node: &Node<'_, '_>) -> String {
    let pick = |name| attr(node, name).map(normalize_space).filter(|t| !t.is_empty());
    pick("title").or_else(|| pick("text")).unwrap_or_default()
}

/// The titles of the folders around `node` up to `body`, outermost first, without repeats.
fn folders(node: &Node<'_, '_>, body: Node<'_, '_>) -> Vec<String> {
    let mut titles: Vec<String> = node
        .ancestors()
        .skip(1)
        .take_while(|a| *a != body)
        .filter(|a| is_named(a, "outline"))
        .map(|a| title(&a))
        .filter(|t| !t.is_empty())
        .collect();
    titles.reverse();
    let mut seen = Vec::new();
    titles.retain(|t| {
        let fresh = !seen.contains(t);
        seen.push(t.clone());
        fresh
    });
    titles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Result<Vec<Outline>, ImportError> {
        read_outlines(Path::new("subs.opml"), text)
    }

    fn feed(url: &str, folders: &[&str]) -> OutlineKind {
        OutlineKind::Feed {
            xml_url: url.to_owned(),
            html_url: None,
            folders: folders.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn nested_folders_become_the_feeds_folder_titles_outermost_first() {
        let opml = r#"<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="新闻">
    <outline title="山西" text="ignored">
      <outline text=" 山西  日报 " xmlurl="http://a.example/rss"/>
    </outline>
    <outline text="B" xmlUrl="http://b.example/feed"><outline text="inner" xmlUrl="http://c.example/"/></outline>
  </outline>
  <outline text="a bookmark" type="link" url="http://d.example/"/>
</body></opml>"#;
        let got = read(opml.as_bytes()).unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0].title, "山西 日报");
        assert_eq!(got[0].line, 5);
        assert_eq!(got[0].kind, feed("http://a.example/rss", &["新闻", "山西"]));
        assert_eq!(got[1].kind, feed("http://b.example/feed", &["新闻"]));
        assert_eq!(got[2].kind, OutlineKind::NotAFeed);
        assert_eq!(got[2].title, "a bookmark");
    }

    #[test]
    fn a_gbk_declaration_is_honoured() {
        let text = "<?xml version=\"1.0\" encoding=\"GBK\"?><opml><body><outline text=\"晋中新闻\" xmlUrl=\"http://j.example/rss\"/></body></opml>";
        let (bytes, _, _) = encoding_rs::GBK.encode(text);
        let got = read(&bytes).unwrap();
        assert_eq!(got[0].title, "晋中新闻");
    }

    #[test]
    fn a_utf16_file_with_a_bom_is_read() {
        let text = "<opml><body><outline text=\"太原\" xmlUrl=\"http://t.example/rss\"/></body></opml>";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(read(&bytes).unwrap()[0].title, "太原");
    }

    #[test]
    fn malformed_or_foreign_documents_are_errors_that_say_where_and_what() {
        let err = read(b"<opml><body>\n<outline text=\"a\">\n</body></opml>").unwrap_err();
        assert_eq!(err.to_string(), "subs.opml: malformed XML");
        let ImportError::Xml { source, .. } = err else {
            panic!("not an XML error: {err:?}")
        };
        assert_eq!(source.pos().row, 3, "{source}");
        assert!(matches!(
            read(b"<rss><channel/></rss>").unwrap_err(),
            ImportError::NotOpml { root, .. } if root == "rss"
        ));
        assert!(matches!(
            read(b"<opml><head/></opml>").unwrap_err(),
            ImportError::NoBody { .. }
        ));
        assert!(matches!(
            read(b"<opml>\xff</opml>").unwrap_err(),
            ImportError::Decode { .. }
        ));
    }
}
