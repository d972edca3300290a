//! Keeps keys out of every message we show: the exact keys of a call are replaced wherever
//! they appear, and anything shaped like a well-known provider key is masked too (provider
//! error bodies sometimes echo a key back, e.g. OpenAI's "Incorrect API key provided: ...").

/// The masked form of a secret.
pub const MASK: &str = "[REDACTED]";

/// Prefixes of key formats in the wild. A token starting with one of these and followed by
/// at least 8 key characters is masked, keeping only the prefix.
const KEY_PREFIXES: &[&str] = &[
    "sk-ant-", "sk-proj-", "sk-or-", "sk-", "sk_", "gsk_", "xai-", "pplx-", "nvapi-", "fw_",
    "AIza", "hf_", "r8_", "csk-", "tgp_v1_", "ya29.",
];

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Replace each of `secrets` (ignoring empty and very short ones) and every key-shaped
/// token in `text`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, MASK);
        }
    }
    mask_key_shapes(&out)
}

/// A URL fit to show: credentials in its user-info (`http://user:secret@host/v1`) become
/// [`MASK`] (`http://[REDACTED]@host/v1`); any other text is returned as is.
pub fn url_for_display(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return url.into();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}{MASK}{}", &url[..authority_start], &rest[at..]).into(),
        None => url.into(),
    }
}

/// The secret part of a URL's user-info: the password of `http://user:SECRET@host`, or the
/// whole user-info when it has no password (`https://TOKEN@host`, a token as user name).
/// `None` for a URL without user-info.
pub fn url_user_info_secret(url: &str) -> Option<&str> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_len].rfind('@')?;
    let user_info = &rest[..at];
    let secret = match user_info.split_once(':') {
        Some((_, password)) => password,
        None => user_info,
    };
    (!secret.is_empty()).then_some(secret)
}

/// Mask key-shaped tokens (see [`KEY_PREFIXES`]) and the value after `Bearer `.
pub fn mask_key_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        // Only consider token starts: beginning of text or after a non-key character.
        let at_token_start = out.is_empty() || !out.chars().next_back().is_some_and(is_key_char);
        if at_token_start {
            for prefix in KEY_PREFIXES {
                if let Some(after) = rest.strip_prefix(prefix) {
                    let body_len: usize = after
                        .chars()
                        .take_while(|c| is_key_char(*c))
                        .map(char::len_utf8)
                        .sum();
                    if body_len >= 8 {
                        out.push_str(prefix);
                        out.push_str("****");
                        rest = &after[body_len..];
                        continue 'outer;
                    }
                }
            }
            if let Some(after) = rest.strip_prefix("Bearer ") {
                let body_len: usize = after
                    .chars()
                    .take_while(|c| is_key_char(*c))
                    .map(char::len_utf8)
                    .sum();
                if body_len >= 8 {
                    out.push_str("Bearer ");
                    out.push_str(MASK);
                    rest = &after[body_len..];
                    continue 'outer;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_user_info_is_masked() {
        for (url, shown) in [
            (
                "http://user:SECRET@host:8080/v1",
                "http://[REDACTED]@host:8080/v1",
            ),
            (
                "https://SECRET@host/v1?x=a@b",
                "https://[REDACTED]@host/v1?x=a@b",
            ),
            ("http://a:b@c@host", "http://[REDACTED]@host"),
            ("http://host/v1/u@x", "http://host/v1/u@x"),
            ("https://api.openai.com/v1", "https://api.openai.com/v1"),
            ("", ""),
        ] {
            assert_eq!(url_for_display(url), shown, "{url}");
        }
    }

    #[test]
    fn url_user_info_secret_is_the_password_or_the_token() {
        for (url, secret) in [
            ("http://user:SECRET@host:8080/v1", Some("SECRET")),
            ("https://TOKEN@host/v1?x=a@b", Some("TOKEN")),
            ("http://a:b@c@host", Some("b@c")),
            ("http://user:@host", None),
            ("http://host/v1/u@x", None),
            ("https://api.openai.com/v1", None),
            ("", None),
        ] {
            assert_eq!(url_user_info_secret(url), secret, "{url}");
        }
    }

    #[test]
    fn replaces_exact_secret() {
        assert_eq!(
            redact("bad key my-secret-value here", &["my-secret-value"]),
            "bad key [REDACTED] here"
        );
    }

    #[test]
    fn masks_key_shapes() {
        assert_eq!(
            mask_key_shapes("Incorrect API key provided: sk-proj-abcdefghijkl1234."),
            "Incorrect API key provided: sk-proj-****."
        );
        assert_eq!(
            mask_key_shapes("Authorization: Bearer abcdefghijklmnop"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(mask_key_shapes("task-force"), "task-force");
        assert_eq!(mask_key_shapes("desk-12345678901"), "desk-12345678901");
    }
}
