mod media_type;
mod accept;
mod checkers;
mod indexed;

pub use self::media_type::*;
pub use self::accept::*;

pub mod uri;

pub use self::indexed::*;
