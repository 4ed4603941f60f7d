//! Type safe and URI safe formatting types and traits.

mod uri_display;
mod formatter;
mod from_uri_param;
mod encoding;
mod part;

pub use self::formatter::*;
pub use self::uri_display::*;
pub use self::from_uri_param::*;
pub use self::part::*;

pub(crate) use self::encoding::*;
