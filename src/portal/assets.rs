//! Static files of the portal: stylesheet, script, robots.txt and one tiny PNG used for
//! every image.

/// Text files served as they are: (path, content).
pub(crate) const TEXT: [(&str, &str); 3] = [
    ("/robots.txt", "User-agent: *\nDisallow: /plus/\n"),
    ("/static/css/style.css", CSS),
    ("/static/js/common.js", JS),
];

const CSS: &str = "body{margin:0;font:14px/1.7 \"Microsoft YaHei\",sans-serif;color:#333}\n\
a{color:#1a4a8a;text-decoration:none}.wrap{width:1100px;margin:0 auto}\n\
.topbar{background:#f5f5f5;font-size:12px}.nav{background:#b8141e}.nav li{display:inline-block}\n\
.nav a{color:#fff;padding:0 12px;line-height:40px}.nav .on a{background:#8c0f17}\n\
.main{overflow:hidden}.left{float:left;width:760px}.right{float:right;width:310px}\n\
.news-list li{list-style:none;overflow:hidden;border-bottom:1px dashed #ddd;padding:10px 0}\n\
.news-list .thumb img{float:left;width:160px;height:107px;margin-right:12px}\n\
.article h1{font-size:24px;text-align:center}.info span{margin-right:10px;color:#888}\n\
.content p{margin:0 0 1em}.pagelist a,.pagelist span{margin:0 3px}\n\
.footer{background:#333;color:#999;margin-top:20px;padding:20px 0;font-size:12px}\n";

const JS: &str = "(function () {\n  var count = document.getElementById('comment-count');\n\
  if (count) { count.textContent = '0'; }\n\
  window.portal = { init: function (opts) { return opts; } };\n})();\n";

/// A valid 12×8 RGB PNG.
pub(crate) const PNG: [u8; 74] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x42, 0x86, 0x89, 0xa6, 0x00,
    0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x38, 0x61, 0xa3, 0x41, 0x10, 0x31, 0x8c,
    0x2a, 0x02, 0x00, 0x4a, 0xf7, 0x70, 0x81, 0x5e, 0xd7, 0x03, 0xff, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
