//! The one body type the gateway hands to hyper, in both directions.
//!
//! Bodies from hyper (a client's upload, the daemon's answer), from the decoders and from
//! the gateway itself (errors, rewritten contexts) all end up behind [`Body`], so that a
//! handler can return any of them and hyper sees a single type.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// The error every body carries. Boxed because each source has its own error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed body of [`Bytes`] frames.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Wraps any body into [`Body`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

/// An empty body.
pub fn empty() -> Body {
    boxed(http_body_util::Empty::<Bytes>::new())
}

/// A complete, small body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    boxed(Full::new(bytes.into()))
}
