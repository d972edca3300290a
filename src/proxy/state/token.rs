//! Virtual keys as LiteLLM makes and stores them: `sk-` + 16 random bytes in URL-safe
//! base64 (Python's `secrets.token_urlsafe(16)`), kept only as the SHA-256 hex digest of
//! the whole key (LiteLLM's `hash_token`), so a LiteLLM database's keys keep working.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Random bytes in a generated key (LiteLLM's `LENGTH_OF_LITELLM_GENERATED_KEY`).
pub const KEY_RANDOM_BYTES: usize = 16;

/// Shortest key a caller may choose with `key` (LiteLLM's `MINIMUM_CUSTOM_KEY_LENGTH`).
pub const MIN_CUSTOM_KEY_LENGTH: usize = 16;

/// The operating system's random generator failed (it does not, in practice).
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| RandomError)?;
    Ok(buf)
}

/// A new virtual key: `sk-` and 22 URL-safe characters.
pub fn generate_key() -> Result<String, RandomError> {
    let bytes = random_bytes::<KEY_RANDOM_BYTES>()?;
    Ok(format!("sk-{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// A random UUID (version 4), for team and budget ids as LiteLLM makes them.
pub fn uuid4() -> Result<String, RandomError> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// LiteLLM's `hash_token`: the SHA-256 hex digest of the key's UTF-8 bytes.
pub fn hash_token(key: &str) -> String {
    hex(digest(&SHA256, key.as_bytes()).as_ref())
}

/// LiteLLM's `hash_token_if_needed`, for admin arguments that name a key: an `sk-` key is
/// hashed, anything else is taken to be a hash already. Never used to authenticate: a
/// presented credential is always hashed.
pub fn hash_if_needed(key_or_hash: &str) -> String {
    if key_or_hash.starts_with("sk-") {
        hash_token(key_or_hash)
    } else {
        key_or_hash.to_owned()
    }
}

/// LiteLLM's `key_name`: `sk-...` and the last four characters (only `sk-...` for a key
/// too short to show any).
pub fn abbreviate(key: &str) -> String {
    if key.len() < MIN_CUSTOM_KEY_LENGTH {
        return "sk-...".to_owned();
    }
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_as_litellm_hashes_them() {
        // hashlib.sha256("sk-1234".encode()).hexdigest()
        assert_eq!(
            hash_token("sk-1234"),
            "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
        );
        // hashlib.sha256("sk-QWrxEynunsNpV1zT48HIrw".encode()).hexdigest()
        assert_eq!(
            hash_token("sk-QWrxEynunsNpV1zT48HIrw"),
            "971d630133b8b43d95355fe5fd42fa2273831f1cf23c953f417a256e62344c4a"
        );
        assert_eq!(hash_if_needed("sk-1234"), hash_token("sk-1234"));
        assert_eq!(hash_if_needed("88dc28d0"), "88dc28d0");
    }

    #[test]
    fn generated_keys_look_like_litellms() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("sk-"));
        assert_eq!(a.len(), 3 + 22);
        assert!(a[3..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(abbreviate(&a), format!("sk-...{}", &a[a.len() - 4..]));
        assert_eq!(abbreviate("sk-short"), "sk-...");
        let id = uuid4().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
