//! Email subscriptions: what a web form or the shell asks for, checked once, then either
//! mailed to the address for confirmation (double opt-in) or, for the operator's
//! `--confirmed`, saved at once.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::App;
use crate::notify::email::{AddressError, confirmation_mail, new_confirmation_token, normalize_address};
use crate::notify::telegram::commands::{describe_mode, parse_time, parse_weekday};
use crate::notify::topics::{parse_topic, show_topic};
use crate::store::{NewConfirmation, RecipientPrefs, RecipientSpec, StoreError, SubscriptionRequest, Topic};

/// How long a confirmation link works.
pub const CONFIRM_VALIDITY: chrono::Duration = chrono::Duration::hours(48);

/// A subscription as typed into the form or given on the command line, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SubscribeInput {
    /// The address.
    pub email: String,
    /// Regions (slug, name or alias).
    pub regions: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Topics such as `晋中+高质量`.
    pub topics: Vec<String>,
    /// `instant`, `daily` or `weekly` (default instant).
    pub mode: Option<String>,
    /// Digest time `HH:MM`.
    pub at: Option<String>,
    /// Digest weekday.
    pub weekday: Option<String>,
    /// IANA time zone (default Asia/Shanghai).
    pub tz: Option<String>,
}

/// Why a subscription request was refused; the messages are for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The address is not usable.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// Another field is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Too many confirmation mails to this address lately.
    #[error("这个邮箱地址在过去一小时内已申请过多次订阅，请查收已发出的确认邮件，或一小时后再试。")]
    TooMany,
    /// Email is not configured on this server.
    #[error("本站未开启邮件推送（需要设置 TIDINGS_SMTP_URL 与 TIDINGS_SECRET_KEY）。")]
    MailOff,
    /// The confirmation mail could not be handed to the mail server.
    #[error("确认邮件暂时无法发送，请稍后再试。（{0}）")]
    Send(String),
    /// The store failed.
    #[error("数据库暂时不可用，请稍后再试。")]
    Store(#[from] StoreError),
}

impl App {
    /// Checks a subscription request: the address, at least one known topic, a valid mode,
    /// time, weekday and time zone. Regions may be given by slug, name or alias.
    pub fn check_subscription(&self, input: &SubscribeInput) -> Result<SubscriptionRequest, SubscribeError> {
        let address = normalize_address(&input.email)?;
        let invalid = |m: String| SubscribeError::Invalid(m);
        for field in [&input.mode, &input.at, &input.weekday, &input.tz]
            .into_iter()
            .flatten()
            .chain(input.regions.iter().chain(&input.tags).chain(&input.topics))
        {
            if field.chars().any(char::is_control) {
                return Err(invalid("表单内容含有换行或控制字符，已拒绝。".into()));
            }
        }
        let regions = &self.config.regions;
        let mut topics = Vec::new();
        for r in input.regions.iter().filter(|r| !r.trim().is_empty()) {
            let region = regions
                .find(r.trim())
                .ok_or_else(|| invalid(format!("未知地区「{r}」。")))?;
            topics.push(Topic {
                region: Some(region.slug.clone()),
                tag: None,
            });
        }
        for t in input.tags.iter().map(|t| t.trim().trim_start_matches('#')) {
            if !t.is_empty() {
                topics.push(Topic {
                    region: None,
                    tag: Some(t.to_owned()),
                });
            }
        }
        for t in input.topics.iter().filter(|t| !t.trim().is_empty()) {
            topics.push(parse_topic(t, regions).map_err(|e| invalid(format!("主题有误：{e}")))?);
        }
        if topics.is_empty() {
            return Err(invalid("请至少选择一个地区或标签。".into()));
        }
        if topics.len() > 100 {
            return Err(invalid("一次最多订阅 100 个主题。".into()));
        }
        topics.sort();
        topics.dedup();
        Ok(SubscriptionRequest {
            address,
            topics,
            filters: Default::default(),
            prefs: check_prefs(input)?,
        })
    }

    /// Double opt-in: stores a confirmation (its token hashed) and mails the link to the
    /// address. Nothing is subscribed until the link is followed. The answer is the same
    /// whether or not the address is already subscribed.
    pub async fn request_subscription(
        &self,
        request: SubscriptionRequest,
        now: DateTime<Utc>,
    ) -> Result<(), SubscribeError> {
        let mail = self.mail.clone().ok_or(SubscribeError::MailOff)?;
        let per_hour = i64::from(self.config.email.per_address_per_hour);
        let recent = self
            .store
            .confirmations_since(&request.address, now - chrono::Duration::hours(1))
            .await?;
        if recent >= per_hour {
            return Err(SubscribeError::TooMany);
        }
        let (token, token_hash) = new_confirmation_token();
        let shown: Vec<String> = request
            .topics
            .iter()
            .map(|t| show_topic(t, &self.config.regions))
            .collect();
        let p = &request.prefs;
        let mode = describe_mode(
            p.mode.as_deref().unwrap_or("instant"),
            p.digest_at.as_deref(),
            p.digest_weekday.as_deref(),
        );
        let message = confirmation_mail(&mail.context, &request.address, &token, &shown, &mode)
            .map_err(|e| SubscribeError::Send(e.to_string()))?;
        self.store
            .create_confirmation(&NewConfirmation {
                token_hash,
                request,
                created_at: now,
                expires_at: now + CONFIRM_VALIDITY,
            })
            .await?;
        mail.mailer
            .send(&message)
            .await
            .map_err(|e| SubscribeError::Send(e.to_string()))
    }

    /// The operator's `--confirmed`: subscribes the address at once (it agreed elsewhere).
    pub async fn subscribe_confirmed(&self, request: &SubscriptionRequest) -> Result<i64, SubscribeError> {
        let spec = RecipientSpec {
            kind: "email".into(),
            address: request.address.clone(),
            thread_id: 0,
            origin: "cli".into(),
            topics: request.topics.clone(),
            filters: Some(request.filters.clone()),
        };
        let id = self.store.save_recipient(&spec, Utc::now()).await?;
        self.store
            .set_recipient_prefs("email", &request.address, 0, &request.prefs)
            .await?;
        Ok(id)
    }
}

/// Checks the delivery preferences of a request: mode (default instant), digest time
/// (default 08:00 for digests), weekday (default Monday for weekly digests) and time zone
/// (default Asia/Shanghai).
pub fn check_prefs(input: &SubscribeInput) -> Result<RecipientPrefs, SubscribeError> {
    let mode = match input.mode.as_deref().map(str::trim).unwrap_or("") {
        "" | "instant" => "instant",
        "daily" => "daily",
        "weekly" => "weekly",
        other => {
            return Err(SubscribeError::Invalid(format!(
                "未知推送方式「{other}」：请选即时、每日或每周。"
            )));
        }
    };
    let at =
        match input.at.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            Some(a) => Some(parse_time(a).ok_or_else(|| {
                SubscribeError::Invalid(format!("时间「{a}」无效：请写 HH:MM，例如 07:30。"))
            })?),
            None if mode != "instant" => Some("08:00".to_owned()),
            None => None,
        };
    let weekday = match input.weekday.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => Some(
            parse_weekday(w)
                .ok_or_else(|| {
                    SubscribeError::Invalid(format!("星期「{w}」无效：请写 mon…sun 或 周一…周日。"))
                })?
                .to_owned(),
        ),
        None if mode == "weekly" => Some("mon".to_owned()),
        None => None,
    };
    let tz = match input.tz.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<Tz>()
            .map_err(|_| {
                SubscribeError::Invalid(format!("时区「{t}」无效：请写 IANA 时区名，例如 Asia/Shanghai。"))
            })?
            .name()
            .to_owned(),
        None => "Asia/Shanghai".to_owned(),
    };
    Ok(RecipientPrefs {
        mode: Some(mode.to_owned()),
        digest_at: at,
        digest_weekday: weekday,
        tz: Some(tz),
    })
}
