//! AWS Signature Version 4 for our requests, with the `aws-sigv4` crate.
//!
//! The URL is signed as it is sent: already percent-encoded (model ids such as
//! `anthropic.claude-3-5-sonnet-20240620-v1%3A0`), and encoded once more in the canonical
//! request, as botocore does for every service but S3. The signature covers `host`,
//! `x-amz-date`, `x-amz-security-token` (temporary credentials), `content-type` and any
//! `x-amz-*` header of the request, and the SHA-256 of the body.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{ErrorKind, LlmError};
use crate::providers::HttpRequest;

/// What a signature is scoped to: region, service (`bedrock`, `sts`) and time.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

/// The headers that carry a signature of `method url headers body`: `authorization`,
/// `x-amz-date` and, for temporary credentials, `x-amz-security-token` (name, value,
/// sensitive).
pub fn signature_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    scope: &Scope<'_>,
) -> Result<Vec<(&'static str, String, bool)>, LlmError> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| signing_error(&e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| signing_error(&e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| signing_error(&e.to_string()))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned(), h.sensitive()))
        .collect())
}

fn signing_error(detail: &str) -> LlmError {
    LlmError::new(
        ErrorKind::BadRequest,
        format!("Could not sign the AWS request: {detail}"),
    )
}

/// Whether a request header is part of the signature.
fn signed(name: &str) -> bool {
    name == "content-type" || name.starts_with("x-amz-")
}

/// The signature headers for a POST of `req`.
pub fn sign_request(
    req: &HttpRequest,
    credentials: &Credentials,
    scope: &Scope<'_>,
) -> Result<HeaderMap, LlmError> {
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(name, _)| signed(name.as_str()) && name.as_str() != "x-amz-date")
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let mut out = HeaderMap::new();
    for (name, value, sensitive) in
        signature_headers("POST", &req.url, &headers, &req.body, credentials, scope)?
    {
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            LlmError::new(
                ErrorKind::Authentication,
                "The AWS credentials contain characters that cannot be sent in an HTTP header",
            )
        })?;
        value.set_sensitive(sensitive || name == "authorization");
        out.insert(HeaderName::from_static(name), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// A vector of AWS's SigV4 test suite (`aws-signing-test-suite/v4/<name>`, published
    /// by AWS, Apache-2.0): the request, and the `Authorization` header it must get.
    struct Vector {
        name: &'static str,
        method: &'static str,
        path_and_query: &'static str,
        headers: &'static [(&'static str, &'static str)],
        session_token: Option<&'static str>,
        authorization: &'static str,
    }

    const STS_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    const VECTORS: &[Vector] = &[
        Vector {
            name: "get-vanilla",
            method: "GET",
            path_and_query: "/",
            headers: &[],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        Vector {
            name: "post-vanilla",
            method: "POST",
            path_and_query: "/",
            headers: &[],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        },
        Vector {
            name: "get-vanilla-query-order-key-case",
            method: "GET",
            path_and_query: "/?Param2=value2&Param1=value1",
            headers: &[],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        },
        Vector {
            name: "post-vanilla-query",
            method: "POST",
            path_and_query: "/?Param1=value1",
            headers: &[],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        },
        Vector {
            name: "get-unreserved",
            method: "GET",
            path_and_query: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            headers: &[],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        },
        Vector {
            name: "post-header-key-sort",
            method: "POST",
            path_and_query: "/",
            headers: &[("My-Header1", "value1")],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        },
        Vector {
            name: "get-header-value-trim",
            method: "GET",
            path_and_query: "/",
            headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
            session_token: None,
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        },
        Vector {
            name: "get-vanilla-with-session-token",
            method: "GET",
            path_and_query: "/",
            headers: &[],
            session_token: Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        },
        Vector {
            name: "post-sts-header-before",
            method: "POST",
            path_and_query: "/",
            headers: &[],
            session_token: Some(STS_TOKEN),
            authorization: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        },
    ];

    /// 2015-08-30T12:36:00Z, the suite's timestamp.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn aws_sigv4_test_suite_vectors() {
        for v in VECTORS {
            let creds = Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                v.session_token.map(str::to_owned),
                None,
                "test-suite",
            );
            let url = format!("https://example.amazonaws.com{}", v.path_and_query);
            let headers = signature_headers(
                v.method,
                &url,
                v.headers,
                b"",
                &creds,
                &Scope {
                    region: "us-east-1",
                    service: "service",
                    time: suite_time(),
                },
            )
            .unwrap();
            let get = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .map(|(_, value, _)| value.as_str())
            };
            assert_eq!(get("authorization"), Some(v.authorization), "{}", v.name);
            assert_eq!(get("x-amz-date"), Some("20150830T123600Z"), "{}", v.name);
            assert_eq!(get("x-amz-security-token"), v.session_token, "{}", v.name);
        }
    }

    #[test]
    fn bedrock_requests_are_signed_over_the_encoded_path_and_body() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-custom", HeaderValue::from_static("not signed"));
        let req = HttpRequest {
            url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse".into(),
            headers,
            body: bytes::Bytes::from_static(b"{\"messages\":[]}"),
        };
        let scope = Scope {
            region: "us-east-1",
            service: "bedrock",
            time: suite_time(),
        };
        let signed = sign_request(&req, &creds, &scope).unwrap();
        let auth = signed["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
        ), "{auth}");
        assert!(signed["authorization"].is_sensitive());
        // Another body, another signature.
        let other = HttpRequest {
            body: bytes::Bytes::from_static(b"{}"),
            ..req
        };
        let signed2 = sign_request(&other, &creds, &scope).unwrap();
        assert_ne!(signed["authorization"], signed2["authorization"]);
    }
}
