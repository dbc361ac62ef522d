//! What feeds show: every [`FeedQuery`] field, newest first with ties by id in byte order,
//! and the region, tag and source facets.

use std::sync::Arc;

use tidings::store::{FeedQuery, Store};

use super::{article, at, commit, on_both_backends, stored, write};

on_both_backends!(
    feed_items_filter_on_every_field_newest_first_ties_by_id,
    text_search_folds_ascii_case_only_and_has_no_wildcards,
    facets_count_items_per_region_tag_and_source,
);

/// Six items: three published at the same minute (ids `B`, `a`, `中`), one without a
/// publish time (ordered by when it was stored), one older, one of another source.
async fn sample(s: &dyn Store) {
    let mut b = article(
        "Rust RD 报告",
        Some(("jinzhong", "jinzhong")),
        &["高质量"],
        Some(10),
    );
    b.summary = Some("关于 50% 增长".into());
    let a = article(
        "rust rd news",
        Some(("taiyuan", "太原")),
        &["高质量", "R&D"],
        Some(10),
    );
    let mut zh = article("晋中新闻 Ä", Some(("jinzhong", "Jinzhong")), &["R&D"], Some(10));
    zh.summary = Some("a_b".into());
    let mut old = article("旧闻", Some(("jinzhong", "Jinzhong")), &["b", "a", "B"], Some(0));
    old.summary = Some("ä".into());
    let nodate = article("无日期", None, &[], None);
    commit(
        s,
        "src",
        at(0),
        vec![
            write("old", old),
            write("中", zh),
            write("a", a),
            write("nodate", nodate),
            write("B", b),
        ],
    )
    .await;
    let other = article("其他 report", Some(("jinzhong", "Jinzhong")), &[], Some(20));
    commit(s, "other", at(1), vec![write("x-other", other)]).await;
}

async fn ids(s: &dyn Store, q: FeedQuery) -> Vec<String> {
    s.feed_items(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

fn query(f: impl FnOnce(&mut FeedQuery)) -> FeedQuery {
    let mut q = FeedQuery {
        limit: 50,
        ..FeedQuery::default()
    };
    f(&mut q);
    q
}

async fn feed_items_filter_on_every_field_newest_first_ties_by_id(store: Arc<dyn Store>) {
    let s = store.as_ref();
    sample(s).await;
    let all = ["x-other", "B", "a", "中", "nodate", "old"];
    assert_eq!(ids(s, query(|_| {})).await, all);
    assert_eq!(ids(s, query(|q| q.source = Some("src".into()))).await, all[1..]);
    assert_eq!(
        ids(s, query(|q| q.region = Some("jinzhong".into()))).await,
        ["x-other", "B", "中", "old"]
    );
    assert_eq!(ids(s, query(|q| q.tag = Some("R&D".into()))).await, ["a", "中"]);
    assert_eq!(ids(s, query(|q| q.tag = Some("高质量".into()))).await, ["B", "a"]);
    assert!(
        ids(s, query(|q| q.tag = Some("高质".into()))).await.is_empty(),
        "whole tags"
    );
    assert!(
        ids(s, query(|q| q.region = Some("nowhere".into())))
            .await
            .is_empty()
    );
    let every = query(|q| {
        q.source = Some("src".into());
        q.region = Some("jinzhong".into());
        q.tag = Some("R&D".into());
        q.q = Some("晋中".into());
        q.exclude = Some("旧".into());
    });
    assert_eq!(ids(s, every).await, ["中"]);

    assert_eq!(ids(s, query(|q| q.limit = 2)).await, ["x-other", "B"]);
    assert!(ids(s, query(|q| q.limit = 0)).await.is_empty());
    assert_eq!(ids(s, query(|q| q.limit = -1)).await, all, "negative: no limit");
    assert_eq!(ids(s, query(|q| q.limit = i64::MAX)).await, all);

    let items = s.items(Some("other"), 10).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, "x-other");
    assert_eq!(items[0].created, stored(at(1)));
    assert_eq!(s.items(None, 3).await.unwrap().len(), 3);
}

async fn text_search_folds_ascii_case_only_and_has_no_wildcards(store: Arc<dyn Store>) {
    let s = store.as_ref();
    sample(s).await;
    let q = |text: &str| query(|q| q.q = Some(text.into()));
    let ex = |text: &str| query(|q| q.exclude = Some(text.into()));
    assert_eq!(ids(s, q("RD")).await, ["B", "a"], "ASCII case folded");
    assert_eq!(ids(s, q("rUsT rd")).await, ["B", "a"]);
    assert_eq!(
        ids(s, q("ä")).await,
        ["old"],
        "non-ASCII case kept (SQLite's lower)"
    );
    assert_eq!(ids(s, q("Ä")).await, ["中"]);
    assert_eq!(ids(s, q("晋中")).await, ["中"], "title");
    assert_eq!(ids(s, q("增长")).await, ["B"], "summary");
    assert_eq!(
        ids(s, q("报告 关于")).await,
        ["B"],
        "title and summary joined by a space"
    );
    assert_eq!(ids(s, q("%")).await, ["B"], "% is a character");
    assert_eq!(ids(s, q("_")).await, ["中"], "_ is a character");
    assert!(ids(s, q("a%b")).await.is_empty());
    assert!(ids(s, q("a\0b")).await.is_empty());
    assert_eq!(ids(s, ex("rd")).await, ["x-other", "中", "nodate", "old"]);
    let both = query(|q| {
        q.q = Some("rd".into());
        q.exclude = Some("RUST RD NEWS".into());
    });
    assert_eq!(ids(s, both).await, ["B"]);
    assert_eq!(ids(s, q("")).await.len(), 6, "the empty text is in every item");
    assert!(ids(s, ex("")).await.is_empty());
}

async fn facets_count_items_per_region_tag_and_source(store: Arc<dyn Store>) {
    let s = store.as_ref();
    sample(s).await;
    let regions = s.region_facets().await.unwrap();
    let r: Vec<(&str, &str, i64)> = regions
        .iter()
        .map(|f| (f.key.as_str(), f.name.as_str(), f.count))
        .collect();
    assert_eq!(
        r,
        [("jinzhong", "jinzhong", 4), ("taiyuan", "太原", 1)],
        "by slug; the greatest name in byte order"
    );
    assert_eq!(regions[0].last_updated, Some(stored(at(1))));
    assert_eq!(regions[1].last_updated, Some(stored(at(0))));

    let tags = s.tag_facets().await.unwrap();
    let t: Vec<(&str, &str, i64)> = tags
        .iter()
        .map(|f| (f.key.as_str(), f.name.as_str(), f.count))
        .collect();
    assert_eq!(
        t,
        [
            ("R&D", "R&D", 2),
            ("高质量", "高质量", 2),
            ("B", "B", 1),
            ("a", "a", 1),
            ("b", "b", 1)
        ],
        "most used first, then byte order"
    );

    let sources = s.source_facets().await.unwrap();
    let so: Vec<(&str, i64, Option<_>)> = sources
        .iter()
        .map(|f| (f.key.as_str(), f.count, f.last_updated))
        .collect();
    assert_eq!(
        so,
        [("other", 1, Some(stored(at(1)))), ("src", 5, Some(stored(at(0))))]
    );
    assert_eq!(sources[1].name, "src");
}
