//! Text made safe before it reaches a document: characters XML 1.0 forbids are dropped, and a
//! small escaper for the places where we write markup by hand (OPML, RSS descriptions).
//!
//! Every format goes through [`clean`], so a title reads the same in RSS, Atom and JSON.

use std::borrow::Cow;

/// Whether `c` may appear in an XML 1.0 document without trouble.
///
/// Forbidden: C0 controls other than tab, LF and CR (U+0000 included), U+FFFE and U+FFFF.
/// Also dropped, because XML 1.0 discourages them and some readers reject them: DEL and the
/// C1 controls (U+007F–U+009F) and the noncharacters (U+FDD0–U+FDEF, U+xFFFE/U+xFFFF in
/// every plane). Surrogates cannot occur in a Rust `str`.
fn allowed(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => true,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fdd0}'..='\u{fdef}' => false,
        _ => (c as u32) & 0xfffe != 0xfffe,
    }
}

/// `s` without the characters XML 1.0 forbids or discourages; borrowed when nothing changes.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| allowed(c)).collect())
    }
}

/// `s` escaped for XML (or HTML) text and double- or single-quoted attribute values.
///
/// Tab, LF and CR become character references so that attribute values keep them
/// (a parser would otherwise normalise them to spaces). Does not [`clean`]: callers do.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'' | '\t' | '\n' | '\r');
    if !s.contains(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_forbidden_and_discouraged_characters() {
        let s = "a\u{0}b\u{1}c\u{b}d\u{c}e\u{7f}f\u{85}g\u{fffe}h\u{ffff}i\u{fdd0}j\u{1fffe}k";
        assert_eq!(clean(s), "abcdefghijk");
    }

    #[test]
    fn clean_keeps_whitespace_cjk_emoji_and_replacement_char() {
        let s = "标题\t📰\n\r\u{fffd}]]>&<";
        assert!(matches!(clean(s), Cow::Borrowed(_)));
        assert_eq!(clean(s), s);
    }

    #[test]
    fn escape_covers_markup_quotes_and_attribute_whitespace() {
        assert_eq!(escape("plain 文本"), "plain 文本");
        assert_eq!(
            escape("<a href=\"x\">R&D</a>\t'\n\r"),
            "&lt;a href=&quot;x&quot;&gt;R&amp;D&lt;/a&gt;&#9;&apos;&#10;&#13;"
        );
    }
}
