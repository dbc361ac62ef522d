//! Getting items out of the web: polite fetching and extraction.

pub mod fetch;
