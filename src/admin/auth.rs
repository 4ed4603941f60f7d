//! Admin tokens: made by `atelier token new`, configured only as SHA-256
//! hashes (`ATELIER_ADMIN_TOKENS="name:sha256hex,..."`), and checked in
//! constant time against every configured hash.
//!
//! A token is 256 bits from the operating system's generator, so hashing it
//! once is enough (no password stretching: nothing to guess). Only the hash
//! is kept anywhere; the token itself is printed once, and no code here
//! logs or echoes what a client sent.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every token starts with: a token pasted where its hash belongs is
/// told apart from a hash (which is bare hex).
pub const TOKEN_PREFIX: &str = "atl_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// The longest token name.
const MAX_NAME_LEN: usize = 64;

/// The tokens an instance accepts, by name.
#[derive(Clone, Default)]
pub struct AdminTokens(Vec<ConfiguredToken>);

#[derive(Clone)]
struct ConfiguredToken {
    name: String,
    hash: [u8; 32],
}

/// A configuration the tokens cannot be read from; the message names the
/// entry by position (and name), never repeating the rest of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ATELIER_ADMIN_TOKENS, entry {position}: {problem}")]
pub struct TokenConfigError {
    position: usize,
    problem: String,
}

impl AdminTokens {
    /// Reads `name:sha256hex` entries separated by commas; blank: none.
    pub fn parse(config: &str) -> Result<AdminTokens, TokenConfigError> {
        let mut tokens: Vec<ConfiguredToken> = Vec::new();
        for (index, entry) in config.split(',').map(str::trim).enumerate() {
            let position = index + 1;
            let error = |problem: String| TokenConfigError { position, problem };
            if entry.is_empty() {
                if config.trim().is_empty() {
                    break;
                }
                return Err(error("the entry is empty".into()));
            }
            let Some((name, hash)) = entry.split_once(':') else {
                return Err(error(
                    "expected NAME:SHA256HEX, as `atelier token new NAME` prints it".into(),
                ));
            };
            if !valid_name(name) {
                return Err(error(format!(
                    "a token name is 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.'"
                )));
            }
            if hash.starts_with(TOKEN_PREFIX) {
                return Err(error(format!(
                    "the entry for {name:?} holds a token, not its hash: configure the line \
                     `atelier token new` printed, and make a new token (this one was exposed)"
                )));
            }
            let hash = parse_hash(hash).ok_or_else(|| {
                error(format!(
                    "the hash of {name:?} must be 64 hexadecimal digits (SHA-256)"
                ))
            })?;
            if tokens.iter().any(|t| t.name == name) {
                return Err(error(format!("{name:?} is configured twice")));
            }
            tokens.push(ConfiguredToken {
                name: name.to_string(),
                hash,
            });
        }
        Ok(AdminTokens(tokens))
    }

    /// Whether no token is configured (then there is no admin API).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names of the configured tokens.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|t| t.name.as_str())
    }

    /// The name of the configured token `presented` is, if any. Its hash is
    /// compared with every configured one, each in constant time, so the
    /// time taken tells nothing of how much of a hash matched.
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for token in &self.0 {
            if bool::from(token.hash.ct_eq(&digest)) {
                found = Some(token.name.as_str());
            }
        }
        found
    }
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Whether `name` can name a token: it goes into the configuration and the
/// audit log, so it stays plain.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A token just made: the token, to hand over once, and the configuration
/// entry that accepts it.
#[derive(Debug)]
pub struct NewToken {
    pub token: String,
    pub entry: String,
}

/// Makes a token named `name` from the operating system's generator.
pub fn new_token(name: &str) -> Result<NewToken, String> {
    if !valid_name(name) {
        return Err(format!(
            "a token name is 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', got {name:?}"
        ));
    }
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("the system's generator: {e}"))?;
    let token = format!("{TOKEN_PREFIX}{}", hex(&bytes));
    let entry = format!("{name}:{}", hash_hex(&token));
    Ok(NewToken { token, entry })
}

/// The SHA-256 of `token` in hexadecimal, as the configuration holds it.
pub fn hash_hex(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut out, b| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

/// The token of an `Authorization: Bearer <token>` header value (the scheme
/// in any case, RFC 7235).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_new_token_is_accepted_by_its_entry_and_no_other() {
        let made = new_token("ops-1").unwrap();
        assert!(made.token.starts_with(TOKEN_PREFIX));
        assert_eq!(made.token.len(), TOKEN_PREFIX.len() + 64);
        let other = new_token("ops-2").unwrap();
        assert_ne!(made.token, other.token);
        let tokens = AdminTokens::parse(&format!("{}, {}", made.entry, other.entry)).unwrap();
        assert_eq!(tokens.verify(&made.token), Some("ops-1"));
        assert_eq!(tokens.verify(&other.token), Some("ops-2"));
        assert_eq!(tokens.verify("atl_0000"), None);
        assert_eq!(tokens.verify(&made.entry), None);
        assert_eq!(format!("{tokens:?}"), r#"["ops-1", "ops-2"]"#);
    }

    #[test]
    fn configurations_that_cannot_be_read_say_why_without_repeating_the_entry() {
        assert!(AdminTokens::parse("").unwrap().is_empty());
        assert!(AdminTokens::parse("  ").unwrap().is_empty());
        let hash = "ab".repeat(32);
        let token = format!("atl_{}", "cd".repeat(32));
        for (config, expected) in [
            ("x".to_string(), "entry 1: expected NAME:SHA256HEX"),
            (format!("a:{hash},"), "entry 2: the entry is empty"),
            (format!("a b:{hash}"), "entry 1: a token name is"),
            (
                "a:abc".to_string(),
                "the hash of \"a\" must be 64 hexadecimal",
            ),
            (
                format!("a:{hash},a:{hash}"),
                "entry 2: \"a\" is configured twice",
            ),
            (format!("a:{token}"), "holds a token, not its hash"),
        ] {
            let message = AdminTokens::parse(&config).unwrap_err().to_string();
            assert!(message.contains(expected), "{config}: {message}");
            assert!(!message.contains(&hash) && !message.contains(&token));
        }
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
