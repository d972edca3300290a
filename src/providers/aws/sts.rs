//! AWS STS: `AssumeRole` (signed with SigV4 by the source credentials) and
//! `AssumeRoleWithWebIdentity` (unsigned; the OIDC token is the proof), over the Query
//! protocol: a form-encoded POST, an XML answer. Only a few leaf elements of the answer are
//! read (`AccessKeyId`, `SecretAccessKey`, `SessionToken`, `Expiration`; `Code` and
//! `Message` of an error), so they are extracted directly rather than with an XML parser.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_types::date_time::{DateTime, Format};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};

use super::sigv4::{self, Scope};
use crate::error::{ErrorKind, LlmError};
use crate::http::HttpClient;
use crate::providers::HttpRequest;

/// How long assumed-role credentials are asked to last.
pub const SESSION_SECONDS: u64 = 3600;

/// Where STS is reached, and the region its signatures are scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StsEndpoint {
    pub url: String,
    pub region: String,
}

impl StsEndpoint {
    /// `aws_sts_endpoint=` / `AWS_STS_ENDPOINT` / `AWS_ENDPOINT_URL_STS`, else the regional
    /// endpoint `https://sts.{region}.amazonaws.com`.
    pub fn new(endpoint: Option<String>, region: &str) -> StsEndpoint {
        let url = endpoint
            .unwrap_or_else(|| format!("https://sts.{region}.{}", super::dns_suffix(region)));
        StsEndpoint {
            url,
            region: region.to_owned(),
        }
    }
}

/// A role to assume.
#[derive(Debug, Clone)]
pub struct RoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub external_id: Option<String>,
}

/// `AssumeRole` with `base` credentials.
pub async fn assume_role(
    endpoint: &StsEndpoint,
    base: &Credentials,
    role: &RoleRequest,
) -> Result<(Credentials, Option<Duration>), LlmError> {
    let form = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRole")
            .append_pair("Version", "2011-06-15")
            .append_pair("RoleArn", &role.role_arn)
            .append_pair("RoleSessionName", &role.session_name)
            .append_pair("DurationSeconds", &SESSION_SECONDS.to_string());
        if let Some(id) = &role.external_id {
            form.append_pair("ExternalId", id);
        }
        form.finish()
    };
    let mut request = form_request(endpoint, form);
    let signature = sigv4::sign_request(
        &request,
        base,
        &Scope {
            region: &endpoint.region,
            service: "sts",
            time: SystemTime::now(),
        },
    )?;
    request.headers.extend(signature);
    exchange(request, "AssumeRole", &role.role_arn).await
}

/// `AssumeRoleWithWebIdentity` with an OIDC token.
pub async fn assume_role_with_web_identity(
    endpoint: &StsEndpoint,
    token: &SecretString,
    role: &RoleRequest,
) -> Result<(Credentials, Option<Duration>), LlmError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", &role.role_arn)
        .append_pair("RoleSessionName", &role.session_name)
        .append_pair("WebIdentityToken", token.expose_secret().trim())
        .append_pair("DurationSeconds", &SESSION_SECONDS.to_string())
        .finish();
    exchange(
        form_request(endpoint, form),
        "AssumeRoleWithWebIdentity",
        &role.role_arn,
    )
    .await
}

fn form_request(endpoint: &StsEndpoint, form: String) -> HttpRequest {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    HttpRequest {
        url: endpoint.url.clone(),
        headers,
        body: form.into(),
    }
}

async fn exchange(
    request: HttpRequest,
    action: &str,
    role_arn: &str,
) -> Result<(Credentials, Option<Duration>), LlmError> {
    let host = crate::http::host_of(&request.url).to_owned();
    // Credentials are fetched about once an hour: a client of its own keeps this off the
    // callers' connection pools.
    let response = HttpClient::new()?.post(request).await?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| crate::http::transport_error(&e, &host))?;
    let text = String::from_utf8_lossy(&body);
    if !(200..300).contains(&status) {
        return Err(sts_error(status, &text, action, role_arn, &host));
    }
    parse_credentials(&text).ok_or_else(|| {
        LlmError::new(
            ErrorKind::Authentication,
            format!(
                "STS {action} at {host} answered without credentials: {}",
                text.chars().take(300).collect::<String>()
            ),
        )
    })
}

/// The `<Credentials>` of an AssumeRole(-WithWebIdentity) response, and how long they last.
pub fn parse_credentials(xml: &str) -> Option<(Credentials, Option<Duration>)> {
    let creds = xml_text(xml, "Credentials")?;
    let access_key_id = xml_text(creds, "AccessKeyId")?;
    let secret = xml_text(creds, "SecretAccessKey")?;
    let token = xml_text(creds, "SessionToken");
    let expires = xml_text(creds, "Expiration")
        .and_then(|e| DateTime::from_str(e.trim(), Format::DateTime).ok())
        .and_then(|t| SystemTime::try_from(t).ok());
    let lifetime = expires.map(|t| {
        t.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    });
    Some((
        Credentials::new(
            unescape(access_key_id),
            unescape(secret),
            token.map(unescape),
            expires,
            "sts",
        ),
        lifetime,
    ))
}

/// The text between `<tag>` and `</tag>` (first occurrence).
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(&xml[start..end])
}

/// XML's predefined entities.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An STS error (`<ErrorResponse><Error><Code>…</Code><Message>…</Message>`).
fn sts_error(status: u16, xml: &str, action: &str, role_arn: &str, host: &str) -> LlmError {
    let code = xml_text(xml, "Code").map(unescape);
    let message = xml_text(xml, "Message").map(unescape);
    let detail = match (&code, &message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        _ => xml.chars().take(300).collect(),
    };
    let kind = match (status, code.as_deref()) {
        (_, Some("Throttling" | "ThrottlingException")) | (429, _) => ErrorKind::RateLimit,
        (400..=499, _) => ErrorKind::Authentication,
        (other, _) => ErrorKind::from_status(other),
    };
    LlmError::new(
        kind,
        format!("STS {action} for {role_arn} at {host} failed (HTTP {status}): {detail}"),
    )
    .with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_credentials_and_errors_from_sts_xml() {
        // The example response of AWS's AssumeRole API reference.
        let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
  <SourceIdentity>Alice</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/TestAR</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:TestAR</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>AQoDYXdzEPT//////////wEXAMPLEtc764&amp;bNrC9</SessionToken>
      <Expiration>2019-11-09T13:34:41Z</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>"#;
        let (creds, lifetime) = parse_credentials(xml).unwrap();
        assert_eq!(creds.access_key_id(), "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(
            creds.secret_access_key(),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
        );
        assert_eq!(
            creds.session_token(),
            Some("AQoDYXdzEPT//////////wEXAMPLEtc764&bNrC9")
        );
        // Expired long ago: nothing left to cache.
        assert_eq!(lifetime, Some(Duration::ZERO));
        assert!(parse_credentials("<x/>").is_none());

        let e = sts_error(
            403,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>",
            "AssumeRole",
            "arn:aws:iam::1:role/r",
            "sts.us-east-1.amazonaws.com",
        );
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(
            e.message.contains("AccessDenied: User is not authorized"),
            "{}",
            e.message
        );
        let e = sts_error(
            400,
            "<Error><Code>Throttling</Code></Error>",
            "AssumeRole",
            "r",
            "h",
        );
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert!(sts_error(503, "", "AssumeRole", "r", "h").is_retryable());
    }
}
