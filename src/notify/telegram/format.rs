//! Telegram messages in HTML parse mode: one item, a digest of items, and the plain-text fallback.
//!
//! Everything taken from an item is cleaned (control characters removed, whitespace collapsed)
//! and escaped (`&`, `<`, `>`, `"`), so the only markup in a message is the one written here:
//! `<b>` and `<a href>`. Every message is at most [`MAX_UTF16`] UTF-16 code units, counted on
//! the HTML text itself (stricter than Telegram, which counts after entity parsing).

use std::fmt::Write as _;

use chrono_tz::Tz;

use crate::domain::{Item, normalize_space};

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_UTF16: usize = 4096;

/// Room for the title of an item message (escaped, UTF-16 units).
const TITLE_UNITS: usize = 1024;
/// A link longer than this (escaped) is left out: the title is shown without it.
const URL_UNITS: usize = 1536;
/// Room for the source and for the author (each).
const META_UNITS: usize = 200;
/// Room for the whole hashtag line.
const TAGS_UNITS: usize = 768;
/// Longest single hashtag, in characters.
const HASHTAG_CHARS: usize = 64;
/// Room for one title in a digest line.
const DIGEST_TITLE_UNITS: usize = 512;
/// Room for a region header in a digest.
const HEADER_UNITS: usize = 200;
/// Group header for items without a region.
const NO_REGION: &str = "其他";

/// The message announcing one new item.
///
/// ```text
/// <b><a href="URL">TITLE</a></b>
/// 2022-02-23 10:43 · source · author
/// #晋中 #高质量
///
/// summary, trimmed with … to fit
/// ```
/// The time is shown in `tz`; lines with nothing to show are left out. The region comes first
/// among the hashtags and every hashtag is shown once. The summary is trimmed on a character
/// boundary so that the whole message is at most [`MAX_UTF16`] UTF-16 code units.
pub fn item_message(item: &Item, tz: Tz) -> String {
    let a = &item.article;
    let title = clean_line(&a.title);
    let mut head = String::new();
    head.push_str("<b>");
    push_link(&mut head, &a.url, &title, TITLE_UNITS);
    head.push_str("</b>");

    let mut meta: Vec<String> = Vec::new();
    if let Some(published) = a.published {
        meta.push(published.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string());
    }
    let mut shown: Vec<String> = Vec::new();
    for part in [Some(item.source.as_str()), a.author.as_deref()]
        .into_iter()
        .flatten()
    {
        let part = clean_line(part);
        if !part.is_empty() && !shown.contains(&part) {
            meta.push(escape_trunc(&part, META_UNITS));
            shown.push(part);
        }
    }
    if !meta.is_empty() {
        head.push('\n');
        head.push_str(&meta.join(" · "));
    }

    let region = a.region.as_ref().map(|r| r.name.as_str());
    let tags = hashtag_line(region.into_iter().chain(a.tags.iter().map(String::as_str)));
    if !tags.is_empty() {
        head.push('\n');
        head.push_str(&tags);
    }

    let summary = a.summary.as_deref().map(clean_text).unwrap_or_default();
    let budget = MAX_UTF16.saturating_sub(units(&head) + 2);
    if !summary.is_empty() && summary != title && budget >= 2 {
        head.push_str("\n\n");
        head.push_str(&escape_trunc(&summary, budget));
    }
    head
}

/// A digest of `items` as one or more messages: linked titles grouped by region.
///
/// Each region's display name is a bold header followed by `• <a href="URL">title</a>` lines
/// (with the publish time in `tz`); regions appear in the order of their first item, items in
/// the given order, items without a region under `其他`. A message that would exceed
/// [`MAX_UTF16`] is split between lines (never inside one), repeating the region header at the
/// top of the next message. No items, no messages.
pub fn digest_messages(items: &[Item], tz: Tz) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for item in items {
        let name = item
            .article
            .region
            .as_ref()
            .map(|r| clean_line(&r.name))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| NO_REGION.to_owned());
        let line = digest_line(item, tz);
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, lines)) => lines.push(line),
            None => groups.push((name, vec![line])),
        }
    }

    let mut messages = Vec::new();
    let mut current = String::new();
    for (name, lines) in groups {
        let header = format!("<b>{}</b>", escape_trunc(&name, HEADER_UNITS));
        let mut header_written = false;
        for line in lines {
            let extra = if header_written {
                1 + units(&line)
            } else {
                let sep = if current.is_empty() { 0 } else { 2 };
                sep + units(&header) + 1 + units(&line)
            };
            if !current.is_empty() && units(&current) + extra > MAX_UTF16 {
                messages.push(std::mem::take(&mut current));
                header_written = false;
            }
            if !header_written {
                if !current.is_empty() {
                    current.push_str("\n\n");
                }
                current.push_str(&header);
                header_written = true;
            }
            current.push('\n');
            current.push_str(&line);
        }
    }
    if !current.is_empty() {
        messages.push(current);
    }
    messages
}

/// The same message without markup, for sending with no parse mode when Telegram rejects the
/// HTML ("can't parse entities").
///
/// Tags are dropped, entities (`&lt;`, `&gt;`, `&amp;`, `&quot;`, numeric) decoded, and each
/// link's URL is kept after its text (`title https://…`). The result is never longer than the
/// HTML it came from.
pub fn to_plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut links: Vec<Option<String>> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('&') {
            match decode_entity(rest) {
                Some((c, len)) => {
                    out.push(c);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
            continue;
        }
        let Some(end) = rest.find('>') else {
            break;
        };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(closing) = tag.strip_prefix('/') {
            if tag_name(closing) == "a"
                && let Some(Some(url)) = links.pop()
                && !url.is_empty()
            {
                out.push(' ');
                out.push_str(&url);
            }
        } else if tag_name(tag) == "a" {
            links.push(attribute(tag, "href").map(|v| unescape(&v)));
        }
    }
    out.push_str(rest);
    out
}

/// Escapes `&`, `<`, `>` and `"` for Telegram HTML (text and attribute values alike).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// One digest line: bullet, linked title, publish time.
fn digest_line(item: &Item, tz: Tz) -> String {
    let mut line = String::from("• ");
    push_link(
        &mut line,
        &item.article.url,
        &clean_line(&item.article.title),
        DIGEST_TITLE_UNITS,
    );
    if let Some(published) = item.article.published {
        let _ = write!(line, " {}", published.with_timezone(&tz).format("%m-%d %H:%M"));
    }
    line
}

/// Appends `<a href="URL">title</a>`, or just the title when the URL is not a usable http(s)
/// link. The title is escaped and trimmed to `title_units`.
fn push_link(out: &mut String, url: &str, title: &str, title_units: usize) {
    let url: String = url
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect();
    let lower = url.to_ascii_lowercase();
    let href = escape_html(&url);
    let linkable =
        (lower.starts_with("https://") || lower.starts_with("http://")) && units(&href) <= URL_UNITS;
    let text = if title.is_empty() {
        if linkable {
            href.clone()
        } else {
            "（无标题）".to_owned()
        }
    } else {
        escape_trunc(title, title_units)
    };
    if linkable {
        let _ = write!(out, "<a href=\"{href}\">{text}</a>");
    } else {
        out.push_str(&text);
    }
}

/// `#region #tag …`: each tag normalised to what a hashtag can hold, shown once
/// (case-insensitively), within [`TAGS_UNITS`].
fn hashtag_line<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in words {
        let Some(tag) = hashtag(word) else { continue };
        let key = tag.to_lowercase();
        if seen.contains(&key) {
            continue;
        }
        let extra = usize::from(!line.is_empty()) + 1 + units(&tag);
        if units(&line) + extra > TAGS_UNITS {
            break;
        }
        seen.push(key);
        if !line.is_empty() {
            line.push(' ');
        }
        line.push('#');
        line.push_str(&tag);
    }
    line
}

/// The hashtag body for a word: letters and digits kept, every run of anything else (spaces,
/// punctuation, `_`) becomes one `_`, none at either end. `R&D` → `R_D`, `<新>` → `新`.
fn hashtag(word: &str) -> Option<String> {
    let mut out = String::new();
    let mut gap = false;
    let mut chars = 0;
    for c in word.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
                chars += 1;
            }
            gap = false;
            if chars >= HASHTAG_CHARS {
                break;
            }
            out.push(c);
            chars += 1;
        } else {
            gap = true;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// One line of text: control characters removed (whitespace ones become spaces), whitespace
/// collapsed.
fn clean_line(s: &str) -> String {
    let spaced: String = s
        .chars()
        .filter_map(|c| match c {
            c if c.is_whitespace() => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    normalize_space(&spaced)
}

/// Multi-line text: each line cleaned like [`clean_line`], empty lines dropped.
fn clean_text(s: &str) -> String {
    s.split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .map(clean_line)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `s` escaped, cut on a character boundary with `…` so the result is at most `max` UTF-16
/// units.
fn escape_trunc(s: &str, max: usize) -> String {
    let full = escape_html(s);
    if units(&full) <= max {
        return full;
    }
    let mut out = String::new();
    let mut used = 0;
    let mut piece = String::new();
    for c in s.chars() {
        piece.clear();
        push_escaped(&mut piece, c);
        let n = units(&piece);
        if used + n + 1 > max {
            break;
        }
        used += n;
        out.push_str(&piece);
    }
    let kept = out.trim_end().len();
    out.truncate(kept);
    if max > 0 {
        out.push('…');
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        c => out.push(c),
    }
}

/// UTF-16 code units, the unit of Telegram's limits.
fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The entity at the start of `s` (which starts with `&`): its character and byte length.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let semi = s.char_indices().take(12).find(|&(_, c)| c == ';')?.0;
    let name = &s[1..semi];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, semi + 1))
}

/// Entities decoded; anything that is not an entity kept as is.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match decode_entity(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The lower-cased name of a tag's inside (`a href="…"` → `a`).
fn tag_name(inside: &str) -> String {
    inside
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The raw (still escaped) value of attribute `name` inside a tag.
fn attribute(inside: &str, name: &str) -> Option<String> {
    let mut rest = inside;
    while let Some(i) = rest.find(name) {
        let before_ok = rest[..i].ends_with(char::is_whitespace);
        let after = rest[i + name.len()..].trim_start();
        rest = &rest[i + name.len()..];
        if !before_ok {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        let quote = value.chars().next()?;
        return if quote == '"' || quote == '\'' {
            let body = &value[1..];
            Some(body[..body.find(quote).unwrap_or(body.len())].to_owned())
        } else {
            Some(value.split(char::is_whitespace).next().unwrap_or("").to_owned())
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::{Article, RegionRef};

    fn item(title: &str, region: Option<&str>, tags: &[&str], summary: Option<&str>) -> Item {
        let published = DateTime::parse_from_rfc3339("2022-02-23T02:43:00+00:00").unwrap();
        Item {
            id: format!("id-{title}"),
            source: "jzrb".into(),
            article: Article {
                url: "https://news.example.cn/a/1?x=1&y=2".into(),
                guid: None,
                title: title.into(),
                author: Some("张三".into()),
                region: region.map(|name| RegionRef {
                    slug: "jinzhong".into(),
                    name: name.into(),
                    known: true,
                }),
                published: Some(published),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                summary: summary.map(str::to_owned),
                body_html: None,
                images: vec![],
                comments: None,
            },
            created: Utc.with_ymd_and_hms(2022, 2, 23, 3, 0, 0).unwrap(),
            updated: Utc.with_ymd_and_hms(2022, 2, 23, 3, 0, 0).unwrap(),
        }
    }

    /// A small version of Telegram's check: only `<b>` and `<a href>` here, properly nested,
    /// entities only the four named ones and numeric, no stray `<` or `>`.
    fn well_formed(html: &str) -> Result<(), String> {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find(['<', '>', '&']) {
            rest = &rest[i..];
            if rest.starts_with('>') {
                return Err("stray >".into());
            }
            if rest.starts_with('&') {
                let (_, len) = decode_entity(rest).ok_or_else(|| format!("bad entity at {rest:.12}"))?;
                let name = &rest[1..len - 1];
                if !(["lt", "gt", "amp", "quot"].contains(&name) || name.starts_with('#')) {
                    return Err(format!("entity {name}"));
                }
                rest = &rest[len..];
                continue;
            }
            let end = rest.find('>').ok_or("unclosed <")?;
            let tag = &rest[1..end];
            if tag.contains('<') {
                return Err("< inside tag".into());
            }
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop().as_deref() != Some(name) {
                    return Err(format!("mismatched </{name}>"));
                }
            } else {
                let name = tag_name(tag);
                match name.as_str() {
                    "b" if tag == "b" => {}
                    "a" if attribute(tag, "href").is_some() => {}
                    _ => return Err(format!("tag <{tag}>")),
                }
                stack.push(name);
            }
            rest = &rest[end + 1..];
        }
        if stack.is_empty() {
            Ok(())
        } else {
            Err(format!("unclosed {stack:?}"))
        }
    }

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    #[test]
    fn hostile_item_is_escaped_and_fits() {
        let summary: String = "正文<script>&\"]]>😀".chars().cycle().take(10_000).collect();
        let it = item(
            "<b>R&D</b> ]]> 😀 \u{1}标题\n第二行",
            Some("晋中"),
            &["晋中", "高质量", "R&D", "<新>", "5G", "5g", "a b-c.d"],
            Some(&summary),
        );
        let msg = item_message(&it, SHANGHAI);
        let n = msg.encode_utf16().count();
        assert!(n <= MAX_UTF16, "{n} units");
        assert!(n > MAX_UTF16 - 8, "the summary should fill the message, got {n}");
        well_formed(&msg).unwrap();
        assert!(msg.ends_with('…'));
        assert!(!msg.chars().any(|c| c.is_control() && c != '\n'));
        let first = msg.lines().next().unwrap();
        assert_eq!(
            first,
            "<b><a href=\"https://news.example.cn/a/1?x=1&amp;y=2\">&lt;b&gt;R&amp;D&lt;/b&gt; ]]&gt; 😀 \
             标题 第二行</a></b>"
        );
        let lines: Vec<&str> = msg.lines().collect();
        assert_eq!(lines[1], "2022-02-23 10:43 · jzrb · 张三");
        assert_eq!(lines[2], "#晋中 #高质量 #R_D #新 #5G #a_b_c_d");
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("正文&lt;script&gt;&amp;&quot;]]&gt;😀正文"));
    }

    #[test]
    fn trimming_never_splits_an_emoji_or_an_entity() {
        for len in 4000..4100 {
            let summary: String = "😀&".chars().cycle().take(len).collect();
            let msg = item_message(&item("t", None, &[], Some(&summary)), SHANGHAI);
            assert!(msg.encode_utf16().count() <= MAX_UTF16);
            well_formed(&msg).unwrap();
        }
    }

    #[test]
    fn short_item_is_untrimmed_and_lines_with_nothing_are_left_out() {
        let mut it = item("晋中新闻", None, &[], Some("  一段\r\n\r\n  摘要 "));
        it.article.author = None;
        it.article.published = None;
        let msg = item_message(&it, SHANGHAI);
        assert_eq!(
            msg,
            "<b><a href=\"https://news.example.cn/a/1?x=1&amp;y=2\">晋中新闻</a></b>\njzrb\n\n一段\n摘要"
        );
    }

    #[test]
    fn enormous_fields_still_fit() {
        let long: String = "长&".chars().cycle().take(20_000).collect();
        let mut it = item(&long, Some(&long), &[&long, &long[..300]], Some(&long));
        it.article.author = Some(long.clone());
        it.source = long.clone();
        it.article.url = format!("https://x.cn/{}", "a".repeat(10_000));
        let msg = item_message(&it, SHANGHAI);
        assert!(msg.encode_utf16().count() <= MAX_UTF16);
        well_formed(&msg).unwrap();
        assert!(!msg.contains("<a "), "an over-long URL is not linked");
    }

    #[test]
    fn non_http_urls_are_not_linked() {
        let mut it = item("t", None, &[], None);
        it.article.url = "javascript:alert(1)".into();
        assert!(item_message(&it, SHANGHAI).starts_with("<b>t</b>\n"));
    }

    #[test]
    fn hashtags_are_normalised() {
        assert_eq!(hashtag("R&D").as_deref(), Some("R_D"));
        assert_eq!(hashtag("<新>").as_deref(), Some("新"));
        assert_eq!(hashtag("5G").as_deref(), Some("5G"));
        assert_eq!(hashtag("  新 闻 - 联播. ").as_deref(), Some("新_闻_联播"));
        assert_eq!(hashtag("&<>").as_deref(), None);
        assert_eq!(
            hashtag_line(["晋中", "晋中", "#晋中", "高质量"].into_iter()),
            "#晋中 #高质量"
        );
    }

    #[test]
    fn plain_text_drops_markup_and_keeps_links() {
        let it = item("R&D <新>", Some("晋中"), &["高质量"], Some("a < b & \"c\""));
        let plain = to_plain_text(&item_message(&it, SHANGHAI));
        assert_eq!(
            plain,
            "R&D <新> https://news.example.cn/a/1?x=1&y=2\n2022-02-23 10:43 · jzrb · 张三\n#晋中 #高质量\n\n\
             a < b & \"c\""
        );
        assert_eq!(
            to_plain_text("x &bogus; &#x1F600; &#65; <i>y</i> &"),
            "x &bogus; 😀 A y &"
        );
    }

    #[test]
    fn digest_groups_by_region_and_splits_between_lines() {
        let mut items = Vec::new();
        for i in 0..120 {
            let region = match i % 3 {
                0 => Some("晋中"),
                1 => Some("太原"),
                _ => None,
            };
            let title = format!("第{i}条 {}", "很长的标题&".repeat(12));
            items.push(item(&title, region, &[], None));
        }
        let parts = digest_messages(&items, SHANGHAI);
        assert!(parts.len() > 1, "{} parts", parts.len());
        for part in &parts {
            assert!(part.encode_utf16().count() <= MAX_UTF16);
            well_formed(part).unwrap();
            assert!(part.starts_with("<b>"), "every part starts with a region header");
        }
        let all = parts.join("\n");
        for i in 0..120 {
            assert_eq!(all.matches(&format!("第{i}条 ")).count(), 1, "title {i} once");
        }
        assert!(parts[0].starts_with("<b>晋中</b>\n• <a href="));
        assert!(parts[0].contains(" 02-23 10:43\n"));
        let headers: Vec<&str> = parts[0].lines().filter(|l| l.starts_with("<b>")).collect();
        assert_eq!(
            headers,
            ["<b>晋中</b>", "<b>太原</b>", "<b>其他</b>"][..headers.len()]
        );
        assert!(digest_messages(&[], SHANGHAI).is_empty());
    }

    #[test]
    fn small_digest_is_one_message() {
        let items = [
            item("一", Some("晋中"), &[], None),
            item("二", Some("晋中"), &[], None),
        ];
        let parts = digest_messages(&items, SHANGHAI);
        let href = "https://news.example.cn/a/1?x=1&amp;y=2";
        assert_eq!(
            parts,
            [format!(
                "<b>晋中</b>\n• <a href=\"{href}\">一</a> 02-23 10:43\n• <a href=\"{href}\">二</a> 02-23 10:43"
            )]
        );
    }
}
