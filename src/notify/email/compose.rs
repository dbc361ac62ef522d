//! Composing mail: one item, a digest, and the double opt-in confirmation.
//!
//! Item and digest mail carry what mailbox providers expect from a subscription: a
//! text + HTML `multipart/alternative` body, a stable `Message-ID` (the same delivery composed
//! twice gets the same id, so a retried send is recognisable as a duplicate),
//! `List-Unsubscribe` with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058),
//! and a footer with the manage and unsubscribe links. The confirmation goes to an address
//! that has not subscribed yet, so it has no unsubscribe headers. lettre encodes non-ASCII
//! subjects (RFC 2047) and bodies (base64 or quoted-printable) itself.

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use minijinja::value::Serde;
use serde::Serialize;
use url::Url;

use super::group::group_digest;
use super::links::{Links, hash_token};
use super::render::{Bodies, render};
use super::view::{ItemView, clean_line, recipient_tz, subject_line};
use crate::config::Secret;
use crate::domain::{Item, RegionTable};
use crate::notify::topics::show_topic;
use crate::store::Recipient;

/// The name shown in the From header when the configured address has none, and in subjects.
const SITE: &str = "Tidings";
/// Longest summary in an item mail, in characters.
const ITEM_SUMMARY_CHARS: usize = 300;
/// Longest summary per item in a digest, in characters.
const DIGEST_SUMMARY_CHARS: usize = 150;

/// Why a mail could not be composed. Operator-facing: these end up in logs.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The configured sender is not a mail address.
    #[error(
        "email.from `{from}` is not a mail address ({source}); write it like `Tidings <news@example.org>`"
    )]
    From {
        /// The configured value.
        from: String,
        /// Why lettre refused it.
        #[source]
        source: lettre::address::AddressError,
    },
    /// A stored recipient address no longer parses.
    #[error(
        "recipient address `{address}` is not a mail address ({source}); fix or remove that subscription"
    )]
    Recipient {
        /// The stored address.
        address: String,
        /// Why lettre refused it.
        #[source]
        source: lettre::address::AddressError,
    },
    /// A template failed to render: a bug in the embedded templates.
    #[error("rendering mail template {name} failed ({source}); this is a bug in Tidings, please report it")]
    Template {
        /// The template's name.
        name: String,
        /// minijinja's error.
        #[source]
        source: minijinja::Error,
    },
    /// lettre refused the assembled message.
    #[error("assembling the mail failed: {0}")]
    Build(#[from] lettre::error::Error),
    /// A digest was asked for with no items; empty digests are not sent.
    #[error("a digest needs at least one item; skip empty digests instead of sending them")]
    EmptyDigest,
}

/// What every mail needs: the sender, the link signer, the region names and the host for
/// `Message-ID`s. Built once at start.
#[derive(Debug, Clone)]
pub struct MailContext {
    /// The From mailbox, with a display name.
    pub from: Mailbox,
    /// Signs and builds the links put in mail.
    pub links: Links,
    /// Region display names for headers and topics.
    pub regions: RegionTable,
    /// The right-hand side of `Message-ID`s: the From address's domain (in ASCII), else the
    /// public URL's host.
    pub host: String,
}

impl MailContext {
    /// A context sending as `from` (`news@example.org` or `Name <news@example.org>`; a bare
    /// address is shown as `Tidings <news@example.org>`), with links under `public_url`
    /// signed with `key`.
    pub fn new(
        from: &str,
        public_url: &Url,
        key: &Secret,
        regions: RegionTable,
    ) -> Result<Self, ComposeError> {
        Self::with_links(from, public_url, Links::new(public_url, key), regions)
    }

    /// [`MailContext::new`] with the link signer already built.
    pub(super) fn with_links(
        from: &str,
        public_url: &Url,
        links: Links,
        regions: RegionTable,
    ) -> Result<Self, ComposeError> {
        let mut from: Mailbox = from.trim().parse().map_err(|source| ComposeError::From {
            from: from.to_owned(),
            source,
        })?;
        if from.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            from.name = Some(SITE.to_owned());
        }
        let host = url::Host::parse(from.email.domain())
            .ok()
            .filter(|h| matches!(h, url::Host::Domain(_)))
            .map(|h| h.to_string())
            .or_else(|| public_url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "tidings.invalid".to_owned());
        Ok(MailContext {
            from,
            links,
            regions,
            host,
        })
    }
}

/// The footer's links and the recipient's topics, as the templates see them.
#[derive(Serialize)]
struct Footer {
    topics: Vec<String>,
    manage_url: String,
    unsubscribe_url: String,
}

impl Footer {
    fn new(ctx: &MailContext, recipient: &Recipient) -> Footer {
        Footer {
            topics: recipient
                .topics
                .iter()
                .map(|t| show_topic(t, &ctx.regions))
                .collect(),
            manage_url: ctx.links.manage_url(recipient.id),
            unsubscribe_url: ctx.links.unsubscribe_url(recipient.id),
        }
    }
}

/// The instant mail announcing one item to one recipient.
///
/// Subject `【晋中】title` (the region, else the first tag); the body links the title to the
/// article and shows the publish time in the recipient's time zone, region, tags and the
/// summary. `Message-ID` is `<d{delivery_id}.{item id prefix}@host>`.
pub fn item_mail(
    ctx: &MailContext,
    recipient: &Recipient,
    item: &Item,
    delivery_id: i64,
) -> Result<Message, ComposeError> {
    let view = ItemView::new(item, recipient_tz(recipient), &ctx.regions, ITEM_SUMMARY_CHARS);
    let subject = view.subject();
    let footer = Footer::new(ctx, recipient);
    let unsubscribe = footer.unsubscribe_url.clone();
    let bodies = render(
        "item",
        minijinja::context! { item => Serde(view), footer => Serde(footer) },
    )?;
    let message_id = format!("<d{delivery_id}.{}@{}>", id_part(&item.id, 12), ctx.host);
    assemble(
        ctx,
        &recipient.address,
        subject,
        message_id,
        Some(&unsubscribe),
        bodies,
    )
}

/// A digest of `items` for a daily or weekly recipient, as scheduled at `scheduled`.
///
/// Subject `Tidings 每日摘要 · 2026-11-26 · 12 条新闻` (`每周摘要` for weekly recipients; the
/// date in the recipient's time zone); the body groups items by region, then tag (see
/// [`group_digest`]). `Message-ID` is
/// `<digest.{recipient id}.{scheduled unix time}@host>`. No items is
/// [`ComposeError::EmptyDigest`].
pub fn digest_mail(
    ctx: &MailContext,
    recipient: &Recipient,
    items: &[Item],
    scheduled: DateTime<Utc>,
) -> Result<Message, ComposeError> {
    #[derive(Serialize)]
    struct Section {
        tag: String,
        items: Vec<ItemView>,
    }
    #[derive(Serialize)]
    struct Group {
        region: String,
        sections: Vec<Section>,
    }

    if items.is_empty() {
        return Err(ComposeError::EmptyDigest);
    }
    let tz = recipient_tz(recipient);
    let groups: Vec<Group> = group_digest(items, &recipient.topics, &ctx.regions)
        .into_iter()
        .map(|g| Group {
            region: g.region,
            sections: g
                .sections
                .into_iter()
                .map(|s| Section {
                    tag: s.tag,
                    items: s
                        .items
                        .into_iter()
                        .map(|i| ItemView::new(i, tz, &ctx.regions, DIGEST_SUMMARY_CHARS))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let count: usize = groups
        .iter()
        .flat_map(|g| &g.sections)
        .map(|s| s.items.len())
        .sum();
    let kind = if recipient.mode == "weekly" {
        "每周摘要"
    } else {
        "每日摘要"
    };
    let date = scheduled.with_timezone(&tz).format("%Y-%m-%d");
    let subject = subject_line(&format!("{SITE} {kind} · {date} · {count} 条新闻"));
    let footer = Footer::new(ctx, recipient);
    let unsubscribe = footer.unsubscribe_url.clone();
    let bodies = render(
        "digest",
        minijinja::context! { title => &subject, groups => Serde(groups), footer => Serde(footer) },
    )?;
    let message_id = format!("<digest.{}.{}@{}>", recipient.id, scheduled.timestamp(), ctx.host);
    assemble(
        ctx,
        &recipient.address,
        subject,
        message_id,
        Some(&unsubscribe),
        bodies,
    )
}

/// The double opt-in mail to `address`: the link for `token` (valid 48 hours), what will be
/// subscribed (`topics_shown`, `mode_shown` as the user should read them), and "ignore this
/// if it was not you". `Message-ID` is `<confirm.{token hash prefix}@host>`; no unsubscribe
/// headers (nothing is subscribed yet).
pub fn confirmation_mail(
    ctx: &MailContext,
    address: &str,
    token: &str,
    topics_shown: &[String],
    mode_shown: &str,
) -> Result<Message, ComposeError> {
    let topics: Vec<String> = topics_shown.iter().map(|t| clean_line(t)).collect();
    let bodies = render(
        "confirm",
        minijinja::context! {
            address => address,
            confirm_url => ctx.links.confirm_url(token),
            topics => topics,
            mode => clean_line(mode_shown),
        },
    )?;
    let message_id = format!("<confirm.{}@{}>", id_part(&hash_token(token), 16), ctx.host);
    assemble(
        ctx,
        address,
        format!("请确认订阅 {SITE} 新闻推送"),
        message_id,
        None,
        bodies,
    )
}

/// The message with its headers; `unsubscribe` adds the RFC 8058 one-click headers.
fn assemble(
    ctx: &MailContext,
    to: &str,
    subject: String,
    message_id: String,
    unsubscribe: Option<&str>,
    bodies: Bodies,
) -> Result<Message, ComposeError> {
    let address = to.trim().parse().map_err(|source| ComposeError::Recipient {
        address: to.to_owned(),
        source,
    })?;
    let mut builder = Message::builder()
        .from(ctx.from.clone())
        .to(Mailbox::new(None, address))
        .subject(subject)
        .date_now()
        .message_id(Some(message_id));
    if let Some(url) = unsubscribe {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(bodies.text, bodies.html))?)
}

/// At most `n` ASCII alphanumerics of an id, for `Message-ID`s.
fn id_part(id: &str, n: usize) -> String {
    id.chars().filter(char::is_ascii_alphanumeric).take(n).collect()
}
