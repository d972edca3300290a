//! Python objects → JSON values (`serde_json::Value`), read straight from the objects (no
//! JSON text), for the core to deserialize into its types.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::call::args::from_python_value;
use crate::error::LlmError;
use crate::types::ResponseFormat;

/// Read a Python object into `T`, with an error in words naming `what` and the offending
/// field.
pub fn from_py<T: DeserializeOwned>(obj: &Bound<'_, PyAny>, what: &str) -> Result<T, LlmError> {
    let value = py_to_value(obj, false).map_err(|e| e.at(what))?;
    Ok(from_python_value(&value, what)?)
}

/// A step into a Python value, for error messages.
enum PathStep {
    Key(String),
    Index(usize),
}

/// A value that has no JSON form, and where it is.
pub struct ConvertError {
    /// From the offending value up (reversed).
    path: Vec<PathStep>,
    message: String,
}

impl ConvertError {
    fn new(message: impl Into<String>) -> Self {
        ConvertError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    fn inside(mut self, step: PathStep) -> Self {
        self.path.push(step);
        self
    }

    /// The error as a `BadRequestError` about the argument `what`.
    pub fn at(self, what: &str) -> LlmError {
        let path: String = self
            .path
            .iter()
            .rev()
            .map(|s| match s {
                PathStep::Key(k) => format!(".{k}"),
                PathStep::Index(i) => format!("[{i}]"),
            })
            .collect();
        LlmError::bad_request(format!("{what}{path}: {}", self.message))
    }
}

fn text_of(obj: &Bound<'_, PyAny>) -> Result<String, ConvertError> {
    obj.str()
        .map(|s| s.to_string())
        .map_err(|e| ConvertError::new(e.to_string()))
}

/// A Python object as JSON. Our own walk rather than pythonize's deserializer: that one
/// probes every dict for `__dataclass_fields__`, raising (and formatting) an
/// AttributeError per dict on the stable ABI, which dominated the cost of reading a call.
/// Dict subclasses (our responses), lists, tuples, pydantic models (`model_dump`), pydantic
/// model classes (as a strict `json_schema` response format), timeout objects such as
/// `httpx.Timeout` (their longest timeout, in seconds) and int dict keys (as `json.dumps`
/// writes them) are accepted. With `as_text`, any other value becomes its `str()`.
pub fn py_to_value(obj: &Bound<'_, PyAny>, as_text: bool) -> Result<Value, ConvertError> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|e| ConvertError::new(e.to_string()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::from(v));
        }
        return i
            .extract::<u64>()
            .map(Value::from)
            .map_err(|_| ConvertError::new("integer out of range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| ConvertError::new("NaN and infinity are not valid JSON"));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = if let Ok(s) = k.cast::<PyString>() {
                s.to_cow()
                    .map_err(|e| ConvertError::new(e.to_string()))?
                    .into_owned()
            } else if as_text || k.is_instance_of::<PyInt>() || k.is_instance_of::<PyFloat>() {
                text_of(&k)?
            } else {
                return Err(ConvertError::new("dict keys must be strings"));
            };
            match py_to_value(&v, as_text) {
                Ok(v) => {
                    map.insert(key, v);
                }
                Err(e) => return Err(e.inside(PathStep::Key(key))),
            }
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return seq_to_value(l.iter(), as_text);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return seq_to_value(t.iter(), as_text);
    }
    other_to_value(obj).or_else(|e| {
        if as_text {
            text_of(obj).map(Value::String)
        } else {
            Err(e)
        }
    })
}

/// Objects that are not plain data: pydantic models and model classes, timeout objects.
fn other_to_value(obj: &Bound<'_, PyAny>) -> Result<Value, ConvertError> {
    let py = obj.py();
    if let Ok(class) = obj.cast::<PyType>() {
        return response_format_of(class);
    }
    if obj
        .hasattr(pyo3::intern!(py, "model_dump"))
        .unwrap_or(false)
    {
        let kwargs = PyDict::new(py);
        kwargs
            .set_item("exclude_none", true)
            .map_err(|e| ConvertError::new(e.to_string()))?;
        let dumped = obj
            .call_method("model_dump", (), Some(&kwargs))
            .map_err(|e| ConvertError::new(e.to_string()))?;
        return py_to_value(&dumped, false);
    }
    let mut longest: Option<f64> = None;
    for attr in ["connect", "read", "write", "pool", "total"] {
        if let Ok(s) = obj.getattr(attr).and_then(|v| v.extract::<f64>()) {
            longest = Some(longest.map_or(s, |l: f64| l.max(s)));
        }
    }
    if let Some(secs) = longest {
        return serde_json::Number::from_f64(secs)
            .map(Value::Number)
            .ok_or_else(|| ConvertError::new("a timeout must be a finite number"));
    }
    let type_name = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    Err(ConvertError::new(format!(
        "cannot send a value of type {type_name} (not JSON-representable)"
    )))
}

/// A pydantic model class, as LiteLLM and the OpenAI SDK take it for `response_format`: its
/// strict JSON schema, named after the class.
fn response_format_of(class: &Bound<'_, PyType>) -> Result<Value, ConvertError> {
    let py = class.py();
    let name = class.name().map(|n| n.to_string()).unwrap_or_default();
    if !class
        .hasattr(pyo3::intern!(py, "model_json_schema"))
        .unwrap_or(false)
    {
        return Err(ConvertError::new(format!(
            "the class {name} is not a pydantic model; pass a pydantic BaseModel subclass or a dict such as {{\"type\": \"json_schema\", ...}}"
        )));
    }
    let schema = class
        .call_method0(pyo3::intern!(py, "model_json_schema"))
        .map_err(|e| ConvertError::new(e.to_string()))?;
    let schema = py_to_value(&schema, false)?;
    let format = ResponseFormat::strict_json_schema(&name, schema)
        .map_err(|e| ConvertError::new(format!("({name}): {e}")))?;
    serde_json::to_value(format).map_err(|e| ConvertError::new(e.to_string()))
}

fn seq_to_value<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    as_text: bool,
) -> Result<Value, ConvertError> {
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        match py_to_value(&item, as_text) {
            Ok(v) => out.push(v),
            Err(e) => return Err(e.inside(PathStep::Index(i))),
        }
    }
    Ok(Value::Array(out))
}
