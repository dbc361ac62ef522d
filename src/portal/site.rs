//! The rendered site: indexes over the model (listings, tags, neighbours) and every file.

use std::collections::BTreeMap;

use super::content::{HOSTILE_TAGS, REGIONS, TOPIC_TAGS, summary};
use super::html::{self, Nav, esc, tag_href};
use super::listing::{self, Listing};
use super::model::{Art, Channel};
use super::{PortalParams, Variant, assets, feeds};

/// The model plus the indexes the templates need.
pub(crate) struct Site {
    /// `base_url` without a trailing slash.
    pub base: String,
    pub variant: Variant,
    pub per_page: usize,
    pub regions: usize,
    /// Every page, sorted by id.
    pub arts: Vec<Art>,
    /// Listing summary per article (same index as `arts`).
    pub summaries: Vec<String>,
    /// Listed region articles, newest first.
    pub listed: Vec<usize>,
    /// Listed region articles per region, newest first.
    pub by_region: Vec<Vec<usize>>,
    /// `sxyw` and `wenhua` pages, newest first.
    pub sxyw: Vec<usize>,
    pub wenhua: Vec<usize>,
    /// Every tag (vocabulary and used) → listed region articles carrying it, newest first.
    pub tags: BTreeMap<String, Vec<usize>>,
    /// The prebuilt "最新文章" sidebar.
    pub sidebar: String,
}

impl Site {
    /// Indexes `arts` (sorted by id) for rendering with `params`.
    pub(crate) fn new(params: &PortalParams, regions: usize, arts: Vec<Art>) -> Site {
        let newest_first = |pred: &dyn Fn(&Art) -> bool| {
            let mut v: Vec<usize> = (0..arts.len()).filter(|&i| pred(&arts[i])).collect();
            v.sort_by_key(|&i| std::cmp::Reverse(arts[i].key()));
            v
        };
        let listed = newest_first(&|a| a.channel == Channel::Gsyl && a.listed());
        let by_region = (0..regions)
            .map(|r| {
                listed
                    .iter()
                    .copied()
                    .filter(|&i| arts[i].region == Some(r))
                    .collect()
            })
            .collect();
        let sxyw = newest_first(&|a| a.channel == Channel::Sxyw);
        let wenhua = newest_first(&|a| a.channel == Channel::Wenhua);
        let mut tags: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let vocabulary = TOPIC_TAGS
            .iter()
            .chain(&HOSTILE_TAGS)
            .chain(REGIONS.iter().take(regions).map(|r| &r.name));
        for tag in vocabulary {
            tags.entry(tag.to_string()).or_default();
        }
        for a in &arts {
            for tag in &a.tags {
                tags.entry(tag.clone()).or_default();
            }
        }
        for &i in &listed {
            for tag in &arts[i].tags {
                tags.entry(tag.clone()).or_default().push(i);
            }
        }
        let mut site = Site {
            base: params.base_url.trim_end_matches('/').to_string(),
            variant: params.variant,
            per_page: params.per_page.max(1),
            regions,
            summaries: arts.iter().map(|a| summary(&a.body)).collect(),
            arts,
            listed,
            by_region,
            sxyw,
            wenhua,
            tags,
            sidebar: String::new(),
        };
        site.sidebar = html::sidebar(&site);
        site
    }

    /// The listed neighbours of page `i` in its channel (and region): (older, newer).
    pub(crate) fn neighbours(&self, i: usize) -> (Option<usize>, Option<usize>) {
        let a = &self.arts[i];
        let group = match (a.channel, a.region) {
            (Channel::Gsyl, Some(r)) => &self.by_region[r],
            (Channel::Sxyw, _) => &self.sxyw,
            _ => &self.wenhua,
        };
        let newer = group.partition_point(|&j| self.arts[j].key() > a.key());
        let older = if group.get(newer) == Some(&i) {
            newer + 1
        } else {
            newer
        };
        (group.get(older).copied(), newer.checked_sub(1).map(|n| group[n]))
    }

    /// Every file of the site except `/manifest.json`.
    pub(crate) fn render(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut put = |path: String, body: String| {
            files.insert(path, body.into_bytes());
        };
        for i in 0..self.arts.len() {
            put(self.arts[i].path(), html::article_page(self, i));
        }
        for (r, items) in self.by_region.iter().enumerate() {
            let region = &REGIONS[r];
            let crumbs = format!("<a href=\"/gsyl/\">各市要闻</a> &gt; {}", region.name);
            let listing = Listing {
                heading: region.name,
                crumbs: &crumbs,
                nav: Nav::Region(r),
                show_region: false,
            };
            self.paginate(&format!("/gsyl/{}/", region.slug), &listing, items, &mut put);
        }
        for (channel, items, heading) in [
            (Channel::Sxyw, &self.sxyw, "山西要闻"),
            (Channel::Wenhua, &self.wenhua, "文化旅游"),
        ] {
            let listing = Listing {
                heading,
                crumbs: heading,
                nav: Nav::Channel(channel),
                show_region: true,
            };
            self.paginate(&format!("/{}/", channel.name()), &listing, items, &mut put);
        }
        for (tag, items) in &self.tags {
            let heading = format!("标签：{tag}");
            let crumbs = format!("<a href=\"/tag/\">标签</a> &gt; {}", esc(tag));
            let listing = Listing {
                heading: &heading,
                crumbs: &crumbs,
                nav: Nav::Tags,
                show_region: true,
            };
            put(
                format!("/tag/{tag}.html"),
                listing.render(self, items, 1, 1, items.len()),
            );
        }
        let cloud = format!(
            "<div class=\"crumbs\">当前位置：<a href=\"/\">首页</a> &gt; 标签</div>\n\
                             <div class=\"box tag-cloud\"><h2>全部标签</h2>{}</div>\n",
            listing::tag_links(self)
        );
        put(
            "/tag/index.html".into(),
            html::layout(
                self,
                "标签_山西大院资讯网",
                "标签",
                "全部标签",
                Nav::Tags,
                &cloud,
                false,
            ),
        );
        put("/gsyl/index.html".into(), self.directory());
        put("/index.html".into(), listing::home(self));
        put("/rss/province.xml".into(), feeds::rss(self));
        put("/atom/culture.xml".into(), feeds::atom(self));
        for (path, body) in assets::TEXT {
            put(path.to_string(), body.to_string());
        }
        for a in &self.arts {
            for url in a.image_urls() {
                files.insert(url, assets::PNG.to_vec());
            }
        }
        for path in ["/static/img/logo.png", "/static/img/vcode.png"] {
            files.insert(path.to_string(), assets::PNG.to_vec());
        }
        files
    }

    fn paginate(&self, dir: &str, listing: &Listing, items: &[usize], put: &mut impl FnMut(String, String)) {
        let pages = items.len().div_ceil(self.per_page).max(1);
        for page in 1..=pages {
            let chunk = items.chunks(self.per_page).nth(page - 1).unwrap_or(&[]);
            let name = if page == 1 {
                "index.html".to_string()
            } else {
                format!("index_{page}.html")
            };
            put(
                format!("{dir}{name}"),
                listing.render(self, chunk, page, pages, items.len()),
            );
        }
    }

    /// `/gsyl/index.html`: the directory of regions.
    fn directory(&self) -> String {
        let mut left = String::from(
            "<div class=\"crumbs\">当前位置：<a href=\"/\">首页</a> &gt; 各市要闻</div>\n\
                                     <div class=\"box regions\"><h2>各市要闻</h2><ul class=\"region-list\">",
        );
        for (r, items) in self.by_region.iter().enumerate() {
            let region = &REGIONS[r];
            left.push_str(&format!(
                "<li><a href=\"/gsyl/{}/\">{}</a> <span class=\"count\">{}篇</span></li>",
                region.slug,
                region.name,
                items.len()
            ));
        }
        left.push_str("</ul></div>\n");
        html::layout(
            self,
            "各市要闻_山西大院资讯网",
            "各市要闻",
            "山西各市要闻",
            Nav::Home,
            &left,
            false,
        )
    }

    /// The percent-encoded path of a tag page (what links use).
    pub(crate) fn tag_path(tag: &str) -> String {
        tag_href(tag)
    }
}
