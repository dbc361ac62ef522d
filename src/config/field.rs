//! A recipe field: a CSS selector, optionally an attribute, optionally a regex over the text.
//!
//! In TOML a field is either a selector string (`"div.article > h1"`) or a table
//! (`{ selector = "h3 > a", attr = "title" }`, `{ selector = "div.info", regex = '…' }`).

use std::fmt;

use regex::Regex;
use scraper::{ElementRef, Selector};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::located::Doc;
use super::recipe::compile_regex;
use crate::domain::normalize_space;

/// The TOML form of a field, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    selector: String,
    attr: Option<String>,
    regex: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldTable {
    selector: String,
    attr: Option<String>,
    regex: Option<String>,
}

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FieldSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CSS selector string or a table { selector, attr, regex }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldSpec, E> {
                Ok(FieldSpec {
                    selector: v.to_owned(),
                    attr: None,
                    regex: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldSpec, A::Error> {
                let t = FieldTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FieldSpec {
                    selector: t.selector,
                    attr: t.attr,
                    regex: t.regex,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A compiled field.
#[derive(Debug, Clone)]
pub struct Field {
    /// The selector, as written (for messages).
    pub source: String,
    /// Compiled selector.
    pub selector: Selector,
    /// Read this attribute instead of the text.
    pub attr: Option<String>,
    /// Applied to the value: group `value`, else group 1, else the whole match;
    /// a `meta` field uses its named groups instead.
    pub regex: Option<Regex>,
}

impl Field {
    /// Compiles a spec, recording a located error for a bad selector or regex.
    pub fn compile(spec: &Spanned<FieldSpec>, key: &str, doc: &mut Doc<'_>) -> Option<Field> {
        let span = spec.span();
        let spec = spec.get_ref();
        let selector = Selector::parse(&spec.selector)
            .map_err(|e| {
                doc.error(
                    Some(span.clone()),
                    key,
                    format!("bad selector `{}`: {e}", spec.selector),
                )
            })
            .ok();
        let regex = match &spec.regex {
            Some(p) => match compile_regex(p) {
                Ok(r) => Some(Some(r)),
                Err(msg) => {
                    doc.error(Some(span.clone()), format!("{key}.regex"), msg);
                    None
                }
            },
            None => Some(None),
        };
        Some(Field {
            source: spec.selector.clone(),
            selector: selector?,
            attr: spec.attr.clone(),
            regex: regex?,
        })
    }

    /// `link[rel=canonical]`'s `href`: the default canonical-URL field.
    pub fn canonical_link() -> Field {
        Field {
            source: "link[rel=canonical]".into(),
            // A literal selector that always parses.
            selector: Selector::parse("link[rel=canonical]").expect("static selector"),
            attr: Some("href".into()),
            regex: None,
        }
    }

    /// The raw (whitespace-normalised) value of each match under `root`, before the regex.
    pub fn raw_values(&self, root: ElementRef<'_>) -> Vec<String> {
        root.select(&self.selector)
            .filter_map(|el| match &self.attr {
                Some(a) => el.value().attr(a).map(|v| v.trim().to_owned()),
                None => Some(normalize_space(&el.text().collect::<String>())),
            })
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// Every non-empty value under `root`, with the regex applied.
    pub fn values(&self, root: ElementRef<'_>) -> Vec<String> {
        let raw = self.raw_values(root);
        match &self.regex {
            None => raw,
            Some(re) => raw
                .iter()
                .filter_map(|v| {
                    let c = re.captures(v)?;
                    let m = c.name("value").or_else(|| c.get(1)).or_else(|| c.get(0))?;
                    Some(m.as_str().trim().to_owned())
                })
                .filter(|v| !v.is_empty())
                .collect(),
        }
    }

    /// The first non-empty value under `root`.
    pub fn first(&self, root: ElementRef<'_>) -> Option<String> {
        self.values(root).into_iter().next()
    }
}
