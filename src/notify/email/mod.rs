//! Email: addresses checked at the edge, signed links, composed mail and the SMTP sender.
//!
//! - [`address`](mod@address): [`normalize_address`] checks an address typed into the
//!   subscribe form (refusing line breaks and other header-injection attempts) and gives
//!   the form it is stored in, with messages in Chinese for the page.
//! - [`links`](mod@links): [`Links`] builds the absolute unsubscribe, manage and confirm URLs.
//!   Unsubscribe and manage tokens are the subscription id with an HMAC under
//!   `TIDINGS_SECRET_KEY` and never expire; confirmation tokens are random and stored only
//!   as their hash ([`new_confirmation_token`], [`hash_token`]).
//! - [`compose`](mod@compose): [`item_mail`], [`digest_mail`] and [`confirmation_mail`] turn
//!   items into multipart text + HTML messages with a stable `Message-ID` and one-click
//!   `List-Unsubscribe`, from the minijinja templates in `templates/` (rendered by `render`,
//!   showing items as `view` prepares them).
//! - [`group`](mod@group): [`group_digest`] lays a digest out by region, then tag.
//! - [`send`](mod@send): [`Mailer`] sends through a pooled SMTP connection and sorts
//!   failures into [`SendFailure::Temporary`] (retry) and [`SendFailure::Permanent`] (bounce).
//!
//! The SMTP URL and the secret key never appear in an error, a log line or a `Debug` output.

pub mod address;
pub mod compose;
pub mod group;
pub mod links;
mod pool;
mod render;
pub mod send;
mod view;

pub use address::{AddressError, normalize_address};
pub use compose::{ComposeError, MailContext, confirmation_mail, digest_mail, item_mail};
pub use group::{DigestGroup, DigestSection, OTHER_REGION, OTHER_TAG, group_digest};
pub use links::{Links, Purpose, hash_token, new_confirmation_token};
pub use send::{MailError, Mailer, SendFailure};

#[cfg(test)]
mod tests;
