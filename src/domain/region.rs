//! Regions: a slug (`jinzhong`), a display name (`晋中`) and aliases (`晋中市`).

use serde::{Deserialize, Serialize};

/// One configured region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// URL-safe identifier, e.g. `jinzhong`.
    pub slug: String,
    /// Display name, e.g. `晋中`.
    pub name: String,
    /// Other names that mean this region, e.g. `晋中市`.
    pub aliases: Vec<String>,
}

/// A region as attached to an item: known (configured) or kept by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRef {
    /// Configured slug, or one derived from the name for an unknown region.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Whether the region is configured.
    pub known: bool,
}

/// The configured regions, looked up by slug, name or alias. Cloning is cheap (shared).
#[derive(Debug, Clone, Default)]
pub struct RegionTable {
    regions: std::sync::Arc<[Region]>,
}

/// Shanxi's 11 cities plus the province itself: the built-in default table.
const SHANXI: [(&str, &str); 12] = [
    ("taiyuan", "太原"),
    ("datong", "大同"),
    ("yangquan", "阳泉"),
    ("changzhi", "长治"),
    ("jincheng", "晋城"),
    ("shuozhou", "朔州"),
    ("jinzhong", "晋中"),
    ("yuncheng", "运城"),
    ("xinzhou", "忻州"),
    ("linfen", "临汾"),
    ("lvliang", "吕梁"),
    ("shanxi", "山西"),
];

impl RegionTable {
    /// A table of the given regions.
    pub fn new(regions: Vec<Region>) -> Self {
        Self {
            regions: regions.into(),
        }
    }

    /// Shanxi's 11 cities (aliases `X市`) plus `shanxi` (`山西`, `山西省`).
    pub fn shanxi() -> Self {
        Self::new(
            SHANXI
                .iter()
                .map(|(slug, name)| Region {
                    slug: (*slug).to_owned(),
                    name: (*name).to_owned(),
                    aliases: vec![if *slug == "shanxi" {
                        format!("{name}省")
                    } else {
                        format!("{name}市")
                    }],
                })
                .collect(),
        )
    }

    /// Every configured region, in configuration order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The configured region matching a slug, display name or alias (case-insensitive for ASCII).
    pub fn find(&self, name: &str) -> Option<&Region> {
        let name = name.trim();
        self.regions.iter().find(|r| {
            r.slug.eq_ignore_ascii_case(name) || r.name == name || r.aliases.iter().any(|a| a == name)
        })
    }

    /// Resolves a name found on a page; an unknown name is kept with a derived slug.
    pub fn resolve(&self, name: &str) -> Option<RegionRef> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Some(match self.find(name) {
            Some(r) => RegionRef {
                slug: r.slug.clone(),
                name: r.name.clone(),
                known: true,
            },
            None => RegionRef {
                slug: derive_slug(name),
                name: name.to_owned(),
                known: false,
            },
        })
    }
}

/// A slug for an unconfigured region name: lower-case, runs of non-alphanumerics become `-`.
pub fn derive_slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_slug_name_and_alias_to_the_same_region() {
        let t = RegionTable::shanxi();
        for name in ["jinzhong", "晋中", "晋中市", " 晋中 ", "JinZhong"] {
            let r = t.resolve(name).unwrap();
            assert_eq!(
                (r.slug.as_str(), r.name.as_str(), r.known),
                ("jinzhong", "晋中", true)
            );
        }
        assert_eq!(t.resolve("山西省").unwrap().slug, "shanxi");
        assert_eq!(t.regions().len(), 12);
    }

    #[test]
    fn unknown_region_is_kept_with_a_derived_slug() {
        let r = RegionTable::shanxi().resolve("Hong Kong SAR").unwrap();
        assert_eq!((r.slug.as_str(), r.known), ("hong-kong-sar", false));
        let r = RegionTable::shanxi().resolve("东莞").unwrap();
        assert_eq!((r.slug.as_str(), r.name.as_str()), ("东莞", "东莞"));
        assert!(RegionTable::shanxi().resolve("  ").is_none());
    }
}
