#[macro_use]
mod known_media_types;
mod media_type;
mod content_type;
mod accept;
mod header;

pub use self::content_type::ContentType;
pub use self::accept::{Accept, QMediaType};
pub use self::media_type::MediaType;
pub use self::header::{Header, HeaderMap};

pub(crate) use self::media_type::Source;
