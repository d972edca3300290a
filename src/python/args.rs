//! A call's Python arguments into the core's front door ([`CallArgs`]): each keyword's
//! value is converted (see [`super::values`]) and handed to [`CallArgs::set`], which
//! decides what the keyword is. Nothing here knows what a keyword means.

use std::borrow::Cow;

use pyo3::exceptions::PyBaseException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::exceptions::from_py_exception;
use super::values::py_to_value;
use crate::call::args::{value_shape, ValueShape};
use crate::call::CallArgs;
use crate::error::LlmError;

/// Set `key` from a Python value.
fn set(args: &mut CallArgs, key: &str, value: &Bound<'_, PyAny>) -> Result<(), LlmError> {
    if key == "azure_ad_token_provider" && !value.is_none() {
        args.set_token_provider(super::token_provider::wrap(value)?);
        return Ok(());
    }
    let shape = value_shape(key);
    if shape == ValueShape::Skip {
        return Ok(());
    }
    match py_to_value(value, shape == ValueShape::JsonOrText) {
        Ok(v) => Ok(args.set(key, &v)?),
        // An exception has no JSON form; the front door says where one is allowed.
        Err(_) if value.is_instance_of::<PyBaseException>() => {
            Ok(args.set_exception(key, from_py_exception(value))?)
        }
        Err(e) => Err(e.at(key)),
    }
}

/// A call's arguments: `model`, the first positional argument (`messages` or `input`)
/// under `first_name`, and the keywords, with `llmswitch.cache` as the cache the call may
/// use (module-level defaults such as `drop_params` are the core's, see
/// `crate::call::defaults`). `asynchronous`: the
/// call is `acompletion`/`aembedding`.
pub fn call_args(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    first_name: &str,
    first: Option<&Bound<'_, PyAny>>,
    kwargs: Option<&Bound<'_, PyDict>>,
    asynchronous: bool,
) -> Result<CallArgs, LlmError> {
    let mut args = CallArgs::for_python();
    args.use_cache(super::cache::global_cache(py)?);
    args.set_async(asynchronous);
    set(&mut args, "model", model)?;
    if let Some(first) = first.filter(|f| !f.is_none()) {
        set(&mut args, first_name, first)?;
    }
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key = key
                .cast::<PyString>()
                .map_err(|e| LlmError::bad_request(e.to_string()))?
                .to_cow()
                .map_err(|e| LlmError::bad_request(e.to_string()))?;
            set(&mut args, &key, &value)?;
        }
    }
    Ok(args)
}

/// The model argument as text, for logging callbacks (which run before it is checked).
pub fn model_text<'a>(model: &'a Bound<'_, PyAny>) -> Cow<'a, str> {
    match model.cast::<PyString>() {
        Ok(s) => s.to_cow().unwrap_or_default(),
        Err(_) => Cow::Owned(model.str().map(|s| s.to_string()).unwrap_or_default()),
    }
}
