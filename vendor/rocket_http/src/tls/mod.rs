mod listener;

#[cfg(feature = "mtls")]
pub mod mtls;

pub use rustls;
pub use listener::{TlsListener, Config};
pub mod util;
