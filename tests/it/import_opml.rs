//! `tidings import-opml` through the real binary: a reader's export becomes recipes that the
//! config accepts, nothing is written twice or overwritten, bad files fail clearly, and an
//! imported recipe polls a feed end to end.

use std::collections::BTreeMap;
use std::path::Path;

use tidings::portal::Variant;

use crate::commands::{text, tidings};
use crate::helpers::{FAST_FETCH, TestDir, portal, source_override, truth};

/// An Inoreader/Feedly-style export: nested folders with Chinese titles, one URL listed
/// twice (in two folders), one `feed://` URL, one bookmark without `xmlUrl`, one feed
/// outside any folder.
const EXPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head>
    <title>Subscriptions of 读者 in Inoreader</title>
  </head>
  <body>
    <outline text="新闻" title="新闻">
      <outline text="山西" title="山西">
        <outline text="山西日报" title="山西日报" type="rss" xmlUrl="https://www.sxrb.com/rss/news.xml" htmlUrl="https://www.sxrb.com/"/>
        <outline text="晋中新闻网" title="晋中新闻网" type="rss" xmlUrl="http://www.sxjzxw.com/feed" htmlUrl="http://www.sxjzxw.com/"/>
      </outline>
      <outline text="BBC 中文" title="BBC 中文" type="rss" xmlUrl="https://feeds.bbci.co.uk/zhongwen/simp/rss.xml" htmlUrl="https://www.bbc.com/zhongwen/simp"/>
    </outline>
    <outline text="科技" title="科技">
      <outline text="少数派" title="少数派" type="rss" xmlUrl="https://sspai.com/feed" htmlUrl="https://sspai.com"/>
      <outline text="阮一峰的网络日志" title="阮一峰的网络日志" type="rss" xmlUrl="https://www.ruanyifeng.com/blog/atom.xml"/>
      <outline text="Hacker News" title="Hacker News" type="rss" xmlUrl="https://news.ycombinator.com/rss"/>
    </outline>
    <outline text="稍后读" title="稍后读">
      <outline text="少数派 (again)" title="少数派" type="rss" xmlUrl="https://sspai.com/feed"/>
      <outline text="某播客" title="某播客" type="rss" xmlUrl="feed://podcast.example.com/episodes.xml"/>
      <outline text="一个书签" title="一个书签" type="link" url="https://example.org/bookmark"/>
    </outline>
    <outline text="Blog &amp; notes" type="rss" xmlUrl="https://example.net/index.php?feed=rss2"/>
  </body>
</opml>
"#;

/// The recipes [`EXPORT`] yields: id, title, feed URL, tags.
const EXPECTED: [(&str, &str, &str, &[&str]); 7] = [
    (
        "sxrb-com-news",
        "山西日报",
        "https://www.sxrb.com/rss/news.xml",
        &["新闻", "山西"],
    ),
    (
        "sxjzxw-com",
        "晋中新闻网",
        "http://www.sxjzxw.com/feed",
        &["新闻", "山西"],
    ),
    (
        "feeds-bbci-co-uk-zhongwen-simp",
        "BBC 中文",
        "https://feeds.bbci.co.uk/zhongwen/simp/rss.xml",
        &["新闻"],
    ),
    (
        "sspai-com",
        "少数派",
        "https://sspai.com/feed",
        &["科技", "稍后读"],
    ),
    (
        "ruanyifeng-com-blog",
        "阮一峰的网络日志",
        "https://www.ruanyifeng.com/blog/atom.xml",
        &["科技"],
    ),
    (
        "news-ycombinator-com",
        "Hacker News",
        "https://news.ycombinator.com/rss",
        &["科技"],
    ),
    (
        "example-net",
        "Blog & notes",
        "https://example.net/index.php?feed=rss2",
        &[],
    ),
];

/// Writes `content` as `name` in the test directory and returns its path as a string.
fn opml(env: &TestDir, name: &str, content: &str) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, content).expect("write opml");
    path.display().to_string()
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect()
}

#[test]
fn a_readers_export_becomes_one_valid_recipe_per_feed_with_folders_as_tags() {
    let env = TestDir::new(FAST_FETCH, &[]);
    let feeds = env.dir.path().join("feeds");
    let file = opml(&env, "subscriptions.opml", EXPORT);

    // A dry run shows the recipes and writes nothing.
    let out = tidings(&env, &["import-opml", &file, "--dry-run"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("would write 7 recipes"), "{stdout}");
    assert!(stdout.contains("url = \"https://sspai.com/feed\""), "{stdout}");
    assert!(
        files(&feeds).is_empty(),
        "a dry run wrote {:?}",
        files(&feeds).keys()
    );

    let out = tidings(&env, &["import-opml", &file]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let summary = format!(
        "wrote 7 recipes to {}, skipped 2 (1 duplicate in the file, 1 no xmlUrl), 1 rejected",
        feeds.display()
    );
    assert!(stdout.contains(&summary), "{stdout}");
    assert!(stdout.contains("`feed:` is not an http(s) URL"), "{stdout}");
    assert!(stdout.contains("same URL as line 15"), "{stdout}");
    assert!(
        stdout.contains("config check") && stdout.contains("check sxrb-com-news"),
        "{stdout}"
    );

    let written = files(&feeds);
    let ids: Vec<String> = EXPECTED.iter().map(|(id, ..)| format!("{id}.toml")).collect();
    assert_eq!(written.keys().cloned().collect::<Vec<_>>(), {
        let mut sorted = ids.clone();
        sorted.sort();
        sorted
    });
    for (id, title, url, tags) in EXPECTED {
        let recipe: toml::Table = toml::from_str(&text(&written[&format!("{id}.toml")])).expect("toml");
        assert_eq!(recipe["title"].as_str(), Some(title), "{id}");
        assert_eq!(recipe["identity"].as_str(), Some("guid"), "{id}");
        assert_eq!(recipe["schedule"].as_str(), Some("30m"), "{id}");
        assert_eq!(recipe["feed"][0]["url"].as_str(), Some(url), "{id}");
        let got: Vec<&str> = recipe
            .get("tags")
            .and_then(|t| t.as_array())
            .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(got, tags, "{id}");
    }

    // The project's own validation accepts every one of them.
    let out = tidings(&env, &["config", "check"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("ok, 7 sources (7 enabled)"), "{stdout}");

    // A second run finds every feed already read and changes nothing.
    let out = tidings(&env, &["import-opml", &file]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("wrote 0 recipes"), "{stdout}");
    // Eight outlines: 少数派 is listed twice.
    assert!(
        stdout.contains("skipped 9 (8 already read by a recipe, 1 no xmlUrl)"),
        "{stdout}"
    );
    assert!(!stdout.contains("next:"), "{stdout}");
    assert_eq!(files(&feeds), written);
}

#[test]
fn existing_recipes_are_never_overwritten_nor_their_feeds_imported_again() {
    // `mine` already reads 少数派; `news-ycombinator-com` is taken by a hand-written recipe
    // for another URL.
    let mine = "title = \"mine\"\n[[feed]]\nurl = \"https://SSPAI.com:443/feed\"\n".to_owned();
    let taken = "title = \"HN best\"\n[[feed]]\nurl = \"https://news.ycombinator.com/best\"\n".to_owned();
    let env = TestDir::new(
        FAST_FETCH,
        &[("mine", mine.clone()), ("news-ycombinator-com", taken.clone())],
    );
    let feeds = env.dir.path().join("feeds");
    let file = opml(&env, "export.opml", EXPORT);

    let out = tidings(&env, &["import-opml", &file]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("wrote 5 recipes"), "{stdout}");
    // Both outlines of 少数派 are already read; the second is not also a "duplicate".
    assert!(
        stdout.contains("skipped 4 (1 exists, 2 already read by a recipe, 1 no xmlUrl)"),
        "{stdout}"
    );
    assert!(stdout.contains("`mine` already reads it"), "{stdout}");
    assert!(!feeds.join("sspai-com.toml").exists());
    assert_eq!(std::fs::read_to_string(feeds.join("mine.toml")).unwrap(), mine);
    assert_eq!(
        std::fs::read_to_string(feeds.join("news-ycombinator-com.toml")).unwrap(),
        taken
    );
    let out = tidings(&env, &["config", "check"]);
    assert!(
        text(&out.stdout).contains("ok, 7 sources"),
        "{}",
        text(&out.stdout)
    );

    // `--dir` elsewhere still knows the feeds the configuration reads.
    let elsewhere = env.dir.path().join("staging");
    let out = tidings(
        &env,
        &["import-opml", &file, "--dir", &elsewhere.display().to_string()],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("wrote 1 recipe to"), "{stdout}");
    assert_eq!(
        files(&elsewhere).keys().cloned().collect::<Vec<_>>(),
        ["news-ycombinator-com.toml"]
    );
}

#[test]
fn a_bad_opml_file_fails_naming_the_file_and_the_problem() {
    let env = TestDir::new(FAST_FETCH, &[]);
    let feeds = env.dir.path().join("feeds");
    let cases = [
        (
            "broken.opml",
            "<?xml version=\"1.0\"?>\n<opml version=\"2.0\">\n<body>\n  <outline text=\"a\" xmlUrl=\"https://a.example/feed\">\n</body>\n</opml>\n",
            "broken.opml: malformed XML: expected 'outline' tag, not 'body' at 5:1",
        ),
        (
            "empty.opml",
            "<opml version=\"2.0\"><head/><body><outline text=\"空文件夹\"/></body></opml>",
            "empty.opml: no feeds found",
        ),
        (
            "page.opml",
            "<html><body><p>not an export</p></body></html>",
            "page.opml: not an OPML file: the root element is <html>",
        ),
    ];
    for (name, content, message) in cases {
        let file = opml(&env, name, content);
        let out = tidings(&env, &["import-opml", &file]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{name}: {}", text(&out.stdout));
        assert!(stderr.contains(message), "{name}: {stderr}");
    }
    let missing = env.dir.path().join("missing.opml").display().to_string();
    let out = tidings(&env, &["import-opml", &missing]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot read") && text(&out.stderr).contains("missing.opml"),
        "{}",
        text(&out.stderr)
    );
    assert!(files(&feeds).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_recipe_polls_the_portals_rss_feed_end_to_end() {
    let server = portal(2, 0, Variant::Standard).await;
    let env = TestDir::new(FAST_FETCH, &[]);
    let file = opml(
        &env,
        "portal.opml",
        "<opml version=\"2.0\"><body><outline text=\"山西要闻\">\n\
         <outline text=\"山西大院 · 要闻\" type=\"rss\" xmlUrl=\"http://www.shanxidayuan.com/rss/province.xml\"/>\n\
         </outline></body></opml>",
    );
    let out = tidings(&env, &["import-opml", &file]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let id = "shanxidayuan-com-province";
    assert!(env.dir.path().join("feeds").join(format!("{id}.toml")).exists());

    // Point the imported recipe at the portal on loopback, as a user would at a mirror.
    let mut config = std::fs::read_to_string(env.config_path()).unwrap();
    config.push_str(&source_override(id, &server.base_url()));
    std::fs::write(env.config_path(), config).unwrap();

    let out = tidings(&env, &["poll", id]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let rss = truth(&server, 2, 0, Variant::Standard)
        .feeds
        .into_iter()
        .find(|f| f.path == "/rss/province.xml")
        .expect("rss truth");
    assert!(!rss.items.is_empty());
    let row = stdout.lines().find(|l| l.contains(id)).expect("poll row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[2], rss.items.len().to_string(), "{row}");

    // The items are stored under the new source, tagged with the folder.
    let out_dir = env.dir.path().join("site");
    let out = tidings(&env, &["render", "--out", &out_dir.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out_dir.join("feeds/source").join(format!("{id}.json"))).expect("source feed"),
    )
    .expect("json feed");
    let items = json["items"].as_array().expect("items");
    let mut titles: Vec<&str> = items.iter().filter_map(|i| i["title"].as_str()).collect();
    let mut expected: Vec<&str> = rss.items.iter().map(|i| i.title.as_str()).collect();
    titles.sort_unstable();
    expected.sort_unstable();
    assert_eq!(titles, expected);
    assert!(
        items.iter().all(|i| i["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "山西要闻"))),
        "{json}"
    );
    assert!(out_dir.join("feeds/tag/山西要闻.atom").exists());
}
