//! Turning fetched bytes into text: which character encoding a page uses.
//!
//! The order follows the WHATWG encoding sniffing algorithm, with one addition for feeds:
//!
//! 1. a byte order mark (UTF-8, UTF-16LE, UTF-16BE) — it always wins, even over a recipe;
//! 2. the encoding a recipe forces, if any;
//! 3. the `charset` parameter of the HTTP `Content-Type`;
//! 4. a prescan of the first 1024 bytes: an XML declaration (`<?xml … encoding="…"?>`)
//!    or an HTML `<meta charset>` / `<meta http-equiv="Content-Type" content="…charset=…">`;
//! 5. detection with `chardetng`, hinted with the `.cn` top-level domain;
//! 6. UTF-8.
//!
//! Labels go through [`Encoding::for_label`], so `gb2312` decodes as GBK, as browsers do.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many leading bytes the `<meta>` / `<?xml?>` prescan looks at (WHATWG says 1024).
const PRESCAN_BYTES: usize = 1024;

/// Decodes a response body to text and reports the encoding used.
///
/// A byte order mark wins over everything; otherwise `forced` (a recipe's choice) wins over
/// the HTTP `charset` in `content_type`, the in-document declaration and detection.
/// Malformed sequences become U+FFFD rather than failing.
pub fn decode_body(
    bytes: &[u8],
    content_type: Option<&str>,
    forced: Option<&'static Encoding>,
) -> (String, &'static Encoding) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        return (text.into_owned(), encoding);
    }
    let encoding = forced
        .or_else(|| content_type.and_then(http_charset))
        .or_else(|| prescan(&bytes[..bytes.len().min(PRESCAN_BYTES)]))
        .unwrap_or_else(|| detect(bytes));
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    (text.into_owned(), encoding)
}

/// The encoding named by the `charset` parameter of a `Content-Type` value, if known.
fn http_charset(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        Encoding::for_label(value.as_bytes())
    })
}

/// Guesses the encoding of unlabelled bytes.
fn detect(bytes: &[u8]) -> &'static Encoding {
    // Valid UTF-8 (including pure ASCII) is UTF-8; chardetng would call ASCII "GBK" with
    // the `.cn` hint, which decodes the same but reports a misleading encoding.
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(Some(b"cn"), Utf8Detection::Allow)
}

/// An encoding declared inside the document, with the WHATWG adjustments applied:
/// a declared UTF-16 means UTF-8 (the bytes we just read as ASCII cannot be UTF-16) and
/// `x-user-defined` means windows-1252.
fn prescan(head: &[u8]) -> Option<&'static Encoding> {
    let found = xml_declaration(head).or_else(|| meta_prescan(head))?;
    Some(if found == UTF_16BE || found == UTF_16LE {
        UTF_8
    } else if found == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        found
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn starts_with_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The `encoding` pseudo-attribute of a leading `<?xml … ?>` declaration.
fn xml_declaration(head: &[u8]) -> Option<&'static Encoding> {
    let start = head.iter().position(|&b| !is_space(b))?;
    let rest = &head[start..];
    if !rest.starts_with(b"<?xml") || !rest.get(5).copied().is_some_and(is_space) {
        return None;
    }
    let decl = &rest[..find(rest, b"?>", 5)?];
    let mut pos = 5;
    loop {
        let at = (pos..decl.len()).find(|&i| starts_with_ci(&decl[i..], b"encoding"))?;
        pos = skip_spaces(decl, at + b"encoding".len());
        if decl.get(pos) != Some(&b'=') {
            continue;
        }
        pos = skip_spaces(decl, pos + 1);
        let quote = *decl.get(pos).filter(|&&q| q == b'"' || q == b'\'')?;
        let value_start = pos + 1;
        let len = decl[value_start..].iter().position(|&b| b == quote)?;
        return Encoding::for_label(&decl[value_start..value_start + len]);
    }
}

fn skip_spaces(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).copied().is_some_and(is_space) {
        pos += 1;
    }
    pos
}

/// The WHATWG "prescan a byte stream to determine its encoding" over `head`.
fn meta_prescan(head: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    while pos < head.len() {
        let rest = &head[pos..];
        if rest.starts_with(b"<!--") {
            // The closing `-->` may overlap the opening dashes: `<!-->` is a whole comment.
            pos = find(head, b"-->", pos + 2)? + 3;
        } else if starts_with_ci(rest, b"<meta") && rest.get(5).is_some_and(|&b| is_space(b) || b == b'/') {
            pos += 6;
            if let Some(found) = meta_element(head, &mut pos)? {
                return Some(found);
            }
        } else if rest.first() == Some(&b'<')
            && (rest.get(1).is_some_and(u8::is_ascii_alphabetic)
                || (rest.get(1) == Some(&b'/') && rest.get(2).is_some_and(u8::is_ascii_alphabetic)))
        {
            // Another tag: skip its name, then its attributes (a `>` inside a quoted value
            // must not end the tag early).
            pos += 1;
            while pos < head.len() && !is_space(head[pos]) && head[pos] != b'>' {
                pos += 1;
            }
            while let Attr::Pair(..) = attribute(head, &mut pos)? {}
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            pos = find(head, b">", pos + 2)? + 1;
        } else {
            pos += 1;
        }
    }
    None
}

/// Reads the attributes of a `<meta>` element starting at `pos`: `Some(found)` is the
/// encoding it declares in a way that counts, if any; `None` means the bytes ran out, which
/// ends the whole prescan.
fn meta_element(head: &[u8], pos: &mut usize) -> Option<Option<&'static Encoding>> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut got_pragma = false;
    // None: no declaration yet; Some(None): declared but unknown label.
    let mut charset: Option<Option<&'static Encoding>> = None;
    let mut need_pragma: Option<bool> = None;
    while let Attr::Pair(name, value) = attribute(head, pos)? {
        if seen.contains(&name) {
            continue;
        }
        match name.as_slice() {
            b"http-equiv" => got_pragma |= value == b"content-type",
            b"content" => {
                if charset.is_none()
                    && let Some(found) = charset_from_content(&value).and_then(Encoding::for_label)
                {
                    charset = Some(Some(found));
                    need_pragma = Some(true);
                }
            }
            b"charset" => {
                charset = Some(Encoding::for_label(&value));
                need_pragma = Some(false);
            }
            _ => {}
        }
        seen.push(name);
    }
    Some(match need_pragma {
        None => None,
        Some(true) if !got_pragma => None,
        _ => charset.flatten(),
    })
}

/// The WHATWG "extract a character encoding from a meta element" over a `content` value.
fn charset_from_content(content: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    loop {
        let at = (pos..content.len()).find(|&i| starts_with_ci(&content[i..], b"charset"))?;
        pos = skip_spaces(content, at + b"charset".len());
        if content.get(pos) != Some(&b'=') {
            continue;
        }
        pos = skip_spaces(content, pos + 1);
        return match content.get(pos)? {
            &q @ (b'"' | b'\'') => {
                let len = content[pos + 1..].iter().position(|&b| b == q)?;
                Some(&content[pos + 1..pos + 1 + len])
            }
            _ => {
                let len = content[pos..]
                    .iter()
                    .position(|&b| is_space(b) || b == b';')
                    .unwrap_or(content.len() - pos);
                Some(&content[pos..pos + len])
            }
        };
    }
}

/// One step of reading a tag's attributes.
enum Attr {
    /// An attribute, name and value lower-cased.
    Pair(Vec<u8>, Vec<u8>),
    /// The tag ended.
    End,
}

/// The WHATWG "get an attribute" step; `None` means the bytes ran out.
fn attribute(head: &[u8], pos: &mut usize) -> Option<Attr> {
    while is_space(*head.get(*pos)?) || head[*pos] == b'/' {
        *pos += 1;
    }
    if head[*pos] == b'>' {
        return Some(Attr::End);
    }
    let mut name = Vec::new();
    let mut value = Vec::new();
    // The name; a leading `=` is part of it.
    loop {
        let b = *head.get(*pos)?;
        if b == b'=' && !name.is_empty() {
            *pos += 1;
            break;
        } else if is_space(b) {
            *pos = skip_spaces(head, *pos);
            if *head.get(*pos)? != b'=' {
                return Some(Attr::Pair(name, value));
            }
            *pos += 1;
            break;
        } else if b == b'/' || b == b'>' {
            return Some(Attr::Pair(name, value));
        }
        name.push(b.to_ascii_lowercase());
        *pos += 1;
    }
    *pos = skip_spaces(head, *pos);
    let first = *head.get(*pos)?;
    if first == b'"' || first == b'\'' {
        loop {
            *pos += 1;
            let b = *head.get(*pos)?;
            if b == first {
                *pos += 1;
                return Some(Attr::Pair(name, value));
            }
            value.push(b.to_ascii_lowercase());
        }
    }
    if first == b'>' {
        return Some(Attr::Pair(name, value));
    }
    value.push(first.to_ascii_lowercase());
    loop {
        *pos += 1;
        let b = *head.get(*pos)?;
        if is_space(b) || b == b'>' {
            return Some(Attr::Pair(name, value));
        }
        value.push(b.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, GB18030, GBK, SHIFT_JIS};

    fn gbk(text: &str) -> Vec<u8> {
        GBK.encode(text).0.into_owned()
    }

    #[test]
    fn gbk_page_with_meta_charset_decodes() {
        let html = "<html><head><meta charset=\"gbk\"><title>山西新闻</title></head></html>";
        let (text, enc) = decode_body(&gbk(html), Some("text/html"), None);
        assert_eq!(enc, GBK);
        assert_eq!(text, html);
    }

    #[test]
    fn gb2312_label_decodes_gbk_only_characters() {
        assert_eq!(Encoding::for_label(b"gb2312"), Some(GBK));
        assert_eq!(Encoding::for_label(b"GB2312"), Some(GBK));
        let html = "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=GB2312\"><p>喆 堃</p>";
        let (text, enc) = decode_body(&gbk(html), None, None);
        assert_eq!(enc, GBK);
        assert!(text.contains("喆 堃"), "{text}");
    }

    #[test]
    fn http_charset_alone_is_honoured() {
        let (text, enc) = decode_body(&gbk("<p>太原市</p>"), Some("text/html; Charset=\"GBK\""), None);
        assert_eq!(enc, GBK);
        assert_eq!(text, "<p>太原市</p>");
    }

    #[test]
    fn bom_beats_a_wrong_meta_and_a_forced_encoding() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice("<meta charset=\"gbk\"><p>晋中</p>".as_bytes());
        let (text, enc) = decode_body(&bytes, Some("text/html; charset=gbk"), Some(BIG5));
        assert_eq!(enc, UTF_8);
        assert_eq!(text, "<meta charset=\"gbk\"><p>晋中</p>");
    }

    #[test]
    fn forced_encoding_beats_http_and_meta() {
        let (text, enc) = decode_body(
            &gbk("<meta charset=utf-8>运城"),
            Some("text/html; charset=utf-8"),
            Some(GB18030),
        );
        assert_eq!(enc, GB18030);
        assert!(text.ends_with("运城"));
    }

    #[test]
    fn unlabelled_gbk_page_is_detected() {
        let html = "<html><body><p>山西省人民政府新闻办公室今天举行新闻发布会，介绍全省经济运行情况和高质量发展成效。</p></body></html>";
        let (text, enc) = decode_body(&gbk(html), Some("text/html"), None);
        assert_eq!(enc, GBK);
        assert_eq!(text, html);
    }

    #[test]
    fn unlabelled_ascii_and_utf8_are_utf8() {
        assert_eq!(decode_body(b"<p>hello</p>", None, None).1, UTF_8);
        assert_eq!(
            decode_body("<p>你好</p>".as_bytes(), None, None),
            ("<p>你好</p>".into(), UTF_8)
        );
    }

    #[test]
    fn xml_declaration_names_the_feed_encoding() {
        let xml = "<?xml version=\"1.0\" encoding='GB2312'?><rss><title>新闻</title></rss>";
        assert_eq!(
            decode_body(&gbk(xml), Some("application/rss+xml"), None),
            (xml.into(), GBK)
        );
        assert_eq!(prescan(b"<?xml version=\"1.0\"?><a/>"), None);
    }

    #[test]
    fn meta_utf16_means_utf8_and_x_user_defined_means_1252() {
        assert_eq!(prescan(b"<meta charset=\"utf-16le\">"), Some(UTF_8));
        assert_eq!(prescan(b"<meta charset=x-user-defined>"), Some(WINDOWS_1252));
    }

    #[test]
    fn prescan_follows_the_whatwg_rules() {
        // content= without http-equiv does not count; with it, it does.
        assert_eq!(prescan(b"<meta content=\"text/html; charset=gbk\">"), None);
        assert_eq!(
            prescan(b"<META HTTP-EQUIV=Content-Type CONTENT='text/html;charset=Shift_JIS'>"),
            Some(SHIFT_JIS)
        );
        // Declarations inside comments or attribute values are ignored.
        assert_eq!(
            prescan(b"<!-- <meta charset=gbk> --><meta charset=big5>"),
            Some(BIG5)
        );
        assert_eq!(
            prescan(b"<div title='<meta charset=gbk>'><meta charset=big5>"),
            Some(BIG5)
        );
        // An unknown label is skipped and the scan goes on.
        assert_eq!(prescan(b"<meta charset=bogus><meta charset=gbk>"), Some(GBK));
        // A declaration past the first 1024 bytes is not seen.
        let mut late = vec![b' '; PRESCAN_BYTES];
        late.extend_from_slice(b"<meta charset=big5>");
        assert_eq!(decode_body(&late, None, None).1, UTF_8);
        // A truncated element ends the scan without panicking.
        assert_eq!(prescan(b"<meta charset=\"gb"), None);
        assert_eq!(prescan(b"<meta"), None);
        assert_eq!(prescan(b"<!--"), None);
    }
}
