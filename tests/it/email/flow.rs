//! Double opt-in through the HTTP pages, the mail as received, one-click unsubscribe,
//! the manage page, abuse of `/subscribe`, and the form in headless Chromium.

use std::time::Duration;

use reqwest::Method;

use super::{MailEnv, commit, item, link};

const READER: &str = "reader@example.org";

/// Form → confirmation mail → nothing before confirming → confirm (twice: harmless) →
/// exactly one mail for the one new item that is in 晋中 and tagged 晋中.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_then_confirmation_then_exactly_one_instant_mail() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    let (status, page) = env
        .subscribe(&[("email", READER), ("topic", "晋中+tag:晋中"), ("mode", "instant")])
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("请查收确认邮件"), "{page}");
    let confirm = env.sink.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(confirm.rcpt_tos, [READER]);
    assert!(
        confirm.subject.as_deref().unwrap_or("").contains("确认"),
        "{confirm:?}"
    );
    assert!(
        env.subscribers().await.is_empty(),
        "nothing subscribed before confirming"
    );

    // A matching item before confirmation is not mailed.
    commit(&env.app, vec![item(1, ("jinzhong", "晋中"), &["晋中", "高质量"])]).await;
    let outbox = env.app.outbox().unwrap();
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0);

    let url = link(confirm.text.as_deref().expect("text part"), "/confirm/");
    assert!(
        url.starts_with(&env.base),
        "absolute link under the public URL: {url}"
    );
    let (status, page) = env.request(Method::GET, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("订阅已确认"), "{page}");
    let (status, again) = env.request(Method::GET, &url).await;
    assert_eq!(status, 200, "confirming twice is harmless: {again}");
    let subs = env.subscribers().await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].state, "active");

    commit(
        &env.app,
        vec![
            item(2, ("jinzhong", "晋中"), &["晋中", "我市"]),
            item(3, ("jinzhong", "晋中"), &["高质量"]),
            item(4, ("taiyuan", "太原"), &["晋中"]),
        ],
    )
    .await;
    let report = outbox.deliver_due().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let all = env.sink.wait_for(2, Duration::from_secs(10)).await;
    let mail = &all[1];
    assert_eq!(mail.rcpt_tos, [READER]);
    assert!(
        mail.subject.as_deref().unwrap_or("").contains("晋中要闻第2条"),
        "{:?}",
        mail.subject
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 2, "exactly one item mail");
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0, "nothing left");
}

/// The received mail: RFC 2047 subject that decodes to the Chinese title, both parts,
/// absolute links, matching `List-Unsubscribe` and `-Post`; GET on the unsubscribe URL
/// changes nothing, POST stops further mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_as_received_and_one_click_unsubscribe() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    let args = tidings::cli::SubscribeArgs {
        who: tidings::cli::Who {
            telegram: None,
            email: Some(READER.into()),
        },
        thread: None,
        region: vec!["晋中".into()],
        tag: vec![],
        topic: vec![],
        include: None,
        exclude: None,
        mode: None,
        at: None,
        weekday: None,
        tz: None,
        confirmed: true,
    };
    env.app.subscribe_cli(&args).await.unwrap();
    commit(&env.app, vec![item(7, ("jinzhong", "晋中"), &["晋中"])]).await;
    let outbox = env.app.outbox().unwrap();
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 1);
    let mail = env.sink.wait_for(1, Duration::from_secs(10)).await.remove(0);

    let subject = mail.subject.clone().unwrap_or_default();
    assert!(subject.contains("晋中要闻第7条：高质量发展<b>"), "{subject}");
    let raw = mail.subject_raw.clone().unwrap_or_default();
    assert!(raw.is_ascii() && raw.contains("=?"), "RFC 2047 encoded: {raw}");
    assert!(mail.all_headers_ascii, "every header line is ASCII");
    assert!(
        mail.content_type.starts_with("multipart/alternative"),
        "{}",
        mail.content_type
    );
    let text = mail.text.clone().expect("text/plain part");
    let html = mail.html.clone().expect("text/html part");
    assert!(text.contains("https://news.example.cn/jinzhong/7.html"), "{text}");
    assert!(
        html.contains("高质量发展&lt;b&gt;"),
        "title escaped in HTML: {html}"
    );
    for href in html.split("href=\"").skip(1) {
        assert!(href.starts_with("http"), "relative link in HTML: {href:.80}");
    }
    assert!(mail.from.as_deref().unwrap_or("").contains("news@example.org"));
    assert!(mail.date.is_some() && mail.message_id.is_some());
    let header = mail.list_unsubscribe.clone().expect("List-Unsubscribe");
    let url = header
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    assert!(url.starts_with(&format!("{}/unsubscribe/", env.base)), "{url}");
    assert_eq!(
        mail.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        text.contains(&url) && html.contains(&url),
        "the same URL in the body"
    );
    assert!(text.contains("/manage/"), "a link to change topics and mode");

    let (status, page) = env.request(Method::GET, &url).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("确认退订") && page.contains("method=\"post\""),
        "{page}"
    );
    assert_eq!(env.subscribers().await.len(), 1, "GET changes nothing");

    let (status, page) = env.request(Method::POST, &url).await;
    assert_eq!(status, 200, "no redirect: {page}");
    assert!(page.contains("已退订"), "{page}");
    assert!(env.subscribers().await.is_empty(), "POST unsubscribes");
    let (status, _) = env.request(Method::POST, &url).await;
    assert_eq!(status, 200, "twice is harmless");

    commit(&env.app, vec![item(8, ("jinzhong", "晋中"), &["晋中"])]).await;
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0);
    assert_eq!(env.sink.count(), 1, "no mail after unsubscribing");

    // A forged token is refused.
    let forged = format!("{}x", &url[..url.len() - 1]);
    let (status, _) = env.request(Method::GET, &forged).await;
    assert_eq!(status, 404);
}

/// The manage page (linked from the mail) shows the subscription and changes its topics
/// and mode without a new confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manage_page_changes_topics_and_mode() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    let (status, _) = env.subscribe(&[("email", READER), ("region", "jinzhong")]).await;
    assert_eq!(status, 200);
    let confirm = env.sink.wait_for(1, Duration::from_secs(10)).await.remove(0);
    env.request(Method::GET, &link(confirm.text.as_deref().unwrap(), "/confirm/"))
        .await;
    commit(&env.app, vec![item(1, ("jinzhong", "晋中"), &[])]).await;
    env.app.outbox().unwrap().deliver_due().await.unwrap();
    let mail = env.sink.wait_for(2, Duration::from_secs(10)).await.remove(1);
    let manage = link(mail.text.as_deref().unwrap(), "/manage/");

    let (status, page) = env.request(Method::GET, &manage).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("value=\"jinzhong\" checked"),
        "current topics shown: {page}"
    );
    let body = "region=taiyuan&mode=daily&at=07%3A30&tz=Asia%2FShanghai";
    let r = env
        .http
        .post(&manage)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let subs = env.subscribers().await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].mode, "daily");
    assert_eq!(subs[0].digest_at.as_deref(), Some("07:30"));
    let regions: Vec<_> = subs[0].topics.iter().map(|t| t.region.clone()).collect();
    assert_eq!(regions, [Some("taiyuan".to_owned())]);
}

/// Header injection, bad addresses, per-IP and per-address limits; the answer does not
/// tell whether an address is already subscribed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_abuse_is_refused_without_revealing_subscribers() {
    let Some(env) = MailEnv::start("per_ip_per_hour = 9\nper_address_per_hour = 2\n").await else {
        return;
    };
    for email in [
        "a@example.org\r\nBcc: victim@example.org",
        "a@example.org\0",
        "not-an-address",
        "",
    ] {
        let (status, page) = env.subscribe(&[("email", email), ("region", "jinzhong")]).await;
        assert_eq!(status, 400, "{email:?}: {page}");
    }
    let (status, page) = env
        .subscribe(&[
            ("email", "b@example.org"),
            ("region", "jinzhong"),
            ("tz", "Asia/Shanghai\r\nX: y"),
        ])
        .await;
    assert_eq!(status, 400, "CR/LF in any field: {page}");
    assert_eq!(env.sink.count(), 0, "nothing mailed for refused requests");

    // An already subscribed address gets the same answer as a new one.
    env.app
        .subscribe_confirmed(
            &env.app
                .check_subscription(&tidings::app::SubscribeInput {
                    email: "old@example.org".into(),
                    regions: vec!["jinzhong".into()],
                    ..Default::default()
                })
                .unwrap(),
        )
        .await
        .unwrap();
    let (s1, old) = env
        .subscribe(&[("email", "old@example.org"), ("region", "jinzhong")])
        .await;
    let (s2, new) = env
        .subscribe(&[("email", "new@example.org"), ("region", "jinzhong")])
        .await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(
        old.replace("old@", "new@"),
        new,
        "same page for subscribed and new addresses"
    );

    // Per address: the third request within the hour is refused (the IP has budget left).
    let (s3, _) = env
        .subscribe(&[("email", "new@example.org"), ("region", "jinzhong")])
        .await;
    assert_eq!(s3, 200);
    let (s4, page) = env
        .subscribe(&[("email", "new@example.org"), ("region", "jinzhong")])
        .await;
    assert_eq!(s4, 429, "{page}");
    // Per IP: 9 requests per hour from this client, all counted (the refused ones too).
    let (s5, page) = env
        .subscribe(&[("email", "c@example.org"), ("region", "jinzhong")])
        .await;
    assert_eq!(s5, 429, "{page}");
    assert!(page.contains("频繁"), "{page}");
    env.sink.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 3, "old, new twice, and no more");
}

/// Behind a trusted proxy the client is the `X-Forwarded-For` address; from anyone else the
/// header is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_ip_comes_from_trusted_proxies_only() {
    async fn post(env: &MailEnv, ip: &str, email: &str) -> u16 {
        env.http
            .post(format!("{}/subscribe", env.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", ip)
            .body(format!("email={email}&region=jinzhong"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
    let Some(proxied) =
        MailEnv::start_with("trusted_proxies = [\"127.0.0.1\"]\n", "per_ip_per_hour = 1\n").await
    else {
        return;
    };
    assert_eq!(post(&proxied, "198.51.100.1", "x1@example.org").await, 200);
    assert_eq!(
        post(&proxied, "198.51.100.2", "x2@example.org").await,
        200,
        "another client"
    );
    assert_eq!(
        post(&proxied, "198.51.100.1", "x3@example.org").await,
        429,
        "same client again"
    );

    let Some(direct) = MailEnv::start("per_ip_per_hour = 1\n").await else {
        return;
    };
    assert_eq!(post(&direct, "198.51.100.1", "y1@example.org").await, 200);
    assert_eq!(
        post(&direct, "198.51.100.2", "y2@example.org").await,
        429,
        "an untrusted peer cannot pick its address"
    );
}

/// The subscribe form on `/` in headless Chromium: fill it in, submit, see the "check your
/// inbox" page; the confirmation mail arrives. Screenshots are test artifacts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscribe_form_works_in_headless_chromium() {
    let Some(browser) = crate::browser::Browser::find() else {
        return;
    };
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    let artifacts = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let form = crate::browser::Form::new("form.subscribe button[type=submit]")
        .fill("email", "chromium@example.org")
        .check("region", "jinzhong")
        .check("mode", "daily")
        .fill("at", "07:30")
        .wait_text("请查收确认邮件");
    let shot = artifacts.join("subscribe-done.png");
    let result = browser.submit(&format!("{}/", env.base), &form, &shot).await;
    assert!(result.text.contains("请查收确认邮件"), "{result:?}");
    assert!(result.text.contains("chromium@example.org"), "{result:?}");
    assert_eq!(result.status, Some(200), "{result:?}");
    assert!(shot.is_file(), "screenshot saved");
    eprintln!("screenshot: {}", shot.display());
    let mail = env.sink.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(mail.rcpt_tos, ["chromium@example.org"]);
    let text = mail.text.unwrap_or_default();
    assert!(text.contains("每日摘要") && text.contains("07:30"), "{text}");
}

/// The regions the email subscribers are subscribed to.
async fn regions(env: &MailEnv) -> Vec<String> {
    let subs = env.subscribers().await;
    subs.iter()
        .flat_map(|r| r.topics.iter().filter_map(|t| t.region.clone()))
        .collect()
}

/// Subscribing an address again changes its topics only once the new link is followed;
/// a link is good for 48 hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_replaces_topics_after_the_new_confirmation_only() {
    let Some(env) = MailEnv::start("").await else {
        return;
    };
    env.subscribe(&[("email", READER), ("region", "jinzhong")]).await;
    let first = env.sink.wait_for(1, Duration::from_secs(10)).await.remove(0);
    env.request(Method::GET, &link(first.text.as_deref().unwrap(), "/confirm/"))
        .await;
    assert_eq!(regions(&env).await, ["jinzhong"]);

    env.subscribe(&[("email", READER), ("region", "taiyuan")]).await;
    let second = env.sink.wait_for(2, Duration::from_secs(10)).await.remove(1);
    assert_eq!(regions(&env).await, ["jinzhong"], "unchanged before confirming");
    env.request(Method::GET, &link(second.text.as_deref().unwrap(), "/confirm/"))
        .await;
    assert_eq!(regions(&env).await, ["taiyuan"], "replaced after confirming");

    env.subscribe(&[("email", READER), ("region", "datong")]).await;
    let third = env.sink.wait_for(3, Duration::from_secs(10)).await.remove(2);
    let url = link(third.text.as_deref().unwrap(), "/confirm/");
    let token = url.rsplit('/').next().unwrap();
    let hash = tidings::notify::email::hash_token(token);
    let later = chrono::Utc::now() + tidings::app::CONFIRM_VALIDITY + chrono::Duration::minutes(1);
    let outcome = env.app.store.confirm_subscription(&hash, later).await.unwrap();
    assert_eq!(outcome, tidings::store::ConfirmOutcome::Expired);
    assert_eq!(
        regions(&env).await,
        ["taiyuan"],
        "an expired link changes nothing"
    );
    let (status, page) = env
        .request(Method::GET, &format!("{}/confirm/{}", env.base, "0".repeat(64)))
        .await;
    assert_eq!(status, 404, "unknown token: {page}");
}
