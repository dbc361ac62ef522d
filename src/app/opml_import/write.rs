//! Writing one imported recipe: validated first, written through a temporary file that is
//! linked into place only if the name is still free, then loaded back.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::Outcome;
use super::recipe_text::{NewRecipe, render};
use crate::config::{Config, ConfigErrors, load_recipe_file, validate_recipe};

/// Why one recipe was not written (the others go on).
#[derive(Debug, thiserror::Error)]
pub(super) enum RecipeError {
    #[error("cannot write the recipe as TOML")]
    Render(#[from] toml::ser::Error),
    #[error("the generated recipe does not validate")]
    Invalid(#[source] ConfigErrors),
    #[error("the file appeared while importing")]
    Exists,
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("written but it did not load back, so it was removed: {0}")]
    ReadBack(String),
}

/// Renders, validates and (unless `dry_run`) writes one recipe, then loads it back.
pub(super) fn write_recipe(
    config: &Config,
    dir: &Path,
    recipe: &NewRecipe,
    opml_name: &str,
    dry_run: bool,
) -> Result<Outcome, RecipeError> {
    let text = render(recipe, opml_name)?;
    let path = dir.join(format!("{}.toml", recipe.id));
    let defaults = &config.poll.defaults;
    validate_recipe(&path, &text, defaults, config.allow_private).map_err(RecipeError::Invalid)?;
    if dry_run {
        return Ok(Outcome::WouldWrite(text));
    }
    persist_new(dir, &path, &text)?;
    let problem = match load_recipe_file(&path, defaults, config.allow_private) {
        Ok(r) if r.feeds.len() == 1 && r.feeds[0].url == recipe.url => return Ok(Outcome::Written),
        Ok(r) => format!(
            "it reads {:?}",
            r.feeds.iter().map(|f| f.url.as_str()).collect::<Vec<_>>()
        ),
        Err(errs) => errs.to_string(),
    };
    // Best effort: the file is ours and broken; leaving it would break `config check`.
    let _ = std::fs::remove_file(&path);
    Err(RecipeError::ReadBack(problem))
}

/// Writes `text` to a temporary file in `dir`, flushes it to disk, and links it to `path`
/// only if no file has that name: a crash leaves no half-written recipe, and a recipe that
/// appeared meanwhile is never overwritten.
fn persist_new(dir: &Path, path: &Path, text: &str) -> Result<(), RecipeError> {
    let io = |source| RecipeError::Io {
        path: path.to_owned(),
        source,
    };
    let mut builder = tempfile::Builder::new();
    // Not `*.toml`, so a reload in between never sees it as a recipe.
    builder.prefix(".import-").suffix(".tmp");
    // Readable by the daemon's user as well, like any recipe written by hand.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(RecipeError::Exists),
        Err(e) => Err(io(e.error)),
    }
}
