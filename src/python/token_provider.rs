//! `azure_ad_token_provider=`: a Python callable returning a bearer token, as the core's
//! [`TokenProvider`]. It is called once per request on tokio's blocking pool, so a provider
//! that fetches a token over the network (azure-identity's) holds neither the GIL nor a
//! runtime worker while it waits.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use pyo3::prelude::*;
use secrecy::SecretString;

use crate::error::{ErrorKind, LlmError};
use crate::providers::TokenProvider;

struct PyTokenProvider {
    callable: Arc<Py<PyAny>>,
}

/// Wrap a callable (checked to be one now, not at the first request).
pub fn wrap(value: &Bound<'_, PyAny>) -> Result<Arc<dyn TokenProvider>, LlmError> {
    if !value.is_callable() {
        return Err(LlmError::bad_request(format!(
            "azure_ad_token_provider must be a callable returning a token string, got {}",
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )));
    }
    Ok(Arc::new(PyTokenProvider {
        callable: Arc::new(value.clone().unbind()),
    }))
}

fn auth_error(message: String) -> LlmError {
    LlmError::new(ErrorKind::Authentication, message)
}

fn call(callable: &Py<PyAny>) -> Result<SecretString, LlmError> {
    Python::try_attach(|py| {
        let result = callable
            .call0(py)
            .map_err(|e| auth_error(format!("azure_ad_token_provider raised {e}")))?;
        let token: String = result.extract(py).map_err(|_| {
            auth_error("azure_ad_token_provider must return a str (the bearer token)".to_owned())
        })?;
        if token.trim().is_empty() {
            return Err(auth_error(
                "azure_ad_token_provider returned an empty token".to_owned(),
            ));
        }
        Ok(SecretString::from(token))
    })
    .unwrap_or_else(|| {
        Err(auth_error(
            "azure_ad_token_provider could not be called: the interpreter is shutting down"
                .to_owned(),
        ))
    })
}

impl TokenProvider for PyTokenProvider {
    fn token(&self) -> BoxFuture<'_, Result<SecretString, LlmError>> {
        let callable = self.callable.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || call(&callable))
                .await
                .unwrap_or_else(|e| {
                    Err(auth_error(format!(
                        "azure_ad_token_provider did not complete: {e}"
                    )))
                })
        })
    }
}
