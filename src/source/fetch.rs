//! HTTP fetching (placeholder).
