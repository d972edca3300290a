//! Python objects → JSON values (`serde_json::Value`), read straight from the objects (no
//! JSON text), for the core to deserialize into its types.

use pyo3::prelude::*;
use pyo3::types::iter::{BoundDictIterator, BoundListIterator, BoundTupleIterator};
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::call::words::from_python_value;
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
    /// From the outermost value in.
    path: Vec<PathStep>,
    message: String,
}

/// Path steps shown in an error before the rest is elided (a deep value's path is long).
const PATH_SHOWN: usize = 12;

impl ConvertError {
    fn new(message: impl Into<String>) -> Self {
        ConvertError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The error as a `BadRequestError` about the argument `what`.
    pub fn at(self, what: &str) -> LlmError {
        let mut path: String = self
            .path
            .iter()
            .take(PATH_SHOWN)
            .map(|s| match s {
                PathStep::Key(k) => format!(".{k}"),
                PathStep::Index(i) => format!("[{i}]"),
            })
            .collect();
        if self.path.len() > PATH_SHOWN {
            path.push_str(&format!("... ({} levels deep)", self.path.len()));
        }
        LlmError::bad_request(format!("{what}{path}: {}", self.message))
    }
}

fn text_of(obj: &Bound<'_, PyAny>) -> Result<String, ConvertError> {
    obj.str()
        .map(|s| s.to_string())
        .map_err(|e| ConvertError::new(e.to_string()))
}

/// How deep a value passed to llmswitch may nest (containers within containers; the
/// argument itself is level 1). JSON Schema, tool parameters and provider APIs need far
/// less. The bound keeps a hostile or accidental deep value from overflowing the stack (of
/// small-stack threads too) in everything that reads the value after this walk, which
/// itself uses no recursion.
pub const MAX_DEPTH: usize = 128;

/// A Python object as JSON. Our own walk rather than pythonize's deserializer: that one
/// probes every dict for `__dataclass_fields__`, raising (and formatting) an
/// AttributeError per dict on the stable ABI, which dominated the cost of reading a call.
/// Dict subclasses (our responses), lists, tuples, pydantic models (`model_dump`), pydantic
/// model classes (as a strict `json_schema` response format), timeout objects such as
/// `httpx.Timeout` (their longest timeout, in seconds) and int dict keys (as `json.dumps`
/// writes them) are accepted. With `as_text`, any other value becomes its `str()`.
/// Containers nested deeper than [`MAX_DEPTH`] or containing themselves are refused. The
/// walk keeps its own stack of open containers (no recursion), so it needs the same few
/// hundred bytes of the thread's stack however deep the value.
pub fn py_to_value(obj: &Bound<'_, PyAny>, as_text: bool) -> Result<Value, ConvertError> {
    let mut open: Vec<Open<'_>> = Vec::new();
    walk(obj, as_text, &mut open).map_err(|mut e| {
        let mut path: Vec<PathStep> = open.iter_mut().filter_map(Open::take_step).collect();
        path.append(&mut e.path);
        e.path = path;
        e
    })
}

/// The items of an open container.
enum Items<'py> {
    Dict(BoundDictIterator<'py>, Map<String, Value>),
    List(BoundListIterator<'py>, Vec<Value>),
    Tuple(BoundTupleIterator<'py>, Vec<Value>),
}

/// A container being read.
struct Open<'py> {
    items: Items<'py>,
    /// Its address (of the pydantic model, for a model's dump), to tell a cycle.
    addr: usize,
    /// Whether values without a JSON form become their `str()` inside it.
    as_text: bool,
    /// The key of the dict item being read.
    key: Option<String>,
    /// The index of the sequence item being read.
    index: usize,
}

impl<'py> Open<'py> {
    /// Where the item being read is, for an error.
    fn take_step(&mut self) -> Option<PathStep> {
        match &self.items {
            Items::Dict(..) => self.key.take().map(PathStep::Key),
            Items::List(..) | Items::Tuple(..) => self.index.checked_sub(1).map(PathStep::Index),
        }
    }

    /// The next item, `None` when all are read.
    fn next_item(&mut self) -> Result<Option<Bound<'py, PyAny>>, ConvertError> {
        match &mut self.items {
            Items::Dict(iter, _) => {
                let Some((k, v)) = iter.next() else {
                    return Ok(None);
                };
                let key = if let Ok(s) = k.cast::<PyString>() {
                    s.to_cow()
                        .map_err(|e| ConvertError::new(e.to_string()))?
                        .into_owned()
                } else if self.as_text
                    || k.is_instance_of::<PyInt>()
                    || k.is_instance_of::<PyFloat>()
                {
                    text_of(&k)?
                } else {
                    return Err(ConvertError::new("dict keys must be strings"));
                };
                self.key = Some(key);
                Ok(Some(v))
            }
            Items::List(iter, _) => {
                self.index += 1;
                Ok(iter.next())
            }
            Items::Tuple(iter, _) => {
                self.index += 1;
                Ok(iter.next())
            }
        }
    }

    /// Store the value of the item read.
    fn put(&mut self, value: Value) {
        match &mut self.items {
            Items::Dict(_, map) => {
                if let Some(k) = self.key.take() {
                    map.insert(k, value);
                }
            }
            Items::List(_, out) | Items::Tuple(_, out) => out.push(value),
        }
    }

    fn finish(self) -> Value {
        match self.items {
            Items::Dict(_, map) => Value::Object(map),
            Items::List(_, out) | Items::Tuple(_, out) => Value::Array(out),
        }
    }
}

/// What one Python object is: a JSON value, or a container to read.
enum Step<'py> {
    Value(Value),
    Open(Items<'py>, usize),
}

fn walk<'py>(
    root: &Bound<'py, PyAny>,
    as_text: bool,
    open: &mut Vec<Open<'py>>,
) -> Result<Value, ConvertError> {
    let mut item = root.clone();
    let mut item_as_text = as_text;
    loop {
        // `item` → a value, or a container to read.
        let (items, addr, inner_as_text) = match step(&item, item_as_text)? {
            Step::Value(v) => {
                let Some(top) = open.last_mut() else {
                    return Ok(v);
                };
                top.put(v);
                (None, 0, false)
            }
            // A model's dump is read as plain data.
            Step::Open(items, addr) => {
                let model = addr != item.as_ptr() as usize;
                (Some(items), addr, item_as_text && !model)
            }
        };
        if let Some(items) = items {
            if open.iter().any(|o| o.addr == addr) {
                return Err(ConvertError::new(
                    "the value contains itself (a self-referencing list or dict), which has no JSON form",
                ));
            }
            if open.len() >= MAX_DEPTH {
                return Err(ConvertError::new(format!(
                    "the value is nested more than {MAX_DEPTH} levels deep, the most llmswitch accepts"
                )));
            }
            open.push(Open {
                items,
                addr,
                as_text: inner_as_text,
                key: None,
                index: 0,
            });
        }
        // The next item to read, closing the containers read to their end.
        loop {
            let Some(top) = open.last_mut() else {
                return Ok(Value::Null);
            };
            if let Some(next) = top.next_item()? {
                item_as_text = top.as_text;
                item = next;
                break;
            }
            let done = open.pop().map(Open::finish).unwrap_or(Value::Null);
            let Some(top) = open.last_mut() else {
                return Ok(done);
            };
            top.put(done);
        }
    }
}

/// One object: scalars become values, containers are opened.
fn step<'py>(obj: &Bound<'py, PyAny>, as_text: bool) -> Result<Step<'py>, ConvertError> {
    if obj.is_none() {
        return Ok(Step::Value(Value::Null));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Step::Value(Value::String(s.into_owned())))
            .map_err(|e| ConvertError::new(e.to_string()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Step::Value(Value::Bool(b.is_true())));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Step::Value(Value::from(v)));
        }
        return i
            .extract::<u64>()
            .map(|v| Step::Value(Value::from(v)))
            .map_err(|_| ConvertError::new("integer out of range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return serde_json::Number::from_f64(f.value())
            .map(|n| Step::Value(Value::Number(n)))
            .ok_or_else(|| ConvertError::new("NaN and infinity are not valid JSON"));
    }
    let addr = obj.as_ptr() as usize;
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Step::Open(
            Items::Dict(d.iter(), Map::with_capacity(d.len())),
            addr,
        ));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Step::Open(
            Items::List(l.iter(), Vec::with_capacity(l.len())),
            addr,
        ));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(Step::Open(
            Items::Tuple(t.iter(), Vec::with_capacity(t.len())),
            addr,
        ));
    }
    other(obj).or_else(|e| {
        if as_text {
            text_of(obj).map(|s| Step::Value(Value::String(s)))
        } else {
            Err(e)
        }
    })
}

/// Objects that are not plain data: pydantic models (their dump, opened under the model's
/// address) and model classes, timeout objects.
fn other<'py>(obj: &Bound<'py, PyAny>) -> Result<Step<'py>, ConvertError> {
    let py = obj.py();
    if let Ok(class) = obj.cast::<PyType>() {
        return response_format_of(class).map(Step::Value);
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
        return match step(&dumped, false)? {
            Step::Open(items, _) => Ok(Step::Open(items, obj.as_ptr() as usize)),
            value => Ok(value),
        };
    }
    timeout_of(obj).map(Step::Value)
}

/// A timeout object such as `httpx.Timeout`: its longest timeout in seconds.
fn timeout_of(obj: &Bound<'_, PyAny>) -> Result<Value, ConvertError> {
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
