//! What an imported feed's recipe file says, and the source id it is filed under.

use serde::Serialize;
use url::Url;

/// How often an imported feed is polled; users edit the recipe to change it.
pub(super) const SCHEDULE: &str = "30m";

/// Source ids are cut to about this many characters (at a `-`).
const MAX_ID_LEN: usize = 60;

/// Path segments (extension removed) that say "this is a feed" and nothing about which one.
const NOISE_SEGMENTS: [&str; 8] = ["feed", "feeds", "rss", "rss2", "atom", "index", "xml", "rdf"];

/// Extensions dropped from the last path segment.
const EXTENSIONS: [&str; 11] = [
    "xml", "rss", "atom", "json", "rdf", "php", "asp", "aspx", "cgi", "htm", "html",
];

/// A feed to be written as a recipe.
#[derive(Debug, Clone)]
pub(super) struct NewRecipe {
    /// 1-based line of the outline in the OPML file.
    pub line: u32,
    /// Source id (the file stem).
    pub id: String,
    /// Display name.
    pub title: String,
    /// The feed URL.
    pub url: Url,
    /// The site, when the OPML names it.
    pub site: Option<Url>,
    /// Folder titles, given to every item as tags.
    pub tags: Vec<String>,
}

#[derive(Serialize)]
struct RecipeToml<'a> {
    title: &'a str,
    schedule: &'a str,
    identity: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    feed: [FeedToml<'a>; 1],
}

#[derive(Serialize)]
struct FeedToml<'a> {
    url: &'a str,
}

/// The recipe file's text: a comment naming where it came from, then a `feed` recipe that
/// recognises items by guid (feeds carry one; a rewritten URL is then no new item).
pub(super) fn render(recipe: &NewRecipe, opml_name: &str) -> Result<String, toml::ser::Error> {
    let body = toml::to_string(&RecipeToml {
        title: &recipe.title,
        schedule: SCHEDULE,
        identity: "guid",
        tags: &recipe.tags,
        feed: [FeedToml {
            url: recipe.url.as_str(),
        }],
    })?;
    // A comment ends at a line break, so one in the file name must not reach it.
    let name: String = opml_name
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let mut text = format!(
        "# Imported by `tidings import-opml` from {name} (line {}).\n",
        recipe.line
    );
    if let Some(site) = &recipe.site {
        text.push_str(&format!("# Site: {site}\n"));
    }
    text.push('\n');
    text.push_str(&body);
    Ok(text)
}

/// A source id for a feed URL: host (without `www.`), port and the telling path segments,
/// in lowercase ASCII letters, digits and `-` (`https://www.example.com/blog/atom.xml` →
/// `example-com-blog`). Titles are not used: most are Chinese and would slug to nothing.
pub(super) fn source_id(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let mut parts = vec![host.strip_prefix("www.").unwrap_or(host).to_owned()];
    if let Some(port) = url.port() {
        parts.push(port.to_string());
    }
    for segment in url.path_segments().into_iter().flatten() {
        let stem = match segment.rsplit_once('.') {
            Some((stem, ext)) if EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)) => stem,
            _ => segment,
        };
        if !NOISE_SEGMENTS.iter().any(|n| n.eq_ignore_ascii_case(stem)) {
            parts.push(stem.to_owned());
        }
    }
    let id = slugify(&parts.join("-"));
    if id.is_empty() { "feed".to_owned() } else { id }
}

/// Lowercase ASCII letters and digits joined by single `-`; a percent-escape (a non-ASCII
/// character of the path) is a separator. Cut to [`MAX_ID_LEN`] at a `-` where possible.
fn slugify(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut pending_dash = false;
    while let Some(c) = chars.next() {
        if c == '%' {
            chars.next_if(char::is_ascii_hexdigit);
            chars.next_if(char::is_ascii_hexdigit);
        }
        if c.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if out.len() > MAX_ID_LEN {
        let cut = out[..MAX_ID_LEN].rfind('-').filter(|&i| i > MAX_ID_LEN / 2);
        out.truncate(cut.unwrap_or(MAX_ID_LEN));
        // A cut at a fixed length may leave a trailing `-`.
        while out.ends_with('-') {
            out.pop();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(url: &str) -> String {
        source_id(&Url::parse(url).unwrap())
    }

    #[test]
    fn ids_come_from_host_and_telling_path_segments() {
        assert_eq!(id("https://sspai.com/feed"), "sspai-com");
        assert_eq!(
            id("https://www.ruanyifeng.com/blog/atom.xml"),
            "ruanyifeng-com-blog"
        );
        assert_eq!(
            id("http://www.shanxidayuan.com/rss/province.xml"),
            "shanxidayuan-com-province"
        );
        assert_eq!(id("https://news.ycombinator.com/rss"), "news-ycombinator-com");
        assert_eq!(
            id("http://127.0.0.1:8089/rss/province.xml"),
            "127-0-0-1-8089-province"
        );
        assert_eq!(
            id("https://Example.COM/%E6%96%B0%E9%97%BB/Tech_News/"),
            "example-com-tech-news"
        );
        assert_eq!(id("https://例子.cn/feed"), "xn-fsqu00a-cn");
    }

    #[test]
    fn long_ids_are_cut_at_a_dash() {
        let long = id("https://rsshub.app/bilibili/user/dynamic/2267573/more/segments/than/anyone/needs");
        assert!(long.len() <= MAX_ID_LEN && !long.ends_with('-'), "{long}");
        assert!(
            long.starts_with("rsshub-app-bilibili-user-dynamic-2267573"),
            "{long}"
        );
    }

    #[test]
    fn rendered_recipes_quote_titles_and_carry_tags_and_provenance() {
        let recipe = NewRecipe {
            line: 7,
            id: "x".into(),
            title: "少数派 \"精选\"".into(),
            url: Url::parse("https://sspai.com/feed").unwrap(),
            site: Some(Url::parse("https://sspai.com/").unwrap()),
            tags: vec!["科技".into(), "阅读".into()],
        };
        let text = render(&recipe, "subs\n.opml").unwrap();
        assert!(
            text.starts_with(
                "# Imported by `tidings import-opml` from subs?.opml (line 7).\n# Site: https://sspai.com/\n"
            ),
            "{text}"
        );
        let value: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(value["title"].as_str(), Some("少数派 \"精选\""));
        assert_eq!(value["schedule"].as_str(), Some(SCHEDULE));
        assert_eq!(value["identity"].as_str(), Some("guid"));
        assert_eq!(value["tags"].as_array().unwrap().len(), 2);
        assert_eq!(value["feed"][0]["url"].as_str(), Some("https://sspai.com/feed"));
    }
}
