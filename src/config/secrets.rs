//! Secrets from the environment (`TIDINGS_*`) and the features they switch on.

use std::fmt;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use super::located::{ConfigError, Doc};

/// `[telegram]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelegram {
    enabled: Option<bool>,
    api_url: Option<Spanned<String>>,
    /// Show link previews under messages.
    pub(super) link_preview: Option<bool>,
    /// Minimum gap between two messages to one chat.
    pub(super) per_chat: Option<Spanned<String>>,
    /// Messages per minute to one group or channel.
    pub(super) group_per_minute: Option<u32>,
    /// Messages per second overall.
    pub(super) global_per_second: Option<u32>,
    /// How long a delivery claim lasts before another worker may take it over.
    pub(super) lease: Option<Spanned<String>>,
    /// Chats and channels that receive every new item of their topics.
    #[serde(default)]
    pub(super) channels: Vec<RawChannel>,
    /// The operator's chat: receives alerts (selector drift, flood guard) once each.
    pub(super) operator_chat: Option<i64>,
}

/// `[[telegram.channels]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChannel {
    /// Numeric chat id (`-100…` for channels and supergroups).
    pub(super) chat_id: Spanned<toml::Value>,
    /// Forum topic (`message_thread_id`).
    pub(super) thread: Option<i64>,
    /// Topics: `晋中`, `高质量`, `晋中+高质量`, `tag:晋中`.
    pub(super) topics: Spanned<Vec<String>>,
    /// Deliver only items whose title or summary matches this regex.
    pub(super) include: Option<Spanned<String>>,
    /// Leave out items whose title or summary matches this regex.
    pub(super) exclude: Option<Spanned<String>>,
}

/// `[email]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmail {
    enabled: Option<bool>,
    from: Option<Spanned<String>>,
    /// SMTP connections kept open, and mails sent at once.
    pub(super) connections: Option<u32>,
    /// Subscription requests accepted per client IP per hour.
    pub(super) per_ip_per_hour: Option<u32>,
    /// Confirmation mails sent to one address per hour.
    pub(super) per_address_per_hour: Option<u32>,
}

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Whether an optional feature is on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// `telegram` or `email`.
    pub name: &'static str,
    /// On or off.
    pub on: bool,
    /// Why (which variable is missing, or what turned it off).
    pub reason: String,
}

/// The secrets and the Telegram/email settings they belong to.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Bot token, when Telegram is on.
    pub telegram_token: Option<Secret>,
    /// Bot API base URL.
    pub telegram_api_url: Url,
    /// SMTP URL, when email is on.
    pub smtp_url: Option<Secret>,
    /// Key that signs subscription links, when email is on.
    pub secret_key: Option<Secret>,
    /// The From address.
    pub email_from: Option<String>,
    /// Feature report for `config check`.
    pub features: Vec<Feature>,
}

/// Reads and validates the secrets; a secret that is set but malformed is an error.
pub(super) fn read(
    tg: &RawTelegram,
    email: &RawEmail,
    env: &dyn Fn(&str) -> Option<String>,
    doc: &mut Doc<'_>,
) -> Option<Secrets> {
    let mut env_errors: Vec<ConfigError> = Vec::new();
    let mut env_error = |key: &str, message: String| {
        env_errors.push(ConfigError {
            file: None,
            line: 0,
            key: key.into(),
            message,
        })
    };
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());

    let api_url = match &tg.api_url {
        None => Url::parse("https://api.telegram.org").ok(),
        Some(u) => match Url::parse(u.get_ref()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            _ => {
                doc.error(
                    Some(u.span()),
                    "telegram.api_url",
                    format!("`{}` is not an http(s) URL", u.get_ref()),
                );
                None
            }
        },
    };
    let token = set("TIDINGS_TELEGRAM_TOKEN");
    if token.as_deref().is_some_and(|t| !valid_bot_token(t)) {
        env_error(
            "TIDINGS_TELEGRAM_TOKEN",
            "is not a bot token like 123456789:AA… (digits, a colon, then 30+ letters, digits, - or _); copy it again from @BotFather".into(),
        );
    }
    let smtp = set("TIDINGS_SMTP_URL");
    let key = set("TIDINGS_SECRET_KEY");
    if let Some(s) = &smtp {
        if let Err(m) = check_smtp_url(s) {
            env_error("TIDINGS_SMTP_URL", m);
        }
        if key.is_none() {
            env_error(
                "TIDINGS_SECRET_KEY",
                "must be set when TIDINGS_SMTP_URL is (it signs unsubscribe links); generate one with `openssl rand -hex 32`".into(),
            );
        }
    }
    if let Some(k) = key.as_ref().filter(|k| k.len() < 32) {
        let msg = format!(
            "is {} characters long; use at least 32 random characters",
            k.len()
        );
        env_error("TIDINGS_SECRET_KEY", msg);
    }
    let from = match &email.from {
        Some(f) if !f.get_ref().contains('@') || f.get_ref().contains(['\r', '\n']) => {
            doc.error(
                Some(f.span()),
                "email.from",
                format!("`{}` is not an email address", f.get_ref()),
            );
            None
        }
        other => Some(other.as_ref().map(|f| f.get_ref().clone())),
    };
    let tg_on = token.is_some() && tg.enabled != Some(false);
    let mail_on = smtp.is_some() && key.is_some() && email.enabled != Some(false);
    let features = vec![
        Feature {
            name: "telegram",
            on: tg_on,
            reason: match (&token, tg.enabled) {
                (None, _) => "off: TIDINGS_TELEGRAM_TOKEN is not set".into(),
                (Some(_), Some(false)) => "off: [telegram] enabled = false".into(),
                (Some(_), _) => "on".into(),
            },
        },
        Feature {
            name: "email",
            on: mail_on,
            reason: match (&smtp, &key, email.enabled) {
                (None, _, _) => "off: TIDINGS_SMTP_URL is not set".into(),
                (Some(_), None, _) => "off: TIDINGS_SECRET_KEY is not set".into(),
                (_, _, Some(false)) => "off: [email] enabled = false".into(),
                _ => "on".into(),
            },
        },
    ];
    let failed = !env_errors.is_empty();
    for e in env_errors {
        doc.push(e);
    }
    if failed {
        return None;
    }
    Some(Secrets {
        telegram_token: token.filter(|_| tg_on).map(Secret),
        telegram_api_url: api_url?,
        smtp_url: smtp.filter(|_| mail_on).map(Secret),
        secret_key: key.filter(|_| mail_on).map(Secret),
        email_from: from?,
        features,
    })
}

fn valid_bot_token(t: &str) -> bool {
    let Some((id, rest)) = t.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && rest.len() >= 30
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_smtp_url(s: &str) -> Result<(), String> {
    let url = Url::parse(s).map_err(|e| format!("is not a URL like smtps://user:pass@host:465 ({e})"))?;
    match url.scheme() {
        "smtps" => Ok(()),
        "smtp" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                // Non-special schemes keep IP literals as opaque "domains".
                Some(url::Host::Domain(d)) => {
                    d == "localhost" || d.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
                }
                None => false,
            };
            let starttls = url.query_pairs().any(|(k, v)| k == "tls" && v == "required");
            if loopback || starttls {
                Ok(())
            } else {
                Err("uses plain smtp:// to a non-loopback host; use smtps:// or smtp://…?tls=required".into())
            }
        }
        other => Err(format!("has scheme `{other}`; use smtps:// or smtp://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_tokens_and_smtp_urls_are_checked() {
        assert!(valid_bot_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"));
        assert!(!valid_bot_token("123456789"));
        assert!(!valid_bot_token("abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"));
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtps://u:p@mail.example.com:465").is_ok());
        assert!(check_smtp_url("smtp://mail.example.com:25").is_err());
        assert!(check_smtp_url("http://x").is_err());
    }
}
