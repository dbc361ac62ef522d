//! The bot's commands as users type them, and the wording of its replies (zh-CN).
//!
//! Everything here is pure: parsing `/subscribe@bot 晋中 高质量`, understanding topic words
//! against the configured regions and the tags the store knows (with suggestions for typos),
//! validating `/digest` and `/tz` arguments, and building HTML replies in which every value
//! that came from a user, the configuration or the store is escaped.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono_tz::Tz;

use super::format::escape_html;
use crate::domain::RegionTable;
use crate::notify::topics::{parse_topic, show_topic};
use crate::store::{Recipient, Topic};

/// At most this many suggestions are offered for a word.
const MAX_SUGGESTIONS: usize = 5;
/// At most this many tags are named in `/help`.
const HELP_TAGS: usize = 8;
/// Longest user word echoed back in a reply, in characters.
const ECHO_CHARS: usize = 40;

/// The time zone of recipients that never set one.
pub const DEFAULT_TZ: &str = "Asia/Shanghai";

/// A command the bot knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/start`: the greeting (same text as `/help`).
    Start,
    /// `/help`.
    Help,
    /// `/subscribe <topic>…`.
    Subscribe,
    /// `/unsubscribe [<topic>…]`.
    Unsubscribe,
    /// `/list`.
    List,
    /// `/digest off|daily HH:MM|weekly mon HH:MM`.
    Digest,
    /// `/tz Area/City`.
    Tz,
    /// Anything else starting with `/` (the name as written, lower-cased).
    Unknown(String),
}

impl Command {
    /// Whether the command changes the chat's subscription (admins only in groups).
    pub fn changes_subscription(&self) -> bool {
        matches!(
            self,
            Command::Subscribe | Command::Unsubscribe | Command::Digest | Command::Tz
        )
    }
}

/// A command found at the start of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation<'a> {
    /// Which command.
    pub command: Command,
    /// The rest of the message, trimmed.
    pub args: &'a str,
    /// Whether it named this bot explicitly (`/list@tidings_bot`).
    pub addressed: bool,
}

/// The command at the start of `text`, if there is one for this bot.
///
/// `/cmd@name` is for the bot called `name` only: with `me` (this bot's username) known, a
/// command for another bot gives `None`; with `me` unknown it is taken as ours.
pub fn parse_command<'a>(text: &'a str, me: Option<&str>) -> Option<Invocation<'a>> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, args) = rest.split_at(end);
    let (name, target) = match word.split_once('@') {
        Some((name, target)) => (name, Some(target)),
        None => (word, None),
    };
    if name.is_empty() {
        return None;
    }
    if let (Some(target), Some(me)) = (target, me)
        && !target.eq_ignore_ascii_case(me.trim_start_matches('@'))
    {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let command = match name.as_str() {
        "start" => Command::Start,
        "help" => Command::Help,
        "subscribe" | "sub" => Command::Subscribe,
        "unsubscribe" | "unsub" => Command::Unsubscribe,
        "list" => Command::List,
        "digest" => Command::Digest,
        "tz" | "timezone" => Command::Tz,
        _ => Command::Unknown(name),
    };
    Some(Invocation {
        command,
        args: args.trim(),
        addressed: target.is_some(),
    })
}

/// The words of a command's arguments: separated by whitespace, commas, `、` or semicolons.
pub fn words(args: &str) -> Vec<&str> {
    args.split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | '、' | ';' | '；'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// What one `/subscribe` word means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Understood {
    /// A topic of configured regions and known tags (tags in their stored spelling).
    Topic(Topic),
    /// A part is neither a configured region nor a known tag.
    Unknown {
        /// The part not understood.
        part: String,
        /// Close matches, shown as the user would type them (the whole word with that part
        /// replaced).
        suggestions: Vec<String>,
    },
    /// The word is malformed (empty part, two regions…); the reason in Chinese.
    Invalid(String),
}

/// Understands one word of `/subscribe`: regions by slug, name or alias; tags only when
/// `tags` (the store's known tags) holds them, case-insensitively; `a+b` combines one region
/// and one tag; `tag:x` or `#x` forces the tag reading of a region name.
pub fn understand(word: &str, regions: &RegionTable, tags: &[String]) -> Understood {
    let parts: Vec<&str> = word.split(['+', '＋']).map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Understood::Invalid("组合请写成「地区+标签」，例如 晋中+高质量".into());
    }
    let mut canonical = Vec::with_capacity(parts.len());
    let (mut region_count, mut tag_count) = (0, 0);
    for (i, part) in parts.iter().enumerate() {
        let forced = forced_tag(part);
        let region = match forced {
            Some(_) => None,
            None => regions.find(part),
        };
        if region.is_some() {
            region_count += 1;
            canonical.push((*part).to_owned());
            continue;
        }
        let tag = forced.unwrap_or(part);
        match known_tag(tag, tags) {
            Some(stored) => {
                tag_count += 1;
                canonical.push(format!("tag:{stored}"));
            }
            None => {
                let suggestions = suggest(tag, regions, tags)
                    .into_iter()
                    .map(|s| {
                        let mut whole: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
                        whole[i] = s;
                        whole.join("+")
                    })
                    .collect();
                return Understood::Unknown {
                    part: (*part).to_owned(),
                    suggestions,
                };
            }
        }
    }
    if region_count > 1 {
        return Understood::Invalid("一个组合只能包含一个地区（一篇文章只属于一个地区）".into());
    }
    if tag_count > 1 {
        return Understood::Invalid("一个组合最多包含一个地区和一个标签".into());
    }
    match parse_topic(&canonical.join("+"), regions) {
        Ok(topic) => Understood::Topic(topic),
        Err(_) => Understood::Invalid("一个组合最多包含一个地区和一个标签".into()),
    }
}

/// The tag named by `tag:x`, `#x` or `＃x`, if the word forces the tag reading.
fn forced_tag(part: &str) -> Option<&str> {
    let lower = part.get(..4).map(str::to_ascii_lowercase);
    if lower.as_deref() == Some("tag:") {
        return Some(part[4..].trim());
    }
    part.strip_prefix('#')
        .or_else(|| part.strip_prefix('＃'))
        .map(str::trim)
}

/// The stored spelling of a known tag: exact, else case-insensitive.
fn known_tag<'a>(tag: &str, tags: &'a [String]) -> Option<&'a str> {
    if tag.is_empty() {
        return None;
    }
    tags.iter()
        .find(|t| *t == tag)
        .or_else(|| {
            let lower = tag.to_lowercase();
            tags.iter().find(|t| t.to_lowercase() == lower)
        })
        .map(String::as_str)
}

/// Close matches for an unknown word among region slugs, names and aliases and the known
/// tags: within a small edit distance (1 for words of up to 3 characters, else 2), or
/// containing / contained in the word. Regions are shown by name, tags that are also region
/// names as `tag:x`; best first, at most [`MAX_SUGGESTIONS`].
pub fn suggest(word: &str, regions: &RegionTable, tags: &[String]) -> Vec<String> {
    let word = forced_tag(word).unwrap_or(word).trim().to_lowercase();
    let len = word.chars().count();
    if len == 0 {
        return Vec::new();
    }
    let limit = if len <= 3 { 1 } else { 2 };
    let score = |key: &str| -> Option<usize> {
        let key = key.to_lowercase();
        let key_len = key.chars().count();
        let d = distance(&word, &key);
        if d <= limit && d < len {
            return Some(d * 2);
        }
        let contained = key.contains(&word) || (key_len >= 2 && word.contains(&key));
        // A shared prefix of at least 3 characters (`jin` → jinzhong, jincheng).
        let prefix = word.chars().zip(key.chars()).take_while(|(a, b)| a == b).count();
        (contained || prefix >= 3).then_some(3)
    };
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for r in regions.regions() {
        let best = std::iter::once(&r.slug)
            .chain(std::iter::once(&r.name))
            .chain(r.aliases.iter())
            .filter_map(|k| score(k))
            .min();
        if let Some(s) = best {
            found.push((s, found.len(), r.name.clone()));
        }
    }
    for t in tags {
        if let Some(s) = score(t) {
            let shown = if regions.find(t).is_some() {
                format!("tag:{t}")
            } else {
                t.clone()
            };
            found.push((s, found.len(), shown));
        }
    }
    found.sort();
    let mut out: Vec<String> = Vec::new();
    for (_, _, shown) in found {
        if !out.contains(&shown) {
            out.push(shown);
        }
        if out.len() == MAX_SUGGESTIONS {
            break;
        }
    }
    out
}

/// Levenshtein distance between two strings, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A `/digest` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestRequest {
    /// `off`: every item as it arrives.
    Off,
    /// A daily digest at `HH:MM`.
    Daily {
        /// `HH:MM`.
        at: String,
    },
    /// A weekly digest on a weekday at `HH:MM`.
    Weekly {
        /// `mon`…`sun`.
        weekday: &'static str,
        /// `HH:MM`.
        at: String,
    },
}

impl DigestRequest {
    /// The stored mode: `instant`, `daily` or `weekly`.
    pub fn mode(&self) -> &'static str {
        match self {
            DigestRequest::Off => "instant",
            DigestRequest::Daily { .. } => "daily",
            DigestRequest::Weekly { .. } => "weekly",
        }
    }
}

/// Usage of `/digest`, in HTML.
pub const DIGEST_USAGE: &str = "用法：<code>/digest off</code>（即时推送）、<code>/digest daily 07:30</code>（每日摘要）或 \
     <code>/digest weekly mon 07:30</code>（每周摘要，星期写 mon…sun 或 周一…周日）";

/// Parses `/digest` arguments; the error is an HTML reply (values escaped).
pub fn parse_digest(args: &str) -> Result<DigestRequest, String> {
    let words = words(args);
    let Some(first) = words.first() else {
        return Err(DIGEST_USAGE.to_owned());
    };
    let rest = &words[1..];
    match first.to_lowercase().as_str() {
        "off" | "instant" | "none" | "关闭" | "即时" => {
            if rest.is_empty() {
                Ok(DigestRequest::Off)
            } else {
                Err(format!(
                    "<code>/digest off</code> 不需要其他参数。\n{DIGEST_USAGE}"
                ))
            }
        }
        "daily" | "day" | "每日" | "每天" => match rest {
            [time] => Ok(DigestRequest::Daily { at: time_arg(time)? }),
            [] => Err(format!(
                "请给出每日摘要的时间，例如 <code>/digest daily 07:30</code>。\n{DIGEST_USAGE}"
            )),
            _ => Err(format!("参数太多。\n{DIGEST_USAGE}")),
        },
        "weekly" | "week" | "每周" => match rest {
            [a, b] => {
                // Either order: `mon 07:30` or `07:30 mon`.
                let (day, time) = if parse_time(a).is_some() && parse_time(b).is_none() {
                    (b, a)
                } else {
                    (a, b)
                };
                let weekday = parse_weekday(day).ok_or_else(|| {
                    format!(
                        "无法识别星期「{}」：请写 mon、tue、wed、thu、fri、sat、sun 或 周一…周日。\n{DIGEST_USAGE}",
                        echo(day)
                    )
                })?;
                Ok(DigestRequest::Weekly {
                    weekday,
                    at: time_arg(time)?,
                })
            }
            _ => Err(format!(
                "每周摘要需要星期和时间，例如 <code>/digest weekly mon 07:30</code>。\n{DIGEST_USAGE}"
            )),
        },
        _ => Err(format!("无法识别「{}」。\n{DIGEST_USAGE}", echo(first))),
    }
}

fn time_arg(s: &str) -> Result<String, String> {
    parse_time(s).ok_or_else(|| {
        format!(
            "无法识别时间「{}」：请写 24 小时制的 HH:MM，例如 07:30 或 21:00。",
            echo(s)
        )
    })
}

/// `H:MM` or `HH:MM` (also with a full-width colon), 00:00–23:59, as `HH:MM`.
pub fn parse_time(s: &str) -> Option<String> {
    let (h, m) = s.trim().split_once([':', '：'])?;
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then(|| format!("{h:02}:{m:02}"))
}

/// `mon`…`sun` from English (short or long, any case) or Chinese (`周一`, `星期一`, `礼拜一`,
/// `周日`/`周天`) weekday names.
pub fn parse_weekday(s: &str) -> Option<&'static str> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const LONG: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    const ZH: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];
    let lower = s.trim().to_lowercase();
    if let Some(i) = DAYS
        .iter()
        .zip(LONG)
        .position(|(short, long)| lower == *short || lower == long || (lower == "tues" && *short == "tue"))
    {
        return Some(DAYS[i]);
    }
    let day = ["周", "星期", "礼拜"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))?;
    let day = if day == "天" { "日" } else { day };
    ZH.iter().position(|z| *z == day).map(|i| DAYS[i])
}

/// `周一` for `mon`, … (the code itself when unknown).
pub fn weekday_zh(code: &str) -> &str {
    match code {
        "mon" => "周一",
        "tue" => "周二",
        "wed" => "周三",
        "thu" => "周四",
        "fri" => "周五",
        "sat" => "周六",
        "sun" => "周日",
        other => other,
    }
}

/// Parses an IANA time zone name (case-insensitively); the error is an HTML reply with
/// suggestions.
pub fn parse_tz(s: &str) -> Result<Tz, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(
            "用法：<code>/tz Asia/Shanghai</code>（IANA 时区名，例如 Asia/Tokyo、Europe/Berlin）".into(),
        );
    }
    if let Ok(tz) = Tz::from_str(s) {
        return Ok(tz);
    }
    let lower = s.to_lowercase();
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().to_lowercase() == lower)
    {
        return Ok(*tz);
    }
    // Suggest zones whose city matches the last part of what was written.
    let city = lower.rsplit('/').next().unwrap_or(&lower).replace(' ', "_");
    let mut close: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| {
            let zone_city = name.rsplit('/').next().unwrap_or(name).to_lowercase();
            zone_city == city || (city.chars().count() >= 4 && distance(&zone_city, &city) <= 2)
        })
        .collect();
    close.truncate(MAX_SUGGESTIONS);
    let mut reply = format!(
        "未知时区「{}」：请写 IANA 时区名，例如 <code>Asia/Shanghai</code>、<code>Asia/Tokyo</code>。",
        echo(s)
    );
    if !close.is_empty() {
        let names: Vec<String> = close
            .iter()
            .map(|n| format!("<code>/tz {}</code>", escape_html(n)))
            .collect();
        let _ = write!(reply, "\n您是不是想写：{}", names.join("、"));
    }
    Err(reply)
}

/// A user's word for echoing in a reply: trimmed to [`ECHO_CHARS`] characters and escaped.
pub fn echo(word: &str) -> String {
    let mut s: String = word.chars().take(ECHO_CHARS).collect();
    if word.chars().count() > ECHO_CHARS {
        s.push('…');
    }
    escape_html(&s)
}

/// Topics as users write them, `、`-separated and escaped.
pub fn show_topics(topics: &[Topic], regions: &RegionTable) -> String {
    let shown: Vec<String> = topics
        .iter()
        .map(|t| escape_html(&show_topic(t, regions)))
        .collect();
    shown.join("、")
}

/// A chat's topics as `/list` shows them, `、`-separated and escaped: regions (in
/// configuration order), then region+tag topics, then tags.
pub fn show_subscription(topics: &[Topic], regions: &RegionTable) -> String {
    let position = |slug: &Option<String>| {
        slug.as_ref().map_or(usize::MAX, |s| {
            regions
                .regions()
                .iter()
                .position(|r| &r.slug == s)
                .unwrap_or(usize::MAX - 1)
        })
    };
    let mut sorted = topics.to_vec();
    sorted.sort_by_key(|t| {
        (
            t.region.is_none(),
            position(&t.region),
            t.tag.is_some(),
            t.tag.clone(),
        )
    });
    show_topics(&sorted, regions)
}

/// How a recipient's mode reads: `即时推送`, `每日摘要（07:30）`, `每周摘要（周一 07:30）`.
pub fn describe_mode(mode: &str, at: Option<&str>, weekday: Option<&str>) -> String {
    let at = escape_html(at.unwrap_or("未设时间"));
    match mode {
        "daily" => format!("每日摘要（每天 {at}）"),
        "weekly" => format!(
            "每周摘要（每{} {at}）",
            escape_html(weekday_zh(weekday.unwrap_or("mon")))
        ),
        _ => "即时推送".to_owned(),
    }
}

/// The `/list` reply for a chat's recipient (none: how to subscribe).
pub fn list_reply(recipient: Option<&Recipient>, regions: &RegionTable) -> String {
    let Some(r) = recipient.filter(|r| !r.topics.is_empty()) else {
        return format!(
            "本聊天还没有订阅。发送 <code>/subscribe {}</code> 订阅一个地区，或发送 /help 查看用法。",
            example_region(regions)
        );
    };
    let mut out = format!("当前订阅：{}", show_subscription(&r.topics, regions));
    let _ = write!(
        out,
        "\n推送方式：{}\n时区：{}",
        describe_mode(&r.mode, r.digest_at.as_deref(), r.digest_weekday.as_deref()),
        escape_html(&r.tz)
    );
    if r.state != "active" {
        let why = r
            .state_reason
            .as_deref()
            .map(|w| format!("（{}）", echo(w)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "\n推送已停止{why}；发送 <code>/subscribe</code> 加任一主题即可恢复。"
        );
    }
    out
}

/// The name of the first configured region, escaped (`晋中` when there is none).
fn example_region(regions: &RegionTable) -> String {
    let name = regions
        .regions()
        .iter()
        .find(|r| r.slug == "jinzhong")
        .or_else(|| regions.regions().first())
        .map_or("晋中", |r| r.name.as_str());
    escape_html(name)
}

/// The `/start` and `/help` text: what the bot does, its commands, examples with configured
/// region names and known tags (`tags`, most used first).
pub fn help_text(regions: &RegionTable, tags: &[String]) -> String {
    let region = example_region(regions);
    let tag = tags
        .iter()
        .find(|t| regions.find(t).is_none())
        .map_or_else(|| "高质量".to_owned(), |t| escape_html(t));
    let mut out = String::from(
        "<b>Tidings 新闻推送</b>\n订阅地区或标签后，新文章一发布就推送到这里；也可以改成每日或每周摘要。\n\n<b>命令</b>\n",
    );
    let _ = writeln!(
        out,
        "/subscribe 地区或标签… — 订阅，例如 <code>/subscribe {region} {tag}</code>"
    );
    let _ = writeln!(
        out,
        "    用 + 组合：<code>/subscribe {region}+{tag}</code> 只推送{region}的「{tag}」文章；标签与地区同名时写 <code>tag:{region}</code>"
    );
    out.push_str("/unsubscribe 主题… — 取消这些订阅；只发 /unsubscribe 取消全部\n");
    out.push_str("/list — 查看本聊天的订阅、推送方式和时区\n");
    out.push_str(
        "/digest off|daily HH:MM|weekly mon HH:MM — 即时推送，或每日/每周摘要，例如 <code>/digest daily 07:30</code>\n",
    );
    out.push_str("/tz 时区 — 设置时区，例如 <code>/tz Asia/Shanghai</code>\n");
    out.push_str("/help — 显示本说明\n");
    let names: Vec<String> = regions.regions().iter().map(|r| escape_html(&r.name)).collect();
    if !names.is_empty() {
        let _ = write!(out, "\n<b>地区</b>：{}", names.join("、"));
    }
    let shown: Vec<String> = tags.iter().take(HELP_TAGS).map(|t| escape_html(t)).collect();
    if !shown.is_empty() {
        let _ = write!(out, "\n<b>常见标签</b>：{}", shown.join("、"));
    }
    out.push_str("\n\n在群组中只有管理员可以修改订阅；频道里请把机器人设为管理员后在频道内发送命令。");
    out
}

/// The reply to `/subscribe` without arguments.
pub fn subscribe_usage(regions: &RegionTable) -> String {
    let region = example_region(regions);
    format!(
        "请写出要订阅的地区或标签，例如 <code>/subscribe {region} 高质量</code> 或 <code>/subscribe {region}+高质量</code>。发送 /help 查看全部地区。"
    )
}

/// One line explaining a word `/subscribe` did not take.
pub fn refusal_line(word: &str, why: &Understood) -> String {
    match why {
        Understood::Unknown { part, suggestions } if suggestions.is_empty() => format!(
            "未订阅「{}」：「{}」既不是已配置的地区，也不是已有的标签。",
            echo(word),
            echo(part)
        ),
        Understood::Unknown { part, suggestions } => {
            let shown: Vec<String> = suggestions.iter().map(|s| escape_html(s)).collect();
            format!(
                "未订阅「{}」：不认识「{}」，您是不是想订阅：{}？",
                echo(word),
                echo(part),
                shown.join("、")
            )
        }
        Understood::Invalid(reason) => format!("未订阅「{}」：{}", echo(word), escape_html(reason)),
        Understood::Topic(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Vec<String> {
        ["高质量", "5G", "晋中", "我市"].map(String::from).to_vec()
    }

    #[test]
    fn commands_are_parsed_with_and_without_the_bot_name() {
        let c = parse_command("/subscribe 晋中 高质量", Some("tidings_bot")).unwrap();
        assert_eq!(
            (c.command, c.args, c.addressed),
            (Command::Subscribe, "晋中 高质量", false)
        );
        let c = parse_command("/List@Tidings_Bot", Some("tidings_bot")).unwrap();
        assert_eq!((c.command, c.addressed), (Command::List, true));
        assert!(parse_command("/list@other_bot", Some("tidings_bot")).is_none());
        assert_eq!(
            parse_command("/list@other_bot", None).unwrap().command,
            Command::List
        );
        assert_eq!(
            parse_command("/frobnicate x", None).unwrap().command,
            Command::Unknown("frobnicate".into())
        );
        assert!(parse_command("hello /list", None).is_none());
        assert!(parse_command("/", None).is_none());
        assert_eq!(
            words(" 晋中,高质量、 太原；5G "),
            ["晋中", "高质量", "太原", "5G"]
        );
    }

    #[test]
    fn words_become_topics_only_when_known() {
        let r = RegionTable::shanxi();
        let t = tags();
        let topic = |region: Option<&str>, tag: Option<&str>| {
            Understood::Topic(Topic {
                region: region.map(str::to_owned),
                tag: tag.map(str::to_owned),
            })
        };
        assert_eq!(understand("晋中", &r, &t), topic(Some("jinzhong"), None));
        assert_eq!(understand("jinzhong", &r, &t), topic(Some("jinzhong"), None));
        assert_eq!(understand("晋中市", &r, &t), topic(Some("jinzhong"), None));
        assert_eq!(understand("高质量", &r, &t), topic(None, Some("高质量")));
        assert_eq!(understand("5g", &r, &t), topic(None, Some("5G")));
        assert_eq!(understand("tag:晋中", &r, &t), topic(None, Some("晋中")));
        assert_eq!(understand("#晋中", &r, &t), topic(None, Some("晋中")));
        assert_eq!(
            understand("晋中+高质量", &r, &t),
            topic(Some("jinzhong"), Some("高质量"))
        );
        assert_eq!(
            understand("高质量＋晋中", &r, &t),
            topic(Some("jinzhong"), Some("高质量"))
        );
        assert!(matches!(understand("晋中+太原", &r, &t), Understood::Invalid(_)));
        assert!(matches!(understand("高质量+5G", &r, &t), Understood::Invalid(_)));
        assert!(matches!(understand("晋中+", &r, &t), Understood::Invalid(_)));

        let Understood::Unknown { part, suggestions } = understand("晋钟", &r, &t) else {
            panic!()
        };
        assert_eq!(part, "晋钟");
        assert_eq!(suggestions, ["晋城", "晋中", "tag:晋中"]);
        let Understood::Unknown { suggestions, .. } = understand("晋钟+高质量", &r, &t) else {
            panic!()
        };
        assert!(suggestions.contains(&"晋中+高质量".to_owned()), "{suggestions:?}");
        let Understood::Unknown { suggestions, .. } = understand("高质", &r, &t) else {
            panic!()
        };
        assert_eq!(suggestions, ["高质量"]);
        let Understood::Unknown { suggestions, .. } = understand("taiyun", &r, &t) else {
            panic!()
        };
        assert_eq!(suggestions, ["太原"]);
        let Understood::Unknown { suggestions, .. } = understand("jin", &r, &t) else {
            panic!()
        };
        assert_eq!(suggestions, ["晋城", "晋中"]);
        let Understood::Unknown { suggestions, .. } = understand("北京", &r, &t) else {
            panic!()
        };
        assert!(suggestions.is_empty(), "{suggestions:?}");
        assert!(matches!(
            understand("不存在", &r, &[]),
            Understood::Unknown { .. }
        ));
    }

    #[test]
    fn digest_arguments_are_validated() {
        assert_eq!(parse_digest("off"), Ok(DigestRequest::Off));
        assert_eq!(
            parse_digest("daily 7:30"),
            Ok(DigestRequest::Daily { at: "07:30".into() })
        );
        assert_eq!(
            parse_digest("weekly 周一 07:30"),
            Ok(DigestRequest::Weekly {
                weekday: "mon",
                at: "07:30".into()
            })
        );
        assert_eq!(
            parse_digest("weekly 21:05 Sunday"),
            Ok(DigestRequest::Weekly {
                weekday: "sun",
                at: "21:05".into()
            })
        );
        for bad in [
            "",
            "daily",
            "daily 24:00",
            "daily 7:5",
            "daily 07:30 x",
            "weekly xyz 07:30",
            "weekly mon",
            "hourly",
            "off now",
        ] {
            assert!(parse_digest(bad).is_err(), "{bad}");
        }
        let e = parse_digest("weekly <b> 07:30").unwrap_err();
        assert!(e.contains("&lt;b&gt;") && e.contains("无法识别星期"), "{e}");
        assert_eq!(parse_time("23:59").as_deref(), Some("23:59"));
        assert_eq!(parse_time("08：00").as_deref(), Some("08:00"));
        assert_eq!(parse_time("8"), None);
        assert_eq!(parse_weekday("星期天"), Some("sun"));
        assert_eq!(parse_weekday("礼拜三"), Some("wed"));
        assert_eq!(parse_weekday("TUE"), Some("tue"));
        assert_eq!(parse_weekday("周八"), None);
    }

    #[test]
    fn time_zones_are_checked_and_suggested() {
        assert_eq!(parse_tz("Asia/Tokyo").unwrap(), chrono_tz::Asia::Tokyo);
        assert_eq!(parse_tz("asia/tokyo").unwrap(), chrono_tz::Asia::Tokyo);
        let e = parse_tz("Asia/Tokio").unwrap_err();
        assert!(e.contains("Asia/Tokyo"), "{e}");
        let e = parse_tz("Tokyo").unwrap_err();
        assert!(e.contains("Asia/Tokyo"), "{e}");
        assert!(parse_tz("").is_err());
        assert!(parse_tz("Mars/Olympus").is_err());
    }

    #[test]
    fn help_names_commands_and_configured_regions() {
        let help = help_text(&RegionTable::shanxi(), &tags());
        for needle in [
            "/subscribe",
            "/unsubscribe",
            "/list",
            "/digest",
            "/tz",
            "晋中",
            "太原",
            "高质量",
        ] {
            assert!(help.contains(needle), "{needle}");
        }
        assert!(help.encode_utf16().count() < 4096);
    }
}
