//! The layout of a digest: items grouped by region, then by tag, newest first.
//!
//! Each item appears exactly once. Within a region an item goes under the first of its tags
//! that one of the recipient's topics names, else under its first tag, else under `其他`;
//! a tag that names the item's own region is not used (it would repeat the region's header).
//! Items are ordered newest first (publish time, else when it was first stored), and regions
//! and tags are ordered by their newest item.

use std::cmp::Reverse;
use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::view::{clean_name, region_name};
use crate::domain::{Item, RegionTable};
use crate::store::Topic;

/// Header for items without a region.
pub const OTHER_REGION: &str = "其他地区";
/// Header for items without a usable tag.
pub const OTHER_TAG: &str = "其他";

/// One region's part of a digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestGroup<'a> {
    /// The region's display name, or [`OTHER_REGION`].
    pub region: String,
    /// Its items by tag.
    pub sections: Vec<DigestSection<'a>>,
}

/// One tag's items within a region.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestSection<'a> {
    /// The tag, or [`OTHER_TAG`].
    pub tag: String,
    /// The items, newest first.
    pub items: Vec<&'a Item>,
}

/// Groups `items` for a recipient subscribed to `topics` (see the module docs for the
/// rules). Items repeated in `items` (same id) are shown once.
pub fn group_digest<'a>(items: &'a [Item], topics: &[Topic], regions: &RegionTable) -> Vec<DigestGroup<'a>> {
    let mut sorted: Vec<&Item> = items.iter().collect();
    sorted.sort_by_key(|item| Reverse(newest_time(item)));
    let mut seen: HashSet<&str> = HashSet::new();
    let mut groups: Vec<DigestGroup<'a>> = Vec::new();
    for item in sorted {
        if !seen.insert(item.id.as_str()) {
            continue;
        }
        let region = item.article.region.as_ref().map(|r| region_name(r, regions));
        let tag = section_tag(item, region.as_deref(), topics, regions);
        let region = region.unwrap_or_else(|| OTHER_REGION.to_owned());
        let group = match groups.iter().position(|g| g.region == region) {
            Some(i) => &mut groups[i],
            None => {
                groups.push(DigestGroup {
                    region,
                    sections: Vec::new(),
                });
                let last = groups.len() - 1;
                &mut groups[last]
            }
        };
        match group.sections.iter_mut().find(|s| s.tag == tag) {
            Some(section) => section.items.push(item),
            None => group.sections.push(DigestSection {
                tag,
                items: vec![item],
            }),
        }
    }
    groups
}

/// The time a digest sorts by: published, else first stored.
fn newest_time(item: &Item) -> DateTime<Utc> {
    item.article
        .published
        .map_or(item.created, |p| p.with_timezone(&Utc))
}

/// The tag an item is listed under within its region.
fn section_tag(item: &Item, region: Option<&str>, topics: &[Topic], regions: &RegionTable) -> String {
    let own_region = item.article.region.as_ref().map(|r| r.slug.as_str());
    let names_own_region = |tag: &str| {
        Some(tag) == region
            || (own_region.is_some() && regions.find(tag).map(|r| r.slug.as_str()) == own_region)
    };
    let tags: Vec<String> = item
        .article
        .tags
        .iter()
        .map(|t| clean_name(t))
        .filter(|t| !t.is_empty() && !names_own_region(t))
        .collect();
    let followed = |tag: &String| {
        topics
            .iter()
            .filter_map(|t| t.tag.as_deref())
            .any(|t| t.trim().eq_ignore_ascii_case(tag))
    };
    tags.iter()
        .find(|t| followed(t))
        .or(tags.first())
        .cloned()
        .unwrap_or_else(|| OTHER_TAG.to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::notify::email::tests::item;

    /// Each section as `region/tag: ids`, in order.
    fn shape(groups: &[DigestGroup<'_>]) -> Vec<String> {
        let mut out = Vec::new();
        for g in groups {
            for s in &g.sections {
                let ids: Vec<&str> = s.items.iter().map(|i| i.id.as_str()).collect();
                out.push(format!("{}/{}: {}", g.region, s.tag, ids.join(" ")));
            }
        }
        out
    }

    #[test]
    fn items_are_grouped_by_region_then_followed_tag_newest_first_once_each() {
        let items = vec![
            item("a", Some("晋中"), &["晋中", "文旅", "高质量"], 10),
            item("b", Some("太原"), &["经济"], 50),
            item("c", Some("晋中市"), &["高质量"], 30),
            item("d", None, &[], 40),
            item("e", Some("jinzhong"), &["文旅"], 20),
            item("f", Some("晋中"), &[], 5),
            item("c", Some("晋中"), &["高质量"], 30),
        ];
        let topics = vec![Topic {
            region: None,
            tag: Some("高质量".to_owned()),
        }];
        let groups = group_digest(&items, &topics, &RegionTable::shanxi());
        assert_eq!(
            shape(&groups),
            [
                "太原/经济: b",
                "其他地区/其他: d",
                "晋中/高质量: c a",
                "晋中/文旅: e",
                "晋中/其他: f"
            ]
        );
        let shown: usize = groups
            .iter()
            .flat_map(|g| &g.sections)
            .map(|s| s.items.len())
            .sum();
        assert_eq!(shown, 6);
    }

    #[test]
    fn without_topics_the_first_tag_that_is_not_the_region_names_the_section() {
        let items = vec![item("a", Some("晋中"), &["晋中市", "文旅", "高质量"], 10)];
        let groups = group_digest(&items, &[], &RegionTable::shanxi());
        assert_eq!(groups[0].sections[0].tag, "文旅");
    }

    #[test]
    fn items_without_a_publish_time_sort_by_when_they_were_stored() {
        let mut old = item("old", None, &[], 0);
        old.article.published = None;
        old.created = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let mut new = item("new", None, &[], 0);
        new.article.published = None;
        new.created = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        let items = vec![old, item("mid", None, &[], 0), new];
        let groups = group_digest(&items, &[], &RegionTable::shanxi());
        let ids: Vec<&str> = groups[0].sections[0]
            .items
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(ids, ["new", "mid", "old"]);
    }
}
