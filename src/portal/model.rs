//! The portal's content model: every article of every channel, built for epoch 0 and then
//! changed epoch by epoch, so epoch K is always epoch K−1 plus that epoch's changes.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta};

use super::content::{self, Block, REGIONS, Rng};

/// The seed article's id.
pub(crate) const SEED_ID: u64 = 1453;
/// The region index of 晋中, home of the seed article.
pub(crate) const SEED_REGION: usize = 6;
/// Base articles per region are capped so the ids before the seed stay positive.
pub(crate) const MAX_PER_REGION: usize = 200;
/// Base `sxyw` pages: all of them are in the RSS feed at epoch 0.
const BASE_SXYW: usize = 30;
/// Base `wenhua` pages: all of them are in the Atom feed at epoch 0.
const BASE_WENHUA: usize = 20;
/// Items kept in the RSS and Atom feeds.
pub(crate) const RSS_SIZE: usize = 30;
pub(crate) const ATOM_SIZE: usize = 20;

/// The three channels sharing one id sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Channel {
    Gsyl,
    Sxyw,
    Wenhua,
}

impl Channel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Gsyl => "gsyl",
            Channel::Sxyw => "sxyw",
            Channel::Wenhua => "wenhua",
        }
    }
}

/// One page of any channel, with everything needed to render it and its ground truth.
#[derive(Debug, Clone)]
pub(crate) struct Art {
    pub id: u64,
    pub channel: Channel,
    /// Index into [`REGIONS`]; `None` for province-wide (`sxyw`) pages.
    pub region: Option<usize>,
    pub title: String,
    pub original_title: Option<String>,
    pub edited_epoch: Option<u32>,
    pub author: String,
    /// Local time in UTC+8.
    pub published: NaiveDateTime,
    /// Atom `updated` (moves when an entry is updated).
    pub updated: NaiveDateTime,
    pub tags: Vec<String>,
    pub comments: u32,
    pub body: Vec<Block>,
    pub indented: bool,
    pub epoch_added: u32,
    pub removed_epoch: Option<u32>,
    /// RSS guid is the link (else `sxdy-sxyw-{id}`).
    pub guid_permalink: bool,
    /// RSS description as CDATA HTML / Atom entry carries `content`.
    pub rich_feed: bool,
    pub is_seed: bool,
}

impl Art {
    /// The page's root-relative path.
    pub(crate) fn path(&self) -> String {
        match (self.channel, self.region) {
            (Channel::Gsyl, Some(r)) => format!("/gsyl/{}/{}.html", REGIONS[r].slug, self.id),
            (channel, _) => format!("/{}/{}.html", channel.name(), self.id),
        }
    }

    /// The root path of image `n`.
    pub(crate) fn image_url(&self, n: u32) -> String {
        format!(
            "/uploads/allimg/{}/{}-{}.png",
            self.published.format("%y%m%d"),
            self.id,
            n
        )
    }

    /// Root paths of all images, in page order.
    pub(crate) fn image_urls(&self) -> Vec<String> {
        let images = self.body.iter().filter_map(|b| match b {
            Block::Image { n, .. } => Some(self.image_url(*n)),
            _ => None,
        });
        images.collect()
    }

    /// Newest-first sort key.
    pub(crate) fn key(&self) -> (NaiveDateTime, u64) {
        (self.published, self.id)
    }

    pub(crate) fn listed(&self) -> bool {
        self.removed_epoch.is_none()
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    // The dates used are constants of the portal's calendar; the fallback is never taken.
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn at(day: NaiveDate, h: u32, m: u32, s: u32) -> NaiveDateTime {
    day.and_hms_opt(h, m, s).unwrap_or_default()
}

/// The seed article's publish time.
pub(crate) fn seed_time() -> NaiveDateTime {
    at(date(2022, 2, 23), 10, 43, 56)
}

/// A daytime moment on one of `days` days starting at `first`.
fn random_time(rng: &mut Rng, first: NaiveDate, days: u64) -> NaiveDateTime {
    let day = first + TimeDelta::days(rng.range(0, days - 1) as i64);
    let (h, m, s) = (rng.range(7, 22), rng.range(0, 59), rng.range(0, 59));
    at(day, h as u32, m as u32, s as u32)
}

/// First day of epoch `k` (≥ 1).
fn epoch_start(k: u32) -> NaiveDate {
    date(2022, 4, 1) + TimeDelta::days(2 * (i64::from(k) - 1))
}

/// The moment epoch `k`'s updates happen: after all of its new articles.
pub(crate) fn epoch_time(k: u32) -> NaiveDateTime {
    at(epoch_start(k) + TimeDelta::days(1), 23, 30, 0)
}

/// Builds every page for the given sizes, seed and epoch, sorted by id.
pub(crate) fn build(seed: u64, regions: usize, per_region: usize, epoch: u32) -> Vec<Art> {
    let mut titles = BTreeSet::new();
    let mut base = Vec::new();
    let base_day = date(2022, 1, 15);
    for r in 0..regions {
        let mut rng = Rng::new(seed, 1 + r as u64);
        for i in 0..per_region {
            if r == SEED_REGION && i == 0 {
                titles.insert(content::SEED_TITLE.to_string());
                base.push(seed_article());
                continue;
            }
            let time = avoid_seed_time(random_time(&mut rng, base_day, 76));
            base.push(region_article(&mut rng, r, 0, time, &mut titles));
        }
    }
    let mut rng = Rng::new(seed, 100);
    let rd = rng.range(0, BASE_SXYW as u64 - 1) as usize;
    for i in 0..BASE_SXYW {
        let time = avoid_seed_time(random_time(&mut rng, base_day, 76));
        let mut art = province_article(&mut rng, 0, time, &mut titles);
        if i == rd {
            art.title = content::RD_TITLE.to_string();
            art.tags = vec!["R&D".to_string(), "科技".to_string(), "改革".to_string()];
        }
        base.push(art);
    }
    let mut rng = Rng::new(seed, 101);
    let new_tag = rng.range(0, BASE_WENHUA as u64 - 1) as usize;
    for i in 0..BASE_WENHUA {
        let time = avoid_seed_time(random_time(&mut rng, base_day, 76));
        let mut art = culture_article(&mut rng, 0, time, &mut titles);
        if i == new_tag {
            art.tags.truncate(4);
            art.tags.push("<新>".to_string());
        }
        base.push(art);
    }
    place_hostile_tags(&mut Rng::new(seed, 102), &mut base);

    // Ids grow with publish time; the seed's moment is the anchor that gets id 1453.
    base.sort_by_key(|a| (a.published, a.channel));
    let before = base.iter().filter(|a| a.published < seed_time()).count() as u64;
    let first = SEED_ID.saturating_sub(before).max(1);
    for (i, art) in base.iter_mut().enumerate() {
        art.id = first + i as u64;
    }
    for k in 1..=epoch {
        apply_epoch(
            &mut Rng::new(seed, 1000 + u64::from(k)),
            &mut base,
            k,
            regions,
            &mut titles,
        );
    }
    base
}

fn avoid_seed_time(t: NaiveDateTime) -> NaiveDateTime {
    if t == seed_time() {
        t + TimeDelta::seconds(1)
    } else {
        t
    }
}

/// 5G, AI, R&D and <新> each go on one non-seed base region article when there are four.
fn place_hostile_tags(rng: &mut Rng, arts: &mut [Art]) {
    let mut candidates: Vec<usize> = (0..arts.len())
        .filter(|&i| arts[i].channel == Channel::Gsyl && !arts[i].is_seed)
        .collect();
    if candidates.len() < content::HOSTILE_TAGS.len() {
        return;
    }
    for tag in content::HOSTILE_TAGS {
        let i = candidates.remove(rng.range(0, candidates.len() as u64 - 1) as usize);
        let tags = &mut arts[i].tags;
        tags.truncate(4);
        tags.push(tag.to_string());
    }
}

fn unique(
    rng: &mut Rng,
    titles: &mut BTreeSet<String>,
    mut make: impl FnMut(&mut Rng) -> (String, Vec<&'static str>),
) -> (String, Vec<&'static str>) {
    let mut made = make(rng);
    for _ in 0..50 {
        if !titles.contains(&made.0) {
            break;
        }
        made = make(rng);
    }
    titles.insert(made.0.clone());
    made
}

fn article(rng: &mut Rng, channel: Channel, region: usize, epoch: u32, time: NaiveDateTime) -> Art {
    let r = &REGIONS[region];
    let place = if rng.chance(50) {
        r.name
    } else {
        rng.pick(r.counties)
    };
    let date = format!("{}月{}日", time.month(), time.day());
    let (body, indented) = content::body(
        rng,
        &content::Ctx {
            place,
            region: r,
            date,
        },
    );
    let paper = if channel == Channel::Sxyw {
        "山西"
    } else {
        r.name
    };
    Art {
        id: 0,
        channel,
        region: (channel != Channel::Sxyw).then_some(region),
        title: String::new(),
        original_title: None,
        edited_epoch: None,
        author: content::author(rng, paper),
        published: time,
        updated: time,
        tags: Vec::new(),
        comments: if rng.chance(60) {
            0
        } else {
            rng.range(1, 40) as u32
        },
        body,
        indented,
        epoch_added: epoch,
        removed_epoch: None,
        guid_permalink: rng.chance(50),
        rich_feed: rng.chance(50),
        is_seed: false,
    }
}

fn region_article(
    rng: &mut Rng,
    r: usize,
    epoch: u32,
    time: NaiveDateTime,
    titles: &mut BTreeSet<String>,
) -> Art {
    let (title, suggested) = unique(rng, titles, |rng| content::region_title(rng, &REGIONS[r]));
    let mut art = article(rng, Channel::Gsyl, r, epoch, time);
    art.tags = content::tags(rng, &suggested, Some(REGIONS[r].name));
    art.title = title;
    art
}

fn province_article(rng: &mut Rng, epoch: u32, time: NaiveDateTime, titles: &mut BTreeSet<String>) -> Art {
    let r = rng.range(0, REGIONS.len() as u64 - 1) as usize;
    let (title, suggested) = unique(rng, titles, |rng| content::province_title(rng, &REGIONS[r]));
    let mut art = article(rng, Channel::Sxyw, r, epoch, time);
    art.tags = content::tags(rng, &suggested, None);
    art.title = title;
    art
}

fn culture_article(rng: &mut Rng, epoch: u32, time: NaiveDateTime, titles: &mut BTreeSet<String>) -> Art {
    let r = rng.range(0, REGIONS.len() as u64 - 1) as usize;
    let (title, suggested) = unique(rng, titles, |rng| content::culture_title(rng, &REGIONS[r]));
    let mut art = article(rng, Channel::Wenhua, r, epoch, time);
    art.tags = content::tags(rng, &suggested, Some(REGIONS[r].name));
    art.title = title;
    art
}

fn seed_article() -> Art {
    let tags = ["晋中", "高质量", "我市"].map(String::from).to_vec();
    Art {
        id: SEED_ID,
        channel: Channel::Gsyl,
        region: Some(SEED_REGION),
        title: content::SEED_TITLE.to_string(),
        original_title: None,
        edited_epoch: None,
        author: "网络编辑".to_string(),
        published: seed_time(),
        updated: seed_time(),
        tags,
        comments: 0,
        body: content::seed_body(),
        indented: false,
        epoch_added: 0,
        removed_epoch: None,
        guid_permalink: true,
        rich_feed: true,
        is_seed: true,
    }
}

/// Epoch `k`: new articles and feed items, one edit, one removal, one Atom update.
fn apply_epoch(rng: &mut Rng, arts: &mut Vec<Art>, k: u32, regions: usize, titles: &mut BTreeSet<String>) {
    let first = epoch_start(k);
    let mut new = Vec::new();
    for r in 0..regions {
        for _ in 0..rng.range(1, 3) {
            let time = random_time(rng, first, 2);
            new.push(region_article(rng, r, k, time, titles));
        }
    }
    for _ in 0..3 {
        let time = random_time(rng, first, 2);
        new.push(province_article(rng, k, time, titles));
    }
    for _ in 0..2 {
        let time = random_time(rng, first, 2);
        new.push(culture_article(rng, k, time, titles));
    }

    let older = |a: &Art| a.channel == Channel::Gsyl && !a.is_seed && a.listed() && a.edited_epoch.is_none();
    let candidates: Vec<usize> = (0..arts.len()).filter(|&i| older(&arts[i])).collect();
    let mut edited = None;
    if !candidates.is_empty() {
        let i = *rng.pick(&candidates);
        let art = &mut arts[i];
        art.original_title = Some(art.title.clone());
        art.title = format!("{}{}", art.title, rng.pick(&content::EDIT_SUFFIXES));
        art.edited_epoch = Some(k);
        edited = Some(i);
    }
    let candidates: Vec<usize> = (0..arts.len())
        .filter(|&i| older(&arts[i]) && Some(i) != edited)
        .collect();
    if !candidates.is_empty() {
        let i = *rng.pick(&candidates);
        arts[i].removed_epoch = Some(k);
    }

    new.sort_by_key(|a| (a.published, a.channel));
    let first_id = arts.iter().map(|a| a.id).max().unwrap_or(SEED_ID) + 1;
    for (id, mut art) in (first_id..).zip(new) {
        art.id = id;
        arts.push(art);
    }

    // One Atom entry still in the feed (and older than this epoch) gets updated.
    let mut culture: Vec<usize> = (0..arts.len())
        .filter(|&i| arts[i].channel == Channel::Wenhua)
        .collect();
    culture.sort_by_key(|&i| std::cmp::Reverse(arts[i].key()));
    culture.truncate(ATOM_SIZE);
    culture.retain(|&i| arts[i].epoch_added < k && arts[i].edited_epoch.is_none());
    if !culture.is_empty() {
        let i = *rng.pick(&culture);
        let art = &mut arts[i];
        art.original_title = Some(art.title.clone());
        art.title.push_str("（更新）");
        art.edited_epoch = Some(k);
        art.updated = epoch_time(k);
    }
}
