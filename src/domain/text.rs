//! Text helpers: whitespace, tags, truncation.

/// Collapses every run of whitespace (including U+3000 and NBSP) to one space and trims.
pub fn normalize_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || c == '\u{a0}') {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Splits a tag list on whitespace, `,`, `，`, `、`, `;` and `；`, dropping empties and repeats.
pub fn split_tags<'a>(parts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for part in parts {
        for tag in
            part.split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | '、' | ';' | '；' | '\u{a0}'))
        {
            let tag = tag.trim();
            if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
        }
    }
    tags
}

/// At most `max` characters of `s`, with `…` appended when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((i, _)) => format!("{}…", s[..i].trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_on_every_separator_once_each() {
        let tags = split_tags(["晋中 高质量,我市，文旅、5G;R&D；<新>", "晋中"]);
        assert_eq!(tags, ["晋中", "高质量", "我市", "文旅", "5G", "R&D", "<新>"]);
    }

    #[test]
    fn whitespace_is_normalised_including_ideographic_space() {
        assert_eq!(
            normalize_space("\u{3000}\u{3000}近日，\n  晋中\t市 "),
            "近日， 晋中 市"
        );
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("晋中高质量发展", 3), "晋中高…");
        assert_eq!(truncate_chars("晋中", 3), "晋中");
    }
}
