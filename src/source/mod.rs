//! Getting items out of the web: polite fetching and extraction.

pub mod dates;
pub mod feed;
pub mod fetch;
pub mod html;
