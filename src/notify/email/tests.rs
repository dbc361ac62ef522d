//! Composition tests: the raw message as an SMTP server would receive it, parsed back.

use chrono::{DateTime, TimeZone, Utc};
use lettre::Message;
use url::Url;

use super::compose::{ComposeError, MailContext, confirmation_mail, digest_mail, item_mail};
use super::links::{Links, Purpose, hash_token};
use crate::domain::{Article, Item, RegionTable};
use crate::store::{Filters, Recipient, Topic};

/// An item published at 08:`minute` Beijing time on 2026-11-26.
pub(super) fn item(id: &str, region: Option<&str>, tags: &[&str], minute: u32) -> Item {
    let regions = RegionTable::shanxi();
    let created = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
    Item {
        id: id.to_owned(),
        source: "portal".to_owned(),
        article: Article {
            url: format!("https://news.example.org/{id}.html"),
            guid: None,
            title: format!("标题 {id}"),
            author: None,
            region: region.and_then(|r| regions.resolve(r)),
            published: Some(
                chrono::FixedOffset::east_opt(8 * 3600)
                    .unwrap()
                    .with_ymd_and_hms(2026, 11, 26, 8, minute, 0)
                    .unwrap(),
            ),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            summary: Some(format!("摘要 {id}")),
            body_html: None,
            images: Vec::new(),
            comments: None,
        },
        created,
        updated: created,
    }
}

fn recipient(mode: &str, topics: Vec<Topic>) -> Recipient {
    Recipient {
        id: 42,
        kind: "email".into(),
        address: "reader@example.org".into(),
        thread_id: 0,
        state: "active".into(),
        state_reason: None,
        origin: "web".into(),
        tz: "Asia/Shanghai".into(),
        mode: mode.into(),
        digest_at: Some("08:00".into()),
        digest_weekday: None,
        filters: Filters::default(),
        last_digest_at: None,
        created_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        topics,
        counts: [0; 4],
    }
}

const KEY: &str = "test-key-with-at-least-32-characters-in-it";

fn ctx() -> MailContext {
    let public = Url::parse("https://example.org/news/").unwrap();
    let links = Links::with_key(&public, KEY);
    MailContext::with_links("news@example.org", &public, links, RegionTable::shanxi()).unwrap()
}

fn topic(region: Option<&str>, tag: Option<&str>) -> Topic {
    Topic {
        region: region.map(str::to_owned),
        tag: tag.map(str::to_owned),
    }
}

/// A message parsed back from its wire form.
struct Parsed {
    raw: String,
    headers: Vec<(String, String)>,
    /// (content type, decoded body) of each part.
    parts: Vec<(String, String)>,
}

impl Parsed {
    fn of(message: &Message) -> Parsed {
        let bytes = message.formatted();
        assert!(bytes.is_ascii(), "the wire form is 7-bit");
        let raw = String::from_utf8(bytes).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let headers = parse_headers(head);
        let content_type = header_in(&headers, "Content-Type").unwrap();
        assert!(
            content_type.starts_with("multipart/alternative"),
            "{content_type}"
        );
        let boundary = content_type
            .split("boundary=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"');
        let parts = body
            .split(&format!("--{boundary}"))
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .map(|part| {
                let (head, body) = part.trim_start_matches("\r\n").split_once("\r\n\r\n").unwrap();
                let headers = parse_headers(head);
                let kind = header_in(&headers, "Content-Type").unwrap().to_owned();
                let decoded = match header_in(&headers, "Content-Transfer-Encoding").unwrap() {
                    "base64" => String::from_utf8(base64(body)).unwrap(),
                    "quoted-printable" => String::from_utf8(quoted_printable(body)).unwrap(),
                    _ => body.to_owned(),
                };
                (kind, decoded.replace("\r\n", "\n"))
            })
            .collect();
        Parsed { raw, headers, parts }
    }

    fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }

    fn part(&self, kind: &str) -> &str {
        &self.parts.iter().find(|(k, _)| k.starts_with(kind)).unwrap().1
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap();
        acc = (acc << 6) | u32::try_from(v).unwrap();
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).unwrap());
        }
    }
    out
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Decodes the RFC 2047 `=?utf-8?b?…?=` words of a header value (as lettre writes them).
fn decode_words(value: &str) -> String {
    let mut out = Vec::new();
    let mut prev_encoded = false;
    for word in value.split(' ') {
        let encoded = word.strip_prefix("=?utf-8?b?").and_then(|w| w.strip_suffix("?="));
        // Whitespace between two encoded words is folding, not text.
        if !(out.is_empty() || prev_encoded && encoded.is_some()) {
            out.push(b' ');
        }
        match encoded {
            Some(encoded) => out.extend(base64(encoded)),
            None => out.extend(word.as_bytes()),
        }
        prev_encoded = encoded.is_some();
    }
    String::from_utf8(out).unwrap()
}

fn hostile_item() -> Item {
    let mut item = item("0123456789abcdef01234567", Some("晋中"), &["高质量"], 3);
    item.article.title = "晋中举办<script>alert(1)</script>推介会 ]]> & \"引号\"\r\nBcc: x@y.org".to_owned();
    item.article.summary = Some("<b>加粗</b> 摘要".to_owned());
    item
}

#[test]
fn item_mail_is_multipart_with_an_encoded_subject_and_one_click_unsubscribe() {
    let r = recipient("instant", vec![topic(Some("jinzhong"), None)]);
    let m = Parsed::of(&item_mail(&ctx(), &r, &hostile_item(), 17).unwrap());

    let subject = m.header("Subject").unwrap();
    assert!(subject.starts_with("=?utf-8?"), "{subject}");
    assert_eq!(
        decode_words(subject),
        "【晋中】晋中举办<script>alert(1)</script>推介会 ]]> & \"引号\" Bcc: x@y.org"
    );
    assert!(!m.raw.contains("\r\nBcc:"), "no injected header");
    assert_eq!(m.header("From"), Some("Tidings <news@example.org>"));
    assert_eq!(m.header("To"), Some("reader@example.org"));
    assert!(m.header("Date").is_some());
    assert_eq!(m.header("Message-ID"), Some("<d17.0123456789ab@example.org>"));

    let unsubscribe =
        Links::with_key(&Url::parse("https://example.org/news").unwrap(), KEY).unsubscribe_url(42);
    assert!(unsubscribe.starts_with("https://example.org/news/unsubscribe/42."));
    assert_eq!(
        m.header("List-Unsubscribe"),
        Some(format!("<{unsubscribe}>").as_str())
    );
    assert_eq!(
        m.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );

    let kinds: Vec<&str> = m.parts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["text/plain; charset=utf-8", "text/html; charset=utf-8"]);

    let text = m.part("text/plain");
    assert!(text.contains("晋中举办<script>alert(1)</script>推介会"), "{text}");
    assert!(text.contains("发布时间：2026-11-26 08:03"), "{text}");
    assert!(text.contains("地区：晋中"), "{text}");
    assert!(text.contains("标签：高质量"), "{text}");
    assert!(
        text.contains("阅读全文：https://news.example.org/0123456789abcdef01234567.html"),
        "{text}"
    );
    assert!(text.contains(&format!("退订：{unsubscribe}")), "{text}");
    assert!(
        text.contains("修改订阅内容和推送方式：https://example.org/news/manage/42."),
        "{text}"
    );
    assert!(text.contains("您订阅的主题：晋中"), "{text}");

    let html = m.part("text/html");
    assert!(!html.contains("<script>") && !html.contains("<b>加粗"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(html.contains("]]&gt; &amp; &quot;引号&quot;"), "{html}");
    assert!(
        html.contains(r#"<a href="https://news.example.org/0123456789abcdef01234567.html""#),
        "{html}"
    );
    assert!(html.contains(&format!(r#"<a href="{unsubscribe}""#)), "{html}");
    assert!(
        html.contains(">退订</a>") && html.contains(">修改订阅内容和推送方式</a>"),
        "{html}"
    );
}

#[test]
fn the_same_delivery_gets_the_same_message_id() {
    let r = recipient("instant", Vec::new());
    let item = item("abcdef0123456789abcdef01", None, &[], 0);
    let id = |delivery| {
        let m = item_mail(&ctx(), &r, &item, delivery).unwrap();
        Parsed::of(&m).header("Message-ID").unwrap().to_owned()
    };
    assert_eq!(id(5), id(5));
    assert_ne!(id(5), id(6));
}

#[test]
fn subject_falls_back_to_the_first_tag_then_the_title_and_is_kept_short() {
    let r = recipient("instant", Vec::new());
    let subject = |item: &Item| {
        let m = item_mail(&ctx(), &r, item, 1).unwrap();
        decode_words(Parsed::of(&m).header("Subject").unwrap())
    };
    assert_eq!(
        subject(&item("a", None, &["文旅", "高质量"], 0)),
        "【文旅】标题 a"
    );
    assert_eq!(subject(&item("a", None, &[], 0)), "标题 a");
    let mut long = item("a", Some("太原"), &[], 0);
    long.article.title = "长".repeat(300);
    let s = subject(&long);
    assert_eq!(s.chars().count(), 121, "{s}");
    assert!(s.starts_with("【太原】长") && s.ends_with('…'));
}

#[test]
fn links_that_are_not_web_links_are_left_out() {
    let r = recipient("instant", Vec::new());
    let mut item = item("a", None, &[], 0);
    item.article.url = "javascript:alert(1)".to_owned();
    let m = Parsed::of(&item_mail(&ctx(), &r, &item, 1).unwrap());
    assert!(!m.part("text/html").contains("javascript"));
    assert!(!m.part("text/plain").contains("javascript"));
}

#[test]
fn digest_mail_groups_items_and_names_period_date_and_count() {
    let items = vec![
        item("a", Some("晋中"), &["文旅", "高质量"], 10),
        item("b", Some("太原"), &["经济"], 50),
        item("c", Some("晋中"), &["高质量"], 30),
        item("d", None, &[], 40),
    ];
    let r = recipient(
        "daily",
        vec![topic(None, Some("高质量")), topic(Some("taiyuan"), None)],
    );
    // 2026-11-26 23:30 UTC is already the 27th in Beijing.
    let scheduled: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 26, 23, 30, 0).unwrap();
    let m = Parsed::of(&digest_mail(&ctx(), &r, &items, scheduled).unwrap());
    assert_eq!(
        decode_words(m.header("Subject").unwrap()),
        "Tidings 每日摘要 · 2026-11-27 · 4 条新闻"
    );
    assert!(m.header("Subject").unwrap().starts_with("Tidings =?utf-8?"));
    assert_eq!(
        m.header("Message-ID"),
        Some(format!("<digest.42.{}@example.org>", scheduled.timestamp()).as_str())
    );
    assert!(m.header("List-Unsubscribe").is_some());
    assert_eq!(
        m.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );

    let text = m.part("text/plain");
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing in\n{text}"))
    };
    assert!(
        at("== 太原 ==") < at("== 其他地区 ==") && at("== 其他地区 ==") < at("== 晋中 =="),
        "{text}"
    );
    assert!(at("- 标题 c") < at("- 标题 a"), "{text}");
    assert!(at("# 高质量") < at("- 标题 c"), "{text}");
    assert_eq!(text.matches("- 标题 ").count(), 4, "{text}");
    assert!(text.contains("- 标题 c（2026-11-26 08:30）"), "{text}");
    assert!(text.contains("您订阅的主题：高质量、太原"), "{text}");
    assert!(!text.contains("\n\n\n\n"), "{text}");

    let html = m.part("text/html");
    assert!(
        html.contains(r#"<a href="https://news.example.org/c.html""#),
        "{html}"
    );
    assert_eq!(html.matches("<li ").count(), 4, "{html}");

    let weekly = recipient("weekly", Vec::new());
    let m = Parsed::of(&digest_mail(&ctx(), &weekly, &items, scheduled).unwrap());
    assert!(decode_words(m.header("Subject").unwrap()).starts_with("Tidings 每周摘要 · "));
    assert!(matches!(
        digest_mail(&ctx(), &r, &[], scheduled),
        Err(ComposeError::EmptyDigest)
    ));
}

#[test]
fn confirmation_mail_links_the_token_and_has_no_unsubscribe_headers() {
    let token = "ab".repeat(32);
    let topics = vec!["晋中".to_owned(), "晋中+高质量".to_owned()];
    let m = confirmation_mail(&ctx(), "reader@example.org", &token, &topics, "每日摘要（08:00）").unwrap();
    let m = Parsed::of(&m);
    assert_eq!(
        decode_words(m.header("Subject").unwrap()),
        "请确认订阅 Tidings 新闻推送"
    );
    assert!(m.header("List-Unsubscribe").is_none() && m.header("List-Unsubscribe-Post").is_none());
    assert_eq!(
        m.header("Message-ID"),
        Some(format!("<confirm.{}@example.org>", &hash_token(&token)[..16]).as_str())
    );
    let url = format!("https://example.org/news/confirm/{token}");
    for body in [m.part("text/plain"), m.part("text/html")] {
        assert!(body.contains(&url), "{body}");
        assert!(body.contains("48 小时"), "{body}");
        assert!(body.contains("如果不是您本人操作，请忽略本邮件"), "{body}");
        assert!(body.contains("晋中、晋中+高质量"), "{body}");
        assert!(body.contains("每日摘要（08:00）"), "{body}");
    }
    assert!(m.part("text/html").contains(&format!(r#"href="{url}""#)));
}

#[test]
fn the_sender_gets_a_name_and_a_bad_sender_is_explained() {
    let public = Url::parse("http://127.0.0.1:8080").unwrap();
    let links = || Links::with_key(&public, KEY);
    let c = MailContext::with_links(" news@Example.org ", &public, links(), RegionTable::shanxi()).unwrap();
    assert_eq!(c.from.to_string(), "Tidings <news@Example.org>");
    assert_eq!(c.host, "example.org");
    let c = MailContext::with_links(
        "晋中新闻 <news@example.org>",
        &public,
        links(),
        RegionTable::shanxi(),
    )
    .unwrap();
    assert_eq!(c.from.name.as_deref(), Some("晋中新闻"));
    let e = MailContext::with_links("not an address", &public, links(), RegionTable::shanxi()).unwrap_err();
    assert!(e.to_string().contains("email.from"), "{e}");
    let r = Recipient {
        address: "broken".into(),
        ..recipient("instant", Vec::new())
    };
    let e = item_mail(&c, &r, &item("a", None, &[], 0), 1).unwrap_err();
    assert!(matches!(e, ComposeError::Recipient { .. }), "{e}");
}

#[test]
fn links_in_mail_verify_for_the_recipient() {
    let r = recipient("instant", Vec::new());
    let c = ctx();
    let m = Parsed::of(&item_mail(&c, &r, &item("a", None, &[], 0), 1).unwrap());
    let header = m.header("List-Unsubscribe").unwrap();
    let token = header.trim_end_matches('>').rsplit('/').next().unwrap();
    assert_eq!(c.links.verify(Purpose::Unsubscribe, token), Some(42));
}
