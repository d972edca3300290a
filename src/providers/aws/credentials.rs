//! Where a call's AWS credentials come from, resolved before any request (so missing ones
//! fail fast, naming everything looked for) and fetched, for temporary credentials, right
//! before the request is signed.
//!
//! Order, as in LiteLLM (each `aws_*` parameter falls back to its `AWS_*` variable):
//! 1. `aws_web_identity_token` + `aws_role_name` → STS `AssumeRoleWithWebIdentity`;
//! 2. `aws_role_name` → STS `AssumeRole`, signed with the keys given (or the default chain);
//! 3. `aws_profile_name` → that profile of the shared files;
//! 4. `aws_access_key_id` + `aws_secret_access_key` (+ `aws_session_token`);
//! 5. the default chain: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS), then the
//!    profile `AWS_PROFILE` (or `default`) of the shared files.
//!
//! A profile may hold keys, or `role_arn` with `source_profile` /
//! `credential_source = Environment` / `web_identity_token_file`. Temporary credentials
//! are cached per source, shared by every call, and replaced five minutes before they
//! expire.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::profile::Profiles;
use super::sts::{self, RoleRequest, StsEndpoint};
use crate::error::{ErrorKind, LlmError};
use crate::providers::cached::Cached;

/// Temporary credentials are replaced this long before they expire.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);
/// The session name when none is given.
pub const DEFAULT_SESSION_NAME: &str = "llmswitch-session";
/// Profile chains longer than this are a configuration loop.
const MAX_PROFILE_DEPTH: usize = 8;

/// The `aws_*` settings of a call, each falling back to its `AWS_*` variable.
#[derive(Debug, Default, Clone)]
pub struct AwsSettings {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub session_token: Option<SecretString>,
    pub region_name: Option<String>,
    pub profile_name: Option<String>,
    pub role_name: Option<String>,
    pub session_name: Option<String>,
    pub web_identity_token: Option<SecretString>,
    pub sts_endpoint: Option<String>,
    pub external_id: Option<String>,
    pub bedrock_runtime_endpoint: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

impl AwsSettings {
    /// Read the call's `aws_*` options, falling back to the environment.
    pub fn from_options(options: &Map<String, Value>) -> AwsSettings {
        let get = |key: &str, var: &str| {
            options
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .or_else(|| env(var))
        };
        let secret = |key: &str, var: &str| get(key, var).map(SecretString::from);
        AwsSettings {
            access_key_id: get("aws_access_key_id", "AWS_ACCESS_KEY_ID"),
            secret_access_key: secret("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
            session_token: secret("aws_session_token", "AWS_SESSION_TOKEN"),
            region_name: get("aws_region_name", "AWS_REGION_NAME"),
            profile_name: get("aws_profile_name", "AWS_PROFILE_NAME"),
            role_name: get("aws_role_name", "AWS_ROLE_NAME"),
            session_name: get("aws_session_name", "AWS_SESSION_NAME"),
            web_identity_token: secret("aws_web_identity_token", "AWS_WEB_IDENTITY_TOKEN"),
            sts_endpoint: get("aws_sts_endpoint", "AWS_STS_ENDPOINT")
                .or_else(|| env("AWS_ENDPOINT_URL_STS")),
            external_id: get("aws_external_id", "AWS_EXTERNAL_ID"),
            bedrock_runtime_endpoint: get(
                "aws_bedrock_runtime_endpoint",
                "AWS_BEDROCK_RUNTIME_ENDPOINT",
            ),
        }
    }

    /// The `aws_*` keys that hold secrets (kept out of a target's options).
    pub const SECRET_KEYS: &'static [&'static str] = &[
        "aws_secret_access_key",
        "aws_session_token",
        "aws_web_identity_token",
    ];
}

/// An OIDC token: given, or read from a file at each exchange (EKS rotates it).
#[derive(Clone)]
pub enum WebIdentityToken {
    Value(SecretString),
    File(PathBuf),
}

impl WebIdentityToken {
    fn read(&self) -> Result<SecretString, LlmError> {
        match self {
            WebIdentityToken::Value(v) => Ok(v.clone()),
            WebIdentityToken::File(path) => std::fs::read_to_string(path)
                .map(|t| SecretString::from(t.trim().to_owned()))
                .map_err(|e| {
                    auth_error(format!(
                        "Could not read the web identity token file {}: {e}",
                        path.display()
                    ))
                }),
        }
    }

    fn key(&self) -> String {
        match self {
            WebIdentityToken::Value(v) => format!("token:{}", v.expose_secret()),
            WebIdentityToken::File(p) => format!("file:{}", p.display()),
        }
    }
}

/// Where credentials come from.
#[derive(Clone)]
pub enum CredentialSource {
    /// Long-lived keys, or temporary ones given as they are.
    Static(Credentials),
    /// STS AssumeRole with credentials from another source; cached.
    AssumeRole(Arc<AssumedRole>),
    /// STS AssumeRoleWithWebIdentity; cached.
    WebIdentity(Arc<WebIdentityRole>),
}

pub struct AssumedRole {
    role: RoleRequest,
    endpoint: StsEndpoint,
    base: CredentialSource,
    cache: Cached<Credentials>,
}

pub struct WebIdentityRole {
    role: RoleRequest,
    endpoint: StsEndpoint,
    token: WebIdentityToken,
    cache: Cached<Credentials>,
}

impl CredentialSource {
    /// The secrets known without a request (given keys, and the base keys of a role
    /// assumed with them), for redaction.
    pub fn static_secrets(&self) -> Vec<&str> {
        match self {
            CredentialSource::Static(c) => {
                let mut out = vec![c.secret_access_key()];
                out.extend(c.session_token());
                out
            }
            CredentialSource::AssumeRole(role) => role.base.static_secrets(),
            CredentialSource::WebIdentity(_) => Vec::new(),
        }
    }

    /// The credentials to sign with now (fetched or from the cache).
    pub fn credentials(&self) -> BoxFuture<'_, Result<Credentials, LlmError>> {
        Box::pin(async move {
            match self {
                CredentialSource::Static(c) => Ok(c.clone()),
                CredentialSource::AssumeRole(r) => {
                    r.cache
                        .get(|| async {
                            let base = r.base.credentials().await?;
                            sts::assume_role(&r.endpoint, &base, &r.role).await
                        })
                        .await
                }
                CredentialSource::WebIdentity(w) => {
                    w.cache
                        .get(|| async {
                            let token = w.token.read()?;
                            sts::assume_role_with_web_identity(&w.endpoint, &token, &w.role).await
                        })
                        .await
                }
            }
        })
    }

    /// A key identifying this source (for sharing cached credentials); holds secrets, so it
    /// is only ever used as a map key.
    fn key(&self) -> String {
        match self {
            CredentialSource::Static(c) => format!(
                "static:{}:{}:{}",
                c.access_key_id(),
                c.secret_access_key(),
                c.session_token().unwrap_or_default()
            ),
            CredentialSource::AssumeRole(r) => format!(
                "role:{}:{}:{:?}:{}:{}",
                r.role.role_arn,
                r.role.session_name,
                r.role.external_id,
                r.endpoint.url,
                r.base.key()
            ),
            CredentialSource::WebIdentity(w) => format!(
                "web:{}:{}:{}:{}",
                w.role.role_arn,
                w.role.session_name,
                w.endpoint.url,
                w.token.key()
            ),
        }
    }
}

/// Credential sources by key: the same role assumed by many calls is fetched once.
#[derive(Default)]
pub struct SourceRegistry {
    sources: Mutex<HashMap<String, CredentialSource>>,
}

impl SourceRegistry {
    /// The registered source equal to `source`, registering it on first use.
    fn share(&self, source: CredentialSource) -> CredentialSource {
        if matches!(source, CredentialSource::Static(_)) {
            return source;
        }
        let key = source.key();
        let mut map = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_insert(source).clone()
    }

    fn assume_role(
        &self,
        role: RoleRequest,
        endpoint: StsEndpoint,
        base: CredentialSource,
    ) -> CredentialSource {
        self.share(CredentialSource::AssumeRole(Arc::new(AssumedRole {
            role,
            endpoint,
            base,
            cache: Cached::new(EXPIRY_MARGIN),
        })))
    }

    fn web_identity(
        &self,
        role: RoleRequest,
        endpoint: StsEndpoint,
        token: WebIdentityToken,
    ) -> CredentialSource {
        self.share(CredentialSource::WebIdentity(Arc::new(WebIdentityRole {
            role,
            endpoint,
            token,
            cache: Cached::new(EXPIRY_MARGIN),
        })))
    }
}

fn auth_error(message: String) -> LlmError {
    LlmError::new(ErrorKind::Authentication, message)
}

fn static_credentials(
    access_key_id: &str,
    secret: &SecretString,
    token: Option<&SecretString>,
    origin: &'static str,
) -> CredentialSource {
    CredentialSource::Static(Credentials::new(
        access_key_id,
        secret.expose_secret(),
        token.map(|t| t.expose_secret().to_owned()),
        None,
        origin,
    ))
}

/// Resolve the source of a call's credentials (no network I/O; files may be read).
pub fn resolve(
    settings: &AwsSettings,
    region: &str,
    registry: &SourceRegistry,
) -> Result<CredentialSource, LlmError> {
    let endpoint = || StsEndpoint::new(settings.sts_endpoint.clone(), region);
    let session_name = || {
        settings
            .session_name
            .clone()
            .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned())
    };
    let keys = match (&settings.access_key_id, &settings.secret_access_key) {
        (Some(id), Some(secret)) => Some(static_credentials(
            id,
            secret,
            settings.session_token.as_ref(),
            "parameters",
        )),
        _ => None,
    };
    // 1. Web identity token with a role.
    if let (Some(token), Some(role_arn)) = (&settings.web_identity_token, &settings.role_name) {
        return Ok(registry.web_identity(
            RoleRequest {
                role_arn: role_arn.clone(),
                session_name: session_name(),
                external_id: None,
            },
            endpoint(),
            WebIdentityToken::Value(token.clone()),
        ));
    }
    // 2. A role assumed with the given keys, else with the default chain.
    if let Some(role_arn) = &settings.role_name {
        let base = match keys {
            Some(k) => k,
            None => default_chain(settings, region, registry)?,
        };
        return Ok(registry.assume_role(
            RoleRequest {
                role_arn: role_arn.clone(),
                session_name: session_name(),
                external_id: settings.external_id.clone(),
            },
            endpoint(),
            base,
        ));
    }
    // 3. A named profile.
    if let Some(profile) = &settings.profile_name {
        let profiles = Profiles::load();
        return profile_source(profile, &profiles, settings, region, registry, 0);
    }
    // 4. Keys.
    if let Some(k) = keys {
        return Ok(k);
    }
    // 5. The default chain.
    default_chain(settings, region, registry)
}

/// The environment's web identity, else the `AWS_PROFILE` (or `default`) profile.
fn default_chain(
    settings: &AwsSettings,
    region: &str,
    registry: &SourceRegistry,
) -> Result<CredentialSource, LlmError> {
    if let (Some(file), Some(role_arn)) = (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN"))
    {
        return Ok(registry.web_identity(
            RoleRequest {
                role_arn,
                session_name: env("AWS_ROLE_SESSION_NAME")
                    .or_else(|| settings.session_name.clone())
                    .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned()),
                external_id: None,
            },
            StsEndpoint::new(settings.sts_endpoint.clone(), region),
            WebIdentityToken::File(PathBuf::from(file)),
        ));
    }
    let profiles = Profiles::load();
    let name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    match profile_source(&name, &profiles, settings, region, registry, 0) {
        Ok(source) => Ok(source),
        Err(e) if profiles.get(&name).is_none() => Err(missing_credentials(&profiles, &e)),
        Err(e) => Err(e),
    }
}

/// The error for a call with no credentials anywhere.
fn missing_credentials(profiles: &Profiles, cause: &LlmError) -> LlmError {
    auth_error(format!(
        "Missing AWS credentials for provider 'bedrock'. Looked for: api_key= or AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key); aws_access_key_id= + aws_secret_access_key= or AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY; aws_role_name= (STS AssumeRole); aws_web_identity_token= + aws_role_name=, or AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN; aws_profile_name= or AWS_PROFILE in {} ({})",
        profiles.describe_sources(),
        cause.message
    ))
}

/// A profile's credentials: its keys, or the role it assumes.
fn profile_source(
    name: &str,
    profiles: &Profiles,
    settings: &AwsSettings,
    region: &str,
    registry: &SourceRegistry,
    depth: usize,
) -> Result<CredentialSource, LlmError> {
    if depth > MAX_PROFILE_DEPTH {
        return Err(auth_error(format!(
            "AWS profile '{name}': source_profile chain is longer than {MAX_PROFILE_DEPTH} (a loop?)"
        )));
    }
    let profile = profiles.get(name).ok_or_else(|| {
        auth_error(format!(
            "AWS profile '{name}' not found in {}",
            profiles.describe_sources()
        ))
    })?;
    let get = |k: &str| profile.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let keys = match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Some(static_credentials(
            id,
            &SecretString::from(secret.to_owned()),
            get("aws_session_token")
                .map(|t| SecretString::from(t.to_owned()))
                .as_ref(),
            "profile",
        )),
        _ => None,
    };
    if let Some(role_arn) = get("role_arn") {
        let role = RoleRequest {
            role_arn: role_arn.to_owned(),
            session_name: get("role_session_name")
                .map(str::to_owned)
                .or_else(|| settings.session_name.clone())
                .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned()),
            external_id: get("external_id").map(str::to_owned),
        };
        let endpoint = StsEndpoint::new(settings.sts_endpoint.clone(), region);
        if let Some(file) = get("web_identity_token_file") {
            return Ok(registry.web_identity(
                role,
                endpoint,
                WebIdentityToken::File(PathBuf::from(file)),
            ));
        }
        let base = if let Some(source) = get("source_profile") {
            if source == name {
                keys.ok_or_else(|| {
                    auth_error(format!(
                        "AWS profile '{name}' is its own source_profile but has no keys"
                    ))
                })?
            } else {
                profile_source(source, profiles, settings, region, registry, depth + 1)?
            }
        } else if let Some(source) = get("credential_source") {
            if !source.eq_ignore_ascii_case("Environment") {
                return Err(auth_error(format!(
                    "AWS profile '{name}': credential_source = {source} is not supported by llmswitch (only Environment)"
                )));
            }
            match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => static_credentials(
                    &id,
                    &SecretString::from(secret),
                    env("AWS_SESSION_TOKEN").map(SecretString::from).as_ref(),
                    "environment",
                ),
                _ => {
                    return Err(auth_error(format!(
                        "AWS profile '{name}' takes its credentials from the environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
                    )))
                }
            }
        } else {
            return Err(auth_error(format!(
                "AWS profile '{name}' has role_arn but no source_profile, credential_source or web_identity_token_file"
            )));
        };
        return Ok(registry.assume_role(role, endpoint, base));
    }
    if let Some(k) = keys {
        return Ok(k);
    }
    let unsupported = ["sso_start_url", "sso_session", "credential_process"]
        .into_iter()
        .find(|k| get(k).is_some());
    Err(auth_error(match unsupported {
        Some(kind) => format!(
            "AWS profile '{name}' uses {kind}, which llmswitch does not support: export the credentials first (aws configure export-credentials --profile {name} --format env)"
        ),
        None => format!(
            "AWS profile '{name}' in {} has no aws_access_key_id / aws_secret_access_key and no role_arn",
            profiles.describe_sources()
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> AwsSettings {
        AwsSettings {
            access_key_id: pairs
                .iter()
                .find(|(k, _)| *k == "id")
                .map(|(_, v)| (*v).to_owned()),
            secret_access_key: pairs
                .iter()
                .find(|(k, _)| *k == "secret")
                .map(|(_, v)| SecretString::from((*v).to_owned())),
            role_name: pairs
                .iter()
                .find(|(k, _)| *k == "role")
                .map(|(_, v)| (*v).to_owned()),
            web_identity_token: pairs
                .iter()
                .find(|(k, _)| *k == "token")
                .map(|(_, v)| SecretString::from((*v).to_owned())),
            ..Default::default()
        }
    }

    #[test]
    fn explicit_settings_pick_the_source_in_litellm_order() {
        let registry = SourceRegistry::default();
        let s = settings(&[("id", "AKID"), ("secret", "S")]);
        assert!(matches!(
            resolve(&s, "us-east-1", &registry).unwrap(),
            CredentialSource::Static(c) if c.access_key_id() == "AKID"
        ));
        let s = settings(&[
            ("id", "AKID"),
            ("secret", "S"),
            ("role", "arn:aws:iam::1:role/r"),
        ]);
        let role = resolve(&s, "us-east-1", &registry).unwrap();
        match &role {
            CredentialSource::AssumeRole(r) => {
                assert_eq!(r.role.role_arn, "arn:aws:iam::1:role/r");
                assert_eq!(r.role.session_name, DEFAULT_SESSION_NAME);
                assert_eq!(r.endpoint.url, "https://sts.us-east-1.amazonaws.com");
                assert!(matches!(r.base, CredentialSource::Static(_)));
            }
            _ => panic!("not a role"),
        }
        // The same role is one shared source (one cache).
        let again = resolve(&s, "us-east-1", &registry).unwrap();
        match (&role, &again) {
            (CredentialSource::AssumeRole(a), CredentialSource::AssumeRole(b)) => {
                assert!(Arc::ptr_eq(a, b))
            }
            _ => panic!("not roles"),
        }
        let s = settings(&[("token", "jwt"), ("role", "arn:aws:iam::1:role/web")]);
        assert!(matches!(
            resolve(&s, "eu-west-1", &registry).unwrap(),
            CredentialSource::WebIdentity(_)
        ));
    }

    #[test]
    fn profiles_with_keys_roles_and_unsupported_kinds() {
        let mut profiles = Profiles::default();
        let parsed = super::super::profile::parse(
            "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = sdef\n[ops]\nrole_arn = arn:aws:iam::1:role/ops\nsource_profile = default\nexternal_id = ext\n[self]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = self\naws_access_key_id = AKIDSELF\naws_secret_access_key = s\n[loop]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = loop2\n[loop2]\nrole_arn = arn:aws:iam::1:role/l2\nsource_profile = loop\n[sso]\nsso_session = corp\n[empty]\nregion = us-east-1\n",
            false,
        );
        for (k, v) in parsed {
            profiles.insert(k, v);
        }
        let registry = SourceRegistry::default();
        let s = AwsSettings::default();
        let get = |name: &str| profile_source(name, &profiles, &s, "us-east-1", &registry, 0);
        assert!(matches!(
            get("default").unwrap(),
            CredentialSource::Static(_)
        ));
        match get("ops").unwrap() {
            CredentialSource::AssumeRole(r) => {
                assert_eq!(r.role.external_id.as_deref(), Some("ext"));
                assert!(
                    matches!(&r.base, CredentialSource::Static(c) if c.access_key_id() == "AKIDDEF")
                );
            }
            _ => panic!("not a role"),
        }
        assert!(matches!(
            get("self").unwrap(),
            CredentialSource::AssumeRole(_)
        ));
        for (name, needle) in [
            ("loop", "loop"),
            ("sso", "sso_session"),
            ("empty", "no aws_access_key_id"),
            ("missing", "not found"),
        ] {
            let e = match get(name) {
                Err(e) => e,
                Ok(_) => panic!("{name} resolved"),
            };
            assert_eq!(e.kind, ErrorKind::Authentication);
            assert!(e.message.contains(needle), "{name}: {}", e.message);
        }
    }
}
