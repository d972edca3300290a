//! `response_format` from a schema, made to satisfy OpenAI's strict structured outputs
//! (`"strict": true`): every object closed (`additionalProperties: false`) and every
//! property required, single-entry `allOf` inlined, `default: null` dropped, and `$ref`s
//! that carry sibling keywords inlined (the API rejects such refs). This is what LiteLLM
//! and the OpenAI SDK send for `response_format=SomePydanticModel`, so the request is the
//! same whichever library built it.

use serde_json::{Map, Value};

use super::{JsonSchemaFormat, ResponseFormat};

/// Inlining a `$ref` re-enters the referenced schema; a self-referencing one with sibling
/// keywords would never end, so nesting is bounded.
const MAX_DEPTH: usize = 64;

impl ResponseFormat {
    /// `{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}` for a
    /// schema (a pydantic model's `model_json_schema()`), made strict.
    pub fn strict_json_schema(name: &str, schema: Value) -> Result<Self, String> {
        Ok(ResponseFormat {
            kind: "json_schema".to_owned(),
            json_schema: Some(JsonSchemaFormat {
                name: name.to_owned(),
                description: None,
                schema: Some(make_strict(schema)?),
                strict: Some(true),
            }),
            extra: Map::new(),
        })
    }
}

/// The schema with OpenAI's strict-mode rules applied throughout, `$defs` included.
fn make_strict(schema: Value) -> Result<Value, String> {
    // Refs resolve against the schema as given; an inlined target is made strict where it lands.
    let root = schema.clone();
    let mut schema = schema;
    strict_node(&mut schema, &root, 0)?;
    Ok(schema)
}

fn strict_node(node: &mut Value, root: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("schema nests too deeply (a recursive $ref with sibling keywords?)".into());
    }
    let Value::Object(obj) = node else {
        return Err(format!("expected a schema object, found {node}"));
    };
    for defs in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = obj.get_mut(defs) {
            for def in defs.values_mut() {
                strict_node(def, root, depth + 1)?;
            }
        }
    }
    if obj.get("type").and_then(Value::as_str) == Some("object")
        && !obj.contains_key("additionalProperties")
    {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        let required = props.keys().cloned().map(Value::String).collect();
        for prop in props.values_mut() {
            strict_node(prop, root, depth + 1)?;
        }
        obj.insert("required".into(), Value::Array(required));
    }
    if let Some(items @ Value::Object(_)) = obj.get_mut("items") {
        strict_node(items, root, depth + 1)?;
    }
    for list in ["prefixItems", "anyOf"] {
        if let Some(Value::Array(entries)) = obj.get_mut(list) {
            for entry in entries {
                strict_node(entry, root, depth + 1)?;
            }
        }
    }
    if let Some(Value::Array(mut all_of)) = obj.remove("allOf") {
        if all_of.len() == 1 {
            let mut only = all_of.pop().unwrap_or_default();
            strict_node(&mut only, root, depth + 1)?;
            if let Value::Object(only) = only {
                obj.extend(only);
            }
        } else {
            for entry in &mut all_of {
                strict_node(entry, root, depth + 1)?;
            }
            obj.insert("allOf".into(), Value::Array(all_of));
        }
    }
    if obj.get("default") == Some(&Value::Null) {
        obj.remove("default");
    }
    if obj.len() > 1 {
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            let Some(Value::Object(target)) = resolve_ref(root, reference) else {
                return Err(format!(
                    "$ref {reference:?} does not resolve to a schema object"
                ));
            };
            // The node's own keywords win over the referenced schema's.
            let mut merged = target.clone();
            merged.remove("$ref");
            obj.remove("$ref");
            merged.extend(std::mem::take(obj));
            *node = Value::Object(merged);
            return strict_node(node, root, depth + 1);
        }
    }
    Ok(())
}

/// A local JSON pointer ref (`#/$defs/Name`) looked up in the root schema.
fn resolve_ref<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What pydantic 2 emits for
    /// `class Step(BaseModel): explanation: str; output: str | None = None` and
    /// `class Plan(BaseModel): steps: list[Step]; final: Step = Field(description="last")`.
    fn pydantic_plan_schema() -> Value {
        json!({
            "$defs": {
                "Step": {
                    "properties": {
                        "explanation": {"title": "Explanation", "type": "string"},
                        "output": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Output"}
                    },
                    "required": ["explanation"],
                    "title": "Step",
                    "type": "object"
                }
            },
            "properties": {
                "steps": {"items": {"$ref": "#/$defs/Step"}, "title": "Steps", "type": "array"},
                "final": {"$ref": "#/$defs/Step", "description": "last"}
            },
            "required": ["steps", "final"],
            "title": "Plan",
            "type": "object"
        })
    }

    #[test]
    fn objects_are_closed_and_every_property_required() {
        let strict = make_strict(pydantic_plan_schema()).unwrap();
        assert_eq!(strict["additionalProperties"], json!(false));
        assert_eq!(strict["required"], json!(["steps", "final"]));
        let step = &strict["$defs"]["Step"];
        assert_eq!(step["additionalProperties"], json!(false));
        assert_eq!(step["required"], json!(["explanation", "output"]));
        // `default: null` carries nothing the nullable type does not already say.
        assert_eq!(
            step["properties"]["output"],
            json!({"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Output"})
        );
        // A bare ref stays a ref.
        assert_eq!(
            strict["properties"]["steps"]["items"],
            json!({"$ref": "#/$defs/Step"})
        );
    }

    #[test]
    fn a_ref_with_sibling_keywords_is_inlined_and_made_strict() {
        let strict = make_strict(pydantic_plan_schema()).unwrap();
        let fin = &strict["properties"]["final"];
        assert!(fin.get("$ref").is_none(), "{fin}");
        assert_eq!(fin["description"], json!("last"));
        assert_eq!(fin["title"], json!("Step"));
        assert_eq!(fin["additionalProperties"], json!(false));
        assert_eq!(fin["required"], json!(["explanation", "output"]));
        assert!(fin["properties"]["output"].get("default").is_none());
    }

    #[test]
    fn single_all_of_is_inlined_and_longer_ones_kept() {
        let strict = make_strict(json!({
            "type": "object",
            "properties": {
                "a": {"allOf": [{"type": "object", "properties": {"x": {"type": "integer"}}}], "description": "d"},
                "b": {"allOf": [{"type": "string"}, {"minLength": 1}]}
            }
        }))
        .unwrap();
        assert_eq!(
            strict["properties"]["a"],
            json!({
                "description": "d",
                "type": "object",
                "properties": {"x": {"type": "integer"}},
                "additionalProperties": false,
                "required": ["x"]
            })
        );
        assert_eq!(
            strict["properties"]["b"]["allOf"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn an_explicit_additional_properties_is_kept() {
        let strict = make_strict(json!({"type": "object", "additionalProperties": true})).unwrap();
        assert_eq!(strict["additionalProperties"], json!(true));
    }

    #[test]
    fn unresolvable_and_recursive_refs_are_errors_not_hangs() {
        let missing = make_strict(json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/Nope", "description": "x"}}
        }));
        assert!(missing.is_err_and(|e| e.contains("#/$defs/Nope")));
        let recursive = make_strict(json!({
            "$defs": {"Node": {"type": "object", "properties": {
                "next": {"$ref": "#/$defs/Node", "description": "again"}
            }}},
            "$ref": "#/$defs/Node",
            "title": "Root"
        }));
        assert!(recursive.is_err_and(|e| e.contains("too deeply")));
    }

    #[test]
    fn response_format_is_strict_json_schema() {
        let rf = ResponseFormat::strict_json_schema("Plan", pydantic_plan_schema());
        let v = serde_json::to_value(rf.unwrap()).unwrap();
        assert_eq!(v["type"], json!("json_schema"));
        assert_eq!(v["json_schema"]["name"], json!("Plan"));
        assert_eq!(v["json_schema"]["strict"], json!(true));
        assert_eq!(
            v["json_schema"]["schema"]["additionalProperties"],
            json!(false)
        );
    }
}
