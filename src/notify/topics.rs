//! Subscription topics as users write them: `晋中`, `高质量`, `晋中+高质量`, `tag:晋中`.
//!
//! A word that is both a region and a tag means the region; `tag:word` (or `#word`) means
//! the tag. A topic combines at most one region and one tag (an item has one region).

use crate::domain::RegionTable;
use crate::store::Topic;

/// Parses one topic; the error says what is wrong in Chinese-friendly plain words.
pub fn parse_topic(text: &str, regions: &RegionTable) -> Result<Topic, String> {
    let mut topic = Topic {
        region: None,
        tag: None,
    };
    for part in text.split('+').map(str::trim) {
        if part.is_empty() {
            return Err(format!("`{text}`: empty part; write e.g. 晋中+高质量"));
        }
        let forced_tag = part.strip_prefix("tag:").or_else(|| part.strip_prefix('#'));
        let region = match forced_tag {
            Some(_) => None,
            None => regions.find(part),
        };
        match (region, forced_tag.unwrap_or(part)) {
            (Some(r), _) if topic.region.is_none() => topic.region = Some(r.slug.clone()),
            (Some(_), _) => return Err(format!("`{text}`: a topic can name only one region")),
            (None, tag) if topic.tag.is_none() && !tag.trim().is_empty() => {
                topic.tag = Some(tag.trim().to_owned())
            }
            (None, _) => return Err(format!("`{text}`: a topic can combine one region and one tag")),
        }
    }
    Ok(topic)
}

/// How a topic is shown to users: `晋中+高质量`, with `tag:` where a tag is also a region.
pub fn show_topic(topic: &Topic, regions: &RegionTable) -> String {
    let region = topic
        .region
        .as_ref()
        .map(|slug| regions.find(slug).map_or(slug.clone(), |r| r.name.clone()));
    let tag = topic.tag.as_ref().map(|t| {
        if regions.find(t).is_some() {
            format!("tag:{t}")
        } else {
            t.clone()
        }
    });
    match (region, tag) {
        (Some(r), Some(t)) => format!("{r}+{t}"),
        (Some(r), None) => r,
        (None, Some(t)) => t,
        (None, None) => "全部".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_win_over_tags_unless_a_tag_is_asked_for() {
        let r = RegionTable::shanxi();
        let t = parse_topic("晋中", &r).unwrap();
        assert_eq!((t.region.as_deref(), t.tag.as_deref()), (Some("jinzhong"), None));
        let t = parse_topic("tag:晋中", &r).unwrap();
        assert_eq!((t.region.as_deref(), t.tag.as_deref()), (None, Some("晋中")));
        let t = parse_topic("晋中市+高质量", &r).unwrap();
        assert_eq!(
            (t.region.as_deref(), t.tag.as_deref()),
            (Some("jinzhong"), Some("高质量"))
        );
        assert_eq!(show_topic(&t, &r), "晋中+高质量");
        assert_eq!(show_topic(&parse_topic("#晋中", &r).unwrap(), &r), "tag:晋中");
        assert!(parse_topic("晋中+太原", &r).is_err());
        assert!(parse_topic("a+b", &r).is_err());
        assert!(parse_topic("晋中+", &r).is_err());
    }
}
