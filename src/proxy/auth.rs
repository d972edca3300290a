//! Authentication: reading the caller's key from the request, and the [`Authenticator`]
//! seam that turns it into a [`Principal`].
//!
//! The gateway ships [`MasterKeyAuth`] (the master key only, or no auth at all when no
//! `master_key` is configured, as LiteLLM's proxy). The state plane replaces it with one
//! that also knows virtual keys. Either way the gateway itself then enforces the route's
//! [`Access`] (admin routes need an admin principal), so an authenticator cannot forget it.

use axum::http::{self as http, HeaderMap};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::error::ProxyError;
use super::principal::{Access, Principal, RouteKind};

/// Turns the presented key (if any) into the caller's [`Principal`].
///
/// Called once per request, for every route except [`RouteKind::Liveness`], after the
/// route was matched. Return [`ProxyError::Unauthorized`] for a missing, wrong, expired,
/// blocked or deleted key. Compare secrets in constant time ([`constant_time_eq`]).
pub trait Authenticator: Send + Sync + 'static {
    fn authenticate<'a>(
        &'a self,
        key: Option<&'a str>,
        route: RouteKind,
    ) -> BoxFuture<'a, Result<Principal, ProxyError>>;
}

/// Constant-time equality of two secrets (the length may leak; the content does not).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The master key, or no auth at all.
pub struct MasterKeyAuth {
    master_key: Option<SecretString>,
}

impl MasterKeyAuth {
    /// `None`: no master key configured, so every caller is admitted as admin (LiteLLM's
    /// proxy without `master_key` checks no key either). Only for local use.
    pub fn new(master_key: Option<SecretString>) -> Self {
        MasterKeyAuth { master_key }
    }

    /// Whether `key` is the master key (constant time).
    pub fn is_master(&self, key: &str) -> bool {
        self.master_key
            .as_ref()
            .is_some_and(|m| constant_time_eq(m.expose_secret(), key))
    }

    pub fn is_open(&self) -> bool {
        self.master_key.is_none()
    }
}

impl Authenticator for MasterKeyAuth {
    fn authenticate<'a>(
        &'a self,
        key: Option<&'a str>,
        _route: RouteKind,
    ) -> BoxFuture<'a, Result<Principal, ProxyError>> {
        let result = if self.is_open() {
            Ok(Principal::admin())
        } else {
            match key {
                None => Err(ProxyError::Unauthorized(NO_KEY.to_owned())),
                Some(k) if self.is_master(k) => Ok(Principal::admin()),
                Some(_) => Err(ProxyError::Unauthorized(WRONG_KEY.to_owned())),
            }
        };
        Box::pin(std::future::ready(result))
    }
}

pub(crate) const NO_KEY: &str = "Authentication Error: no API key passed in. Send it as 'Authorization: Bearer <key>' (or x-api-key / api-key / x-goog-api-key).";
pub(crate) const WRONG_KEY: &str = "Authentication Error: invalid API key.";

/// Headers a key may come in, besides `Authorization: Bearer` (Anthropic's, Azure's and
/// Google's SDKs use these).
const KEY_HEADERS: &[&str] = &["x-api-key", "api-key", "x-goog-api-key"];

/// The key the request presents: `None` when it presents none. Several headers carrying
/// *different* keys, or one header given twice, are refused rather than guessed between.
pub fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, ProxyError> {
    let mut found: Option<&str> = None;
    fn take<'h>(found: &mut Option<&'h str>, value: &'h str) -> Result<(), ProxyError> {
        match *found {
            Some(prev) if !constant_time_eq(prev, value) => Err(ProxyError::Unauthorized(
                "Authentication Error: the request carries more than one different API key."
                    .to_owned(),
            )),
            _ => {
                *found = Some(value);
                Ok(())
            }
        }
    }
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    if let Some(v) = values.next() {
        if values.next().is_some() {
            return Err(duplicate("authorization"));
        }
        let v = header_text(v)?;
        let token = bearer(v).ok_or_else(|| {
            ProxyError::Unauthorized(
                "Authentication Error: the Authorization header must be 'Bearer <key>'.".to_owned(),
            )
        })?;
        take(&mut found, token)?;
    }
    for name in KEY_HEADERS {
        let mut values = headers.get_all(*name).iter();
        if let Some(v) = values.next() {
            if values.next().is_some() {
                return Err(duplicate(name));
            }
            take(&mut found, header_text(v)?.trim())?;
        }
    }
    Ok(found.filter(|k| !k.is_empty()))
}

fn duplicate(name: &str) -> ProxyError {
    ProxyError::Unauthorized(format!(
        "Authentication Error: the {name} header is given more than once."
    ))
}

fn header_text(v: &http::HeaderValue) -> Result<&str, ProxyError> {
    v.to_str().map_err(|_| {
        ProxyError::Unauthorized("Authentication Error: the API key is not ASCII.".to_owned())
    })
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Authenticate a request for `route` and enforce the route's [`Access`].
pub async fn authorize(
    auth: &dyn Authenticator,
    headers: &HeaderMap,
    route: RouteKind,
) -> Result<Option<Principal>, ProxyError> {
    let access = route.access();
    if access == Access::Public {
        return Ok(None);
    }
    let key = presented_key(headers)?;
    let principal = auth.authenticate(key, route).await?;
    if access == Access::Admin && !principal.is_admin() {
        // 401, as LiteLLM answers a non-admin key on an admin route.
        return Err(ProxyError::Unauthorized(format!(
            "Authentication Error: only the master key may call the {} routes.",
            route.as_str()
        )));
    }
    Ok(Some(principal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn keys_come_from_any_of_the_four_headers() {
        for h in [
            headers(&[("authorization", "Bearer sk-1")]),
            headers(&[("authorization", "bearer  sk-1 ")]),
            headers(&[("x-api-key", "sk-1")]),
            headers(&[("api-key", "sk-1")]),
            headers(&[("x-goog-api-key", "sk-1")]),
            headers(&[("authorization", "Bearer sk-1"), ("x-api-key", "sk-1")]),
        ] {
            assert_eq!(presented_key(&h).ok().flatten(), Some("sk-1"), "{h:?}");
        }
        assert_eq!(presented_key(&HeaderMap::new()).ok().flatten(), None);
    }

    #[test]
    fn conflicting_or_repeated_keys_are_refused() {
        for h in [
            headers(&[("authorization", "Bearer sk-1"), ("x-api-key", "sk-2")]),
            headers(&[
                ("authorization", "Bearer sk-1"),
                ("authorization", "Bearer sk-1"),
            ]),
            headers(&[("x-api-key", "sk-1"), ("x-api-key", "sk-2")]),
            headers(&[("authorization", "Basic c2stMQ==")]),
        ] {
            assert!(
                matches!(presented_key(&h), Err(ProxyError::Unauthorized(_))),
                "{h:?}"
            );
        }
    }

    #[tokio::test]
    async fn master_key_auth_admits_only_the_master_key() {
        let auth = MasterKeyAuth::new(Some(SecretString::from("sk-master")));
        let ok = authorize(
            &auth,
            &headers(&[("authorization", "Bearer sk-master")]),
            RouteKind::Admin,
        )
        .await;
        assert!(matches!(ok, Ok(Some(p)) if p.is_admin()));
        for h in [
            headers(&[]),
            headers(&[("authorization", "Bearer sk-maste")]),
            headers(&[("authorization", "Bearer sk-master2")]),
        ] {
            let r = authorize(&auth, &h, RouteKind::ChatCompletions).await;
            assert!(matches!(r, Err(ProxyError::Unauthorized(_))), "{h:?}");
        }
        let live = authorize(&auth, &headers(&[]), RouteKind::Liveness).await;
        assert!(matches!(live, Ok(None)));
    }

    #[tokio::test]
    async fn without_a_master_key_everything_is_open() {
        let auth = MasterKeyAuth::new(None);
        let r = authorize(&auth, &headers(&[]), RouteKind::Admin).await;
        assert!(matches!(r, Ok(Some(p)) if p.is_admin()));
    }

    #[tokio::test]
    async fn virtual_keys_cannot_reach_admin_routes() {
        struct Virtual;
        impl Authenticator for Virtual {
            fn authenticate<'a>(
                &'a self,
                _key: Option<&'a str>,
                _route: RouteKind,
            ) -> BoxFuture<'a, Result<Principal, ProxyError>> {
                Box::pin(async { Ok(Principal::default()) })
            }
        }
        let h = headers(&[("authorization", "Bearer sk-virtual")]);
        let r = authorize(&Virtual, &h, RouteKind::Admin).await;
        assert!(matches!(r, Err(ProxyError::Unauthorized(_))));
        let r = authorize(&Virtual, &h, RouteKind::ChatCompletions).await;
        assert!(matches!(r, Ok(Some(_))));
    }
}
