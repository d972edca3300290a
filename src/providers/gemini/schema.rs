//! JSON Schema (as OpenAI takes it for `response_format` and tool `parameters`) → the
//! OpenAPI 3.0 subset Gemini's `Schema` accepts.
//!
//! Gemini rejects keywords it does not know, so the conversion keeps only the ones its
//! `Schema` has (`type`, `format`, `title`, `description`, `nullable`, `enum`, `items`,
//! `properties`, `required`, `anyOf`, min/max counts and lengths, `pattern`, `minimum`,
//! `maximum`, `example`, `default`, `propertyOrdering`) and rewrites the rest:
//!
//! - `type` names are upper-cased (`"string"` → `"STRING"`); a type list with `"null"`
//!   becomes the other type plus `nullable: true`.
//! - `anyOf` / `oneOf` with a `{"type": "null"}` branch becomes `nullable: true` on the other
//!   branch (or on an `anyOf` of the others); `allOf` is merged into one schema.
//! - `$ref` into `$defs` / `definitions` is inlined (a recursive reference, which Gemini
//!   cannot express, becomes a bare `OBJECT`).
//! - `const` becomes a one-value `enum`; `enum` is kept only when its values are strings
//!   (Gemini's enums are string enums), with a `null` value turned into `nullable`.
//! - `format` is kept only where Gemini supports it (`enum`/`date-time` on strings,
//!   `float`/`double` on numbers, `int32`/`int64` on integers).
//! - Everything else (`additionalProperties`, `$schema`, `strict`, `examples`,
//!   `exclusiveMinimum`, `prefixItems`, ...) is removed.

use serde_json::{Map, Value};

/// Nesting deeper than this (after `$ref` inlining) is cut to a bare schema, so a schema
/// cannot make the conversion run away.
const MAX_DEPTH: usize = 40;

/// Keywords copied as they are.
const KEPT: &[&str] = &[
    "title",
    "description",
    "maxItems",
    "minItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "example",
    "default",
];

/// Convert `schema` for Gemini. With `property_ordering`, every object gets a
/// `propertyOrdering` listing its properties in the order given, which is how Gemini
/// learns the key order of structured output (it otherwise orders keys itself).
pub fn to_gemini(schema: &Value, property_ordering: bool) -> Value {
    let converter = Converter {
        root: schema,
        property_ordering,
    };
    converter.convert(schema, 0, &mut Vec::new())
}

struct Converter<'a> {
    root: &'a Value,
    property_ordering: bool,
}

impl Converter<'_> {
    fn resolve_ref(&self, reference: &str) -> Option<&Value> {
        let path = reference.strip_prefix('#')?;
        if path.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(path)
    }

    fn convert(&self, node: &Value, depth: usize, refs: &mut Vec<String>) -> Value {
        let Value::Object(obj) = node else {
            // `true` (anything) and malformed nodes: an unconstrained schema.
            return Value::Object(Map::new());
        };
        if depth > MAX_DEPTH {
            return Value::Object(Map::new());
        }

        // `$ref`: inline the target, letting sibling keywords (description) win.
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            if refs.iter().any(|r| r == reference) {
                let mut out = Map::new();
                out.insert("type".into(), Value::from("OBJECT"));
                copy_kept(obj, &mut out);
                return Value::Object(out);
            }
            if let Some(target) = self.resolve_ref(reference) {
                let mut merged = match target {
                    Value::Object(t) => t.clone(),
                    _ => Map::new(),
                };
                for (k, v) in obj {
                    if k != "$ref" {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                refs.push(reference.to_owned());
                let out = self.convert(&Value::Object(merged), depth + 1, refs);
                refs.pop();
                return out;
            }
            let mut out = Map::new();
            copy_kept(obj, &mut out);
            return Value::Object(out);
        }

        // `allOf`: merge the branches into this node, then convert the result.
        if let Some(Value::Array(branches)) = obj.get("allOf") {
            let mut merged: Map<String, Value> = obj
                .iter()
                .filter(|(k, _)| k.as_str() != "allOf")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for branch in branches {
                let branch = match branch.get("$ref").and_then(Value::as_str) {
                    Some(r) => self.resolve_ref(r).unwrap_or(branch),
                    None => branch,
                };
                if let Value::Object(b) = branch {
                    merge_schema(&mut merged, b);
                }
            }
            return self.convert(&Value::Object(merged), depth + 1, refs);
        }

        let mut out = Map::new();
        let mut nullable = obj.get("nullable").and_then(Value::as_bool) == Some(true);

        // `anyOf` / `oneOf`: null branches become `nullable`.
        let union = obj
            .get("anyOf")
            .or_else(|| obj.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(branches) = union {
            let (nulls, others): (Vec<&Value>, Vec<&Value>) =
                branches.iter().partition(|b| is_null_schema(b));
            nullable |= !nulls.is_empty();
            if others.len() == 1 {
                let mut single = match self.convert(others[0], depth + 1, refs) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                // The outer node's own keywords (description, title) describe the union.
                copy_kept(obj, &mut single);
                if nullable {
                    single.insert("nullable".into(), Value::Bool(true));
                }
                return Value::Object(single);
            }
            if !others.is_empty() {
                let converted: Vec<Value> = others
                    .iter()
                    .map(|b| self.convert(b, depth + 1, refs))
                    .collect();
                out.insert("anyOf".into(), Value::Array(converted));
            }
        }

        // `type`: a name or a list of names.
        let mut type_name: Option<String> = None;
        match obj.get("type") {
            Some(Value::String(t)) if t == "null" => nullable = true,
            Some(Value::String(t)) => type_name = Some(t.to_ascii_uppercase()),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                nullable |= names.contains(&"null");
                let non_null: Vec<&str> = names.into_iter().filter(|t| *t != "null").collect();
                match non_null.as_slice() {
                    [one] => type_name = Some(one.to_ascii_uppercase()),
                    [] => {}
                    many => {
                        // Several types: Gemini says this with `anyOf`.
                        let branches = many
                            .iter()
                            .map(|t| {
                                let mut m = Map::new();
                                m.insert("type".into(), Value::from(t.to_ascii_uppercase()));
                                Value::Object(m)
                            })
                            .collect();
                        out.insert("anyOf".into(), Value::Array(branches));
                    }
                }
            }
            _ => {}
        }
        if type_name.is_none() && !out.contains_key("anyOf") {
            if obj.contains_key("properties") {
                type_name = Some("OBJECT".into());
            } else if obj.contains_key("items") {
                type_name = Some("ARRAY".into());
            }
        }

        // `const` / `enum`: string values only.
        let enum_values: Option<Vec<Value>> = match (obj.get("const"), obj.get("enum")) {
            (Some(c), _) => Some(vec![c.clone()]),
            (None, Some(Value::Array(values))) => Some(values.clone()),
            _ => None,
        };
        if let Some(values) = enum_values {
            nullable |= values.iter().any(Value::is_null);
            let strings: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
            if !strings.is_empty() && strings.iter().all(Value::is_string) {
                type_name.get_or_insert_with(|| "STRING".into());
                if type_name.as_deref() == Some("STRING") {
                    out.insert("enum".into(), Value::Array(strings));
                }
            }
        }

        if let Some(t) = &type_name {
            out.insert("type".into(), Value::from(t.clone()));
        }
        if let (Some(format), Some(t)) = (obj.get("format").and_then(Value::as_str), &type_name) {
            let supported = match t.as_str() {
                "STRING" => matches!(format, "enum" | "date-time"),
                "NUMBER" => matches!(format, "float" | "double"),
                "INTEGER" => matches!(format, "int32" | "int64"),
                _ => false,
            };
            if supported {
                out.insert("format".into(), Value::from(format));
            }
        }
        copy_kept(obj, &mut out);
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }

        if let Some(Value::Object(props)) = obj.get("properties") {
            let mut converted = Map::new();
            for (name, prop) in props {
                converted.insert(name.clone(), self.convert(prop, depth + 1, refs));
            }
            if let Some(Value::Array(required)) = obj.get("required") {
                let required: Vec<Value> = required
                    .iter()
                    .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
                    .cloned()
                    .collect();
                if !required.is_empty() {
                    out.insert("required".into(), Value::Array(required));
                }
            }
            if self.property_ordering && converted.len() > 1 {
                let order = converted.keys().cloned().map(Value::from).collect();
                out.insert("propertyOrdering".into(), Value::Array(order));
            }
            out.insert("properties".into(), Value::Object(converted));
        }

        match obj.get("items") {
            Some(items @ Value::Object(_)) => {
                out.insert("items".into(), self.convert(items, depth + 1, refs));
            }
            // Tuple-style `items: [...]`: Gemini has one item schema; use the first.
            Some(Value::Array(items)) if !items.is_empty() => {
                out.insert("items".into(), self.convert(&items[0], depth + 1, refs));
            }
            _ => {}
        }
        Value::Object(out)
    }
}

fn copy_kept(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    for key in KEPT {
        if let Some(v) = from.get(*key) {
            if !v.is_null() {
                to.insert((*key).to_owned(), v.clone());
            }
        }
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

/// Fold an `allOf` branch into `into`: properties and required lists are united, other
/// keywords are taken when not set yet.
fn merge_schema(into: &mut Map<String, Value>, branch: &Map<String, Value>) {
    for (k, v) in branch {
        match (k.as_str(), into.get_mut(k), v) {
            ("properties", Some(Value::Object(existing)), Value::Object(new)) => {
                for (pk, pv) in new {
                    existing.entry(pk.clone()).or_insert_with(|| pv.clone());
                }
            }
            ("required", Some(Value::Array(existing)), Value::Array(new)) => {
                for r in new {
                    if !existing.contains(r) {
                        existing.push(r.clone());
                    }
                }
            }
            (_, None, _) => {
                into.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_unsupported_keywords_and_uppercases_types() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "title": "Weather",
            "properties": {
                "city": {"type": "string", "description": "City name", "minLength": 1},
                "days": {"type": "integer", "minimum": 1, "maximum": 7, "exclusiveMaximum": 8, "format": "int32"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "when": {"type": "string", "format": "date-time"},
                "email": {"type": "string", "format": "email"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3, "uniqueItems": true}
            },
            "required": ["city", "missing"],
            "additionalProperties": false,
            "strict": true
        });
        assert_eq!(
            to_gemini(&schema, false),
            json!({
                "type": "OBJECT",
                "title": "Weather",
                "required": ["city"],
                "properties": {
                    "city": {"type": "STRING", "description": "City name", "minLength": 1},
                    "days": {"type": "INTEGER", "format": "int32", "minimum": 1, "maximum": 7},
                    "unit": {"type": "STRING", "enum": ["c", "f"]},
                    "when": {"type": "STRING", "format": "date-time"},
                    "email": {"type": "STRING"},
                    "tags": {"type": "ARRAY", "maxItems": 3, "items": {"type": "STRING"}}
                }
            })
        );
    }

    #[test]
    fn nullable_from_any_of_type_lists_and_enums() {
        let schema = json!({
            "type": "object",
            "properties": {
                "a": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "maybe a"},
                "b": {"type": ["integer", "null"]},
                "c": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
                "d": {"enum": ["x", "y", null]},
                "e": {"const": "fixed"},
                "f": {"type": "integer", "enum": [1, 2]},
                "g": {"type": ["string", "number"]}
            }
        });
        assert_eq!(
            to_gemini(&schema, false)["properties"],
            json!({
                "a": {"type": "STRING", "description": "maybe a", "nullable": true},
                "b": {"type": "INTEGER", "nullable": true},
                "c": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": true},
                "d": {"type": "STRING", "enum": ["x", "y"], "nullable": true},
                "e": {"type": "STRING", "enum": ["fixed"]},
                "f": {"type": "INTEGER"},
                "g": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}
            })
        );
    }

    #[test]
    fn resolves_refs_and_defs_and_all_of() {
        // The shape pydantic's model_json_schema() produces.
        let schema = json!({
            "$defs": {
                "Step": {
                    "type": "object",
                    "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
                    "required": ["explanation", "output"],
                    "additionalProperties": false
                }
            },
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
                "first": {"$ref": "#/$defs/Step", "description": "the first step"},
                "both": {"allOf": [{"$ref": "#/$defs/Step"}, {"properties": {"n": {"type": "integer"}}, "required": ["n"]}]}
            },
            "required": ["steps"]
        });
        let out = to_gemini(&schema, true);
        let step = json!({
            "type": "OBJECT",
            "required": ["explanation", "output"],
            "propertyOrdering": ["explanation", "output"],
            "properties": {"explanation": {"type": "STRING"}, "output": {"type": "STRING"}}
        });
        assert_eq!(out["properties"]["steps"]["items"], step);
        assert_eq!(out["properties"]["first"]["description"], "the first step");
        assert_eq!(out["properties"]["first"]["properties"], step["properties"]);
        assert_eq!(
            out["properties"]["both"]["required"],
            json!(["explanation", "output", "n"])
        );
        assert_eq!(
            out["propertyOrdering"],
            json!(["steps", "first", "both"]),
            "keeps the caller's key order"
        );
        assert!(out.get("$defs").is_none());
    }

    #[test]
    fn recursive_refs_terminate() {
        let schema = json!({
            "$defs": {"Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}, "v": {"type": "string"}}}},
            "$ref": "#/$defs/Node"
        });
        let out = to_gemini(&schema, false);
        assert_eq!(out["properties"]["v"], json!({"type": "STRING"}));
        // The self-reference cannot be expressed: it is cut to a bare object.
        assert_eq!(out["properties"]["child"], json!({"type": "OBJECT"}));
    }

    #[test]
    fn infers_types_and_tolerates_odd_input() {
        assert_eq!(
            to_gemini(&json!({"properties": {"x": true}}), false),
            json!({"type": "OBJECT", "properties": {"x": {}}})
        );
        assert_eq!(
            to_gemini(&json!({"items": [{"type": "number"}]}), false),
            json!({"type": "ARRAY", "items": {"type": "NUMBER"}})
        );
        assert_eq!(to_gemini(&json!("junk"), false), json!({}));
        assert_eq!(
            to_gemini(&json!({"$ref": "#/nowhere", "description": "d"}), false),
            json!({"description": "d"})
        );
    }
}
