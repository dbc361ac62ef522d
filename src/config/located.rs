//! Configuration errors that name the file, line and key, and the helpers that locate them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One mistake in a configuration file or the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `None` for an environment variable.
    pub file: Option<PathBuf>,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// Dotted key path, e.g. `listing[0].entry`, or the variable name.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) if self.line > 0 => write!(
                f,
                "{}:{}: key `{}`: {}",
                file.display(),
                self.line,
                self.key,
                self.message
            ),
            Some(file) => write!(f, "{}: key `{}`: {}", file.display(), self.key, self.message),
            None => write!(f, "environment variable {}: {}", self.key, self.message),
        }
    }
}

/// Every mistake found while loading; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A TOML document being validated: its path and text, and the errors found so far.
pub struct Doc<'a> {
    path: &'a Path,
    text: &'a str,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Doc<'a> {
    /// Starts collecting errors for one file.
    pub fn new(path: &'a Path, text: &'a str, errors: &'a mut Vec<ConfigError>) -> Self {
        Self { path, text, errors }
    }

    /// Records an error at a byte span under a key.
    pub fn error(&mut self, span: Option<Range<usize>>, key: impl Into<String>, message: impl Into<String>) {
        let line = span.map_or(0, |s| line_of(self.text, s.start));
        self.errors.push(ConfigError {
            file: Some(self.path.to_owned()),
            line,
            key: key.into(),
            message: message.into(),
        });
    }

    /// Records an error found elsewhere (e.g. in the environment).
    pub fn push(&mut self, e: ConfigError) {
        self.errors.push(e);
    }

    /// How many errors have been recorded (in every file so far).
    pub fn count(&self) -> usize {
        self.errors.len()
    }

    /// Records a TOML syntax or type error, naming the key found at its position.
    pub fn toml_error(&mut self, e: &toml::de::Error) {
        let span = e.span();
        let key = span
            .clone()
            .map(|s| key_at(self.text, s))
            .unwrap_or_else(|| "(document)".into());
        let message = e.message().trim().replace('\n', " ");
        self.error(span, key, message);
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The dotted key at a span: the enclosing `[table]` plus the key on that line.
fn key_at(text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = text[line_start..line_end].trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    if line.starts_with('[') {
        return line.trim_matches(|c| c == '[' || c == ']').trim().to_owned();
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| text[span.clone()].trim().to_owned());
    match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_under_their_table() {
        let text = "a = 1\n[[listing]]\nentyr = \"x\"\n";
        let at = text.find("entyr").unwrap();
        assert_eq!(key_at(text, at..at + 5), "listing.entyr");
        assert_eq!(line_of(text, at), 3);
        assert_eq!(key_at(text, 0..1), "a");
    }
}
