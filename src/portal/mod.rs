//! Sample portal (placeholder).
