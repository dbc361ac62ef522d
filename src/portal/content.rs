//! Vocabulary and text for the sample portal: regions, tags, titles, authors and bodies.
//!
//! Everything random is drawn from [`Rng`], a splitmix64 generator written here so the
//! output never changes with a dependency's version.

/// A tiny deterministic PRNG (splitmix64). Streams derived from one seed are independent
/// enough for generating sample text.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one `stream` of a `seed` (regions, feeds and epochs use their own).
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias is irrelevant for sample text).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next_u64() % xs.len() as u64) as usize]
    }

    pub(crate) fn word(&mut self, xs: &[&'static str]) -> &'static str {
        xs[(self.next_u64() % xs.len() as u64) as usize]
    }
}

/// One of Shanxi's 11 cities: display name, slug, counties and sights.
pub(crate) struct Region {
    pub name: &'static str,
    pub slug: &'static str,
    pub counties: &'static [&'static str],
    pub sights: &'static [&'static str],
}

/// The 11 regions in the portal's order.
#[rustfmt::skip]
pub(crate) const REGIONS: [Region; 11] = [
    Region { name: "太原", slug: "taiyuan", counties: &["小店区", "迎泽区", "万柏林区", "晋源区", "清徐县", "阳曲县", "古交市"], sights: &["晋祠", "天龙山"] },
    Region { name: "大同", slug: "datong", counties: &["平城区", "云冈区", "云州区", "阳高县", "灵丘县", "浑源县"], sights: &["云冈石窟", "华严寺"] },
    Region { name: "阳泉", slug: "yangquan", counties: &["城区", "矿区", "郊区", "平定县", "盂县"], sights: &["娘子关", "藏山"] },
    Region { name: "长治", slug: "changzhi", counties: &["潞州区", "上党区", "潞城区", "襄垣县", "平顺县", "长子县", "武乡县"], sights: &["太行山大峡谷", "通天峡"] },
    Region { name: "晋城", slug: "jincheng", counties: &["沁水县", "阳城县", "陵川县", "泽州县", "高平市"], sights: &["皇城相府", "王莽岭"] },
    Region { name: "朔州", slug: "shuozhou", counties: &["朔城区", "平鲁区", "山阴县", "应县", "右玉县", "怀仁市"], sights: &["应县木塔", "崇福寺"] },
    Region { name: "晋中", slug: "jinzhong", counties: &["榆次区", "太谷区", "左权县", "和顺县", "昔阳县", "祁县", "平遥县", "介休市"], sights: &["平遥古城", "王家大院"] },
    Region { name: "运城", slug: "yuncheng", counties: &["盐湖区", "临猗县", "万荣县", "稷山县", "芮城县", "永济市", "河津市"], sights: &["关帝庙", "鹳雀楼"] },
    Region { name: "忻州", slug: "xinzhou", counties: &["忻府区", "定襄县", "五台县", "代县", "宁武县", "偏关县", "原平市"], sights: &["五台山", "雁门关"] },
    Region { name: "临汾", slug: "linfen", counties: &["尧都区", "曲沃县", "洪洞县", "吉县", "隰县", "蒲县", "侯马市"], sights: &["壶口瀑布", "洪洞大槐树"] },
    Region { name: "吕梁", slug: "lvliang", counties: &["离石区", "文水县", "交城县", "兴县", "临县", "柳林县", "孝义市", "汾阳市"], sights: &["碛口古镇", "北武当山"] },
];

/// Topic tags; region names are tags too, and [`HOSTILE_TAGS`] need escaping everywhere.
pub(crate) const TOPIC_TAGS: [&str; 28] = [
    "高质量",
    "我市",
    "民生",
    "改革",
    "项目建设",
    "交通",
    "就业",
    "数字经济",
    "春耕",
    "水利",
    "乡村振兴",
    "人才",
    "全域旅游",
    "医疗",
    "基层治理",
    "营商环境",
    "黄河",
    "科技",
    "太行",
    "安全生产",
    "外贸",
    "教育",
    "文旅",
    "环保",
    "非遗",
    "开发区",
    "新能源",
    "招商引资",
];

/// Tags that are ASCII or need escaping in HTML, XML and URLs.
pub(crate) const HOSTILE_TAGS: [&str; 4] = ["5G", "AI", "R&D", "<新>"];

/// The seed article's title.
pub(crate) const SEED_TITLE: &str = "我市经济社会各项事业成绩突出亮点纷呈";

/// The `sxyw` page that carries the `R&D` category.
pub(crate) const RD_TITLE: &str = "山西省R&D经费投入强度创历史新高";

/// Title suffixes for edited articles.
pub(crate) const EDIT_SUFFIXES: [&str; 4] = ["（组图）", "（图）", "（视频）", "（附全文）"];

/// A block of an article body, in page order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    /// A paragraph; `lead` is an inline `<strong>` lead-in written before `text`.
    Paragraph { lead: Option<String>, text: String },
    /// A `<p>` whose only child is `<strong>`.
    Heading(String),
    /// An image alone in a `<p>`: number `n` of the article, document-relative or not.
    Image { n: u32, relative: bool, alt: String },
}

// (template, tags it suggests); `{p}` is a place, `{n}` a number.
const REGION_TITLES: [(&str, &[&str]); 22] = [
    ("{p}春耕备耕有序推进", &["春耕", "乡村振兴"]),
    ("{p}抓好春耕备耕 确保粮食稳产增产", &["春耕"]),
    (
        "{p}深入推进“承诺制+标准地+全代办”改革 助力营商环境持续优化",
        &["改革", "营商环境"],
    ),
    ("{p}数字经济产业园签约{n}家企业", &["数字经济", "招商引资"]),
    ("{p}新建5G基站{n}个", &["5G", "科技"]),
    ("{p}召开安全生产工作会议", &["安全生产"]),
    ("{p}老旧小区改造惠及{n}户居民", &["民生"]),
    ("{p}集中签约{n}个招商引资项目", &["招商引资", "项目建设"]),
    ("{p}“一枚印章管审批”改革见实效", &["改革", "营商环境"]),
    ("{p}城乡客运一体化实现全覆盖", &["交通", "民生"]),
    ("{p}城镇新增就业{n}00余人", &["就业", "民生"]),
    ("{p}有机旱作农业示范片建设见成效", &["乡村振兴", "科技"]),
    ("{p}人工智能应用场景加快落地", &["AI", "科技"]),
    ("{p}医联体建设惠及{n}万群众", &["医疗", "民生"]),
    ("{p}新建改扩建中小学{n}所", &["教育"]),
    ("{p}外贸进出口实现“开门红”", &["外贸"]),
    ("{p}部署防汛备汛工作", &["水利", "安全生产"]),
    ("{p}：开发区建设跑出“加速度”", &["开发区", "高质量"]),
    ("{p}“接诉即办”提升基层治理效能", &["基层治理"]),
    ("{p}全力推进{n}个重点项目建设", &["项目建设", "高质量"]),
    ("{p}新能源汽车产业链加速成形", &["新能源", "高质量"]),
    ("{p}高新技术企业数量突破{n}家", &["科技", "人才"]),
];

const PROVINCE_TITLES: [(&str, &[&str]); 6] = [
    ("我省出台{n}条措施支持民营经济发展", &["营商环境", "改革"]),
    ("山西能源革命综合改革试点取得新进展", &["新能源", "改革"]),
    ("我省春季造林绿化全面展开", &["环保", "黄河"]),
    ("全省{n}个重点工程集中开工", &["项目建设", "高质量"]),
    ("山西高校毕业生就业服务专项行动启动", &["就业", "人才"]),
    ("我省新增国家级专精特新企业{n}家", &["科技", "R&D"]),
];

const CULTURE_TITLES: [(&str, &[&str]); 6] = [
    ("{s}迎来客流高峰", &["文旅", "全域旅游"]),
    ("{s}入选省级文旅康养示范区", &["文旅"]),
    ("{c}举办第{n}届民俗文化旅游节", &["非遗", "文旅"]),
    (
        "{r}黄河、长城、太行旅游线路持续升温",
        &["黄河", "太行", "全域旅游"],
    ),
    ("{s}推出夜游新体验", &["文旅", "<新>"]),
    ("{c}非遗展演精彩纷呈", &["非遗"]),
];

const SENTENCES: [&str; 12] = [
    "{d}，{p}坚持农业农村优先发展，粮食播种面积稳定在{n}万亩以上。",
    "今年以来，{p}深入推进“放管服”改革，办件量达{n}万件。",
    "记者从{r}市{a}获悉，全市已建成5G基站{n}个，重点区域实现全覆盖。",
    "“下一步我们将继续优化服务，”{p}相关负责人表示，“让发展成果更多惠及群众。”",
    "据了解，{p}聚焦市场主体倍增目标，新增市场主体{n}户。",
    "近年来，{p}持续推进生态修复，完成造林{n}万亩。",
    "截至目前，{p}累计开工重点项目{n}个，完成投资{n}亿元。",
    "为深入贯彻落实省委、省政府部署要求，{p}出台{n}条具体措施。",
    "{p}加快构建现代综合交通运输体系，新改建农村公路{n}公里。",
    "下一步，{p}将持续加大工作力度，确保各项任务落地见效。",
    "活动现场，来自各行业的{n}余名代表参加。",
    "{r}市{a}扎实办好民生实事，新增养老床位{n}张。",
];

const AGENCIES: [&str; 6] = [
    "发展改革委",
    "教育局",
    "商务局",
    "农业农村局",
    "生态环境局",
    "文化和旅游局",
];
const LEADS: [&str; 3] = ["本报讯：", "记者获悉：", "新闻链接："];
const HEADINGS: [(&str, &str); 4] = [
    ("聚焦高质量发展", "步履铿锵稳步前行"),
    ("坚持民生优先", "群众获得感持续增强"),
    ("突出项目支撑", "发展后劲不断积蓄"),
    ("深化改革创新", "营商环境持续优化"),
];
const ALTS: [&str; 4] = ["活动现场", "项目现场", "城市新貌", "田间地头"];
const SURNAMES: [&str; 10] = ["张", "王", "李", "赵", "刘", "陈", "杨", "郭", "韩", "孙"];
const GIVEN: [&str; 10] = ["伟", "娜", "芳", "强", "磊", "静", "涛", "敏", "军", "燕"];

/// What a template's placeholders are filled with.
pub(crate) struct Ctx<'a> {
    /// `{p}`: the place the story is about.
    pub place: &'a str,
    /// `{r}` (city name) and `{c}` (a random county).
    pub region: &'a Region,
    /// `{d}`: the story's date, e.g. `2月23日`.
    pub date: String,
}

fn fill(template: &str, rng: &mut Rng, ctx: &Ctx, sight: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let key = &rest[i + 1..i + 2];
        rest = &rest[i + 3..];
        match key {
            "p" => out.push_str(ctx.place),
            "r" => out.push_str(ctx.region.name),
            "c" => out.push_str(rng.word(ctx.region.counties)),
            "s" => out.push_str(sight),
            "a" => out.push_str(rng.word(&AGENCIES)),
            "d" => out.push_str(&ctx.date),
            _ => out.push_str(&rng.range(3, 98).to_string()),
        }
    }
    out.push_str(rest);
    out
}

/// A region article title (place: the city or one of its counties) and suggested tags.
pub(crate) fn region_title(rng: &mut Rng, region: &Region) -> (String, Vec<&'static str>) {
    let place = if rng.chance(40) {
        region.name
    } else {
        rng.pick(region.counties)
    };
    titled(rng, region, place)
}

fn titled(rng: &mut Rng, region: &Region, place: &str) -> (String, Vec<&'static str>) {
    let (t, tags) = *rng.pick(&REGION_TITLES);
    let ctx = Ctx {
        place,
        region,
        date: String::new(),
    };
    (fill(t, rng, &ctx, ""), tags.to_vec())
}

/// A provincial (`sxyw`) title, about a county of `region` or the whole province.
pub(crate) fn province_title(rng: &mut Rng, region: &Region) -> (String, Vec<&'static str>) {
    if rng.chance(50) {
        let place = format!("{}市{}", region.name, rng.pick(region.counties));
        return titled(rng, region, &place);
    }
    let (t, tags) = *rng.pick(&PROVINCE_TITLES);
    let ctx = Ctx {
        place: "",
        region,
        date: String::new(),
    };
    (fill(t, rng, &ctx, ""), tags.to_vec())
}

/// A culture (`wenhua`) title for `region` and suggested tags.
pub(crate) fn culture_title(rng: &mut Rng, region: &Region) -> (String, Vec<&'static str>) {
    let (t, tags) = *rng.pick(&CULTURE_TITLES);
    let sight = *rng.pick(region.sights);
    let ctx = Ctx {
        place: region.name,
        region,
        date: String::new(),
    };
    (fill(t, rng, &ctx, sight), tags.to_vec())
}

/// An author byline: about half `网络编辑`, the rest with ASCII spaces between parts.
pub(crate) fn author(rng: &mut Rng, paper: &str) -> String {
    let name = |rng: &mut Rng| format!("{}{}", rng.pick(&SURNAMES), rng.pick(&GIVEN));
    match rng.range(0, 7) {
        0..=3 => "网络编辑".to_string(),
        4 => format!("记者 {}", name(rng)),
        5 => format!("通讯员 {}", name(rng)),
        6 => format!("{paper}日报"),
        _ => format!("本报记者 {} 通讯员 {}", name(rng), name(rng)),
    }
}

/// 1–5 distinct tags: suggested ones first, maybe the region name, then random topics.
pub(crate) fn tags(rng: &mut Rng, suggested: &[&str], region: Option<&str>) -> Vec<String> {
    let want = rng.range(1, 5) as usize;
    let mut out: Vec<String> = Vec::new();
    let push = |t: &str, out: &mut Vec<String>| {
        if out.len() < want && !out.iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    };
    if let Some(r) = region.filter(|_| rng.chance(60)) {
        push(r, &mut out);
    }
    for t in suggested {
        // Hostile tags are placed deliberately, not by templates.
        if !HOSTILE_TAGS.contains(t) {
            push(t, &mut out);
        }
    }
    for _ in 0..8 {
        push(rng.word(&TOPIC_TAGS), &mut out);
    }
    out
}

/// A body of 3–7 paragraphs, optional headings (sometimes a pair) and 0–2 images.
/// Returns the blocks and whether paragraphs are indented with two U+3000.
pub(crate) fn body(rng: &mut Rng, ctx: &Ctx) -> (Vec<Block>, bool) {
    let paragraphs = rng.range(3, 7);
    let images = rng.range(0, 2) as u32;
    let heading_at = if rng.chance(35) {
        Some(rng.range(1, paragraphs - 1))
    } else {
        None
    };
    let mut blocks = Vec::new();
    for i in 0..paragraphs {
        if Some(i) == heading_at {
            let (a, b) = *rng.pick(&HEADINGS);
            blocks.push(Block::Heading(a.to_string()));
            if rng.chance(50) {
                blocks.push(Block::Heading(b.to_string()));
            }
        }
        // Distinct sentences within a paragraph.
        let mut order: Vec<usize> = (0..SENTENCES.len()).collect();
        let mut text = String::new();
        for _ in 0..rng.range(2, 4) {
            let k = order.remove(rng.range(0, order.len() as u64 - 1) as usize);
            text.push_str(&fill(SENTENCES[k], rng, ctx, ""));
        }
        let lead = (i == 0 && rng.chance(25)).then(|| rng.pick(&LEADS).to_string());
        blocks.push(Block::Paragraph { lead, text });
        if (i as u32) < images {
            let relative = rng.chance(40);
            let alt = rng.pick(&ALTS).to_string();
            blocks.push(Block::Image {
                n: i as u32 + 1,
                relative,
                alt,
            });
        }
    }
    (blocks, rng.chance(40))
}

/// The seed article's body (our own text): paragraphs, an image and a heading pair.
pub(crate) fn seed_body() -> Vec<Block> {
    let p = |text: &str| Block::Paragraph {
        lead: None,
        text: text.to_string(),
    };
    vec![
        p("一项项务实举措落地生根,一个个重点项目拔地而起,一件件民生实事温暖人心。"),
        p("过去一年,我市坚持稳中求进工作总基调,扎实推进转型发展,经济总量稳步提升,城乡面貌焕然一新。"),
        Block::Image {
            n: 1,
            relative: true,
            alt: "晋中发展成就".to_string(),
        },
        Block::Heading("聚焦高质量发展".to_string()),
        Block::Heading("步履铿锵稳步前行".to_string()),
        p("我市以开发区建设为牵引,培育壮大新兴产业集群,新能源汽车、农产品精深加工等产业加速成势。"),
        p("坚持以人民为中心的发展思想,教育、医疗、养老等民生短板加快补齐,群众获得感、幸福感持续增强。"),
        p("征程万里风正劲,我市将锚定目标不放松,奋力书写高质量发展新篇章。"),
    ]
}

/// The listing summary: the first 56 characters of the paragraphs' text (headings and
/// indentation left out), followed by `…` when the text is longer.
pub(crate) fn summary(body: &[Block]) -> String {
    let mut text = String::new();
    for block in body {
        if let Block::Paragraph { lead, text: t } = block {
            text.push_str(lead.as_deref().unwrap_or(""));
            text.push_str(t);
        }
    }
    cut(&text, 56)
}

/// `s` cut to `n` characters plus `…` when longer.
pub(crate) fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
