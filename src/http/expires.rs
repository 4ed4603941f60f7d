//! `X-Accel-Expires: @<unix second>` for nginx's cache in front: an answer
//! kept there only until the end of the second it was made or revalidated
//! in, so a change the instances have seen reaches nginx's clients within a
//! second, while nginx still answers every other request of that second
//! itself.
//!
//! Absolute rather than `X-Accel-Expires: 1` or `proxy_cache_valid 1s`:
//! nginx keeps validity in whole seconds and takes an entry as expired once
//! its last valid second is *before* the current one, so "1 s from now"
//! means up to 2 s. nginx reads the header (it overrides `Cache-Control`)
//! and hides it from clients, who get `Cache-Control` as before.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The header's name.
pub const X_ACCEL_EXPIRES: &str = "X-Accel-Expires";

thread_local! {
    /// The value last made on this thread and the second it names: made
    /// again only when the second changes, not per answer.
    static VALUE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// The current unix second (0 for a clock before 1970, which nginx then
/// takes as already expired).
pub fn unix_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// `@<the current unix second>`: expired for nginx once this second is
/// over. Owned, as Rocket's header map takes only `'static` or owned values;
/// a copy of the string this thread formatted when the second began.
pub fn end_of_this_second() -> String {
    let second = unix_second();
    VALUE.with(|value| {
        let mut value = value.borrow_mut();
        if value.0 != second {
            let mut digits = itoa::Buffer::new();
            value.1.clear();
            value.1.push('@');
            value.1.push_str(digits.format(second));
            value.0 = second;
        }
        value.1.clone()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_value_names_the_current_second() {
        let before = unix_second();
        let value = end_of_this_second();
        let after = unix_second();
        let named: u64 = value.strip_prefix('@').unwrap().parse().unwrap();
        assert!((before..=after).contains(&named), "{value}");
        // Made again within the same second: the same text.
        if unix_second() == named {
            assert_eq!(end_of_this_second(), value);
        }
    }
}
