//! Mail bodies from the minijinja templates embedded in the binary (`templates/`).
//!
//! Every mail has a `.txt` and an `.html` template; auto-escaping follows the name, so values
//! are HTML-escaped in `.html` templates and written as they are in `.txt` ones. Templates
//! only ever see plain text: markup comes from the templates alone.

use std::sync::OnceLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, Value};
use serde::Serialize;

use super::compose::ComposeError;

const TEMPLATES: [(&str, &str); 8] = [
    ("item.txt", include_str!("templates/item.txt")),
    ("item.html", include_str!("templates/item.html")),
    ("digest.txt", include_str!("templates/digest.txt")),
    ("digest.html", include_str!("templates/digest.html")),
    ("confirm.txt", include_str!("templates/confirm.txt")),
    ("confirm.html", include_str!("templates/confirm.html")),
    ("footer.txt", include_str!("templates/footer.txt")),
    ("footer.html", include_str!("templates/footer.html")),
];

/// A mail's two renderings.
#[derive(Debug, Clone)]
pub(super) struct Bodies {
    /// `text/plain`.
    pub text: String,
    /// `text/html`.
    pub html: String,
}

/// Renders `{name}.txt` and `{name}.html` with the same context.
pub(super) fn render(name: &str, ctx: impl Serialize) -> Result<Bodies, ComposeError> {
    let ctx = Value::from(Serde(ctx));
    let one = |file: String| {
        templates()
            .get_template(&file)
            .and_then(|t| t.render(ctx.clone()))
            .map_err(|source| ComposeError::Template { name: file, source })
    };
    Ok(Bodies {
        text: one(format!("{name}.txt"))?,
        html: one(format!("{name}.html"))?,
    })
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Block tags on lines of their own leave no blank lines in the text mails.
        // Building a syntax from the default delimiters cannot fail.
        if let Ok(syntax) = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.add_filter("href", href);
        for (name, source) in TEMPLATES {
            // A broken template is a bug caught by the unit tests; at run time composing
            // that mail then fails (get_template errs) instead of the process dying.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!("mail template {name}: {e:#}");
            }
        }
        env
    })
}

/// `href` filter: a URL for an attribute value, with `&<>"'` escaped but `/` kept readable
/// (auto-escape would write `&#x2f;`; both are valid HTML, but mail readers show the source).
fn href(url: String) -> Value {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Value::from_safe_string(out)
}
