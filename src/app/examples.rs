//! Examples for the OpenAPI document's schemas that have none of their own: a list page, an
//! enum, a report's part. Each is put together from what the document already says (the
//! examples of the schemas and members it is made of, an enum's first value, a format's
//! typical value, a bound), so that every schema shows a value (DIGG's REST API profile,
//! DOK.15) without a second, hand-kept copy of each shape.

use serde_json::{Map, Value, json};

/// Gives every component schema without `example` one made from its parts.
pub fn fill(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let made: Vec<(String, Value)> = schemas
        .iter()
        .filter(|(_, schema)| schema.get("example").is_none() && schema.get("examples").is_none())
        .filter_map(|(name, schema)| Some((name.clone(), example_of(schema, schemas, 0)?)))
        .collect();
    for (name, example) in made {
        if let Some(schema) = doc
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut)
        {
            schema.insert("example".to_owned(), example);
        }
    }
}

/// Gives every date and date-time member of a component schema an example of its own (DIGG's
/// DOT.02: each shows its RFC 3339 form): the value in the schema's example where it has one,
/// else a typical one.
pub fn fill_times(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for schema in schemas.values_mut() {
        let Some(schema) = schema.as_object_mut() else {
            continue;
        };
        let whole = schema.get("example").cloned();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, property) in properties.iter_mut() {
            let Some(property) = property.as_object_mut() else {
                continue;
            };
            if property.contains_key("example") || property.contains_key("examples") {
                continue;
            }
            let (typical, shaped): (&str, fn(&str) -> bool) =
                match property.get("format").and_then(Value::as_str) {
                    Some("date-time") => ("2026-11-22T10:00:00Z", |t| {
                        crate::rules::dates::parse_instant(t).is_ok()
                    }),
                    Some("date") => ("2022-03-24", |t| crate::rules::dates::parse_date(t).is_ok()),
                    _ => continue,
                };
            let own = whole
                .as_ref()
                .and_then(|w| w.get(name))
                .and_then(Value::as_str)
                .filter(|t| shaped(t));
            property.insert("example".to_owned(), Value::from(own.unwrap_or(typical)));
        }
    }
}

/// How deep a schema is followed through references (a recursive one stops there).
const DEPTH: u8 = 8;

fn example_of(schema: &Value, schemas: &Map<String, Value>, depth: u8) -> Option<Value> {
    if depth > DEPTH {
        return None;
    }
    let s = schema.as_object()?;
    if let Some(example) = s.get("example") {
        return Some(example.clone());
    }
    if let Some(first) = s
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return Some(first.clone());
    }
    if let Some(name) = s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
    {
        return example_of(schemas.get(name)?, schemas, depth + 1);
    }
    if let Some(value) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.iter().find(|v| !v.is_null()))
    {
        return Some(value.clone());
    }
    if let Some(value) = s.get("const") {
        return Some(value.clone());
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            match example_of(part, schemas, depth + 1)? {
                Value::Object(o) => merged.extend(o),
                other if parts.len() == 1 => return Some(other),
                _ => return None,
            }
        }
        return Some(Value::Object(merged));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = s.get(key).and_then(Value::as_array) {
            return options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .find_map(|o| example_of(o, schemas, depth + 1));
        }
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ => return None,
    };
    Some(match kind {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = s.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if let Some(example) = example_of(property, schemas, depth + 1) {
                        object.insert(name.clone(), example);
                    }
                }
            } else if let Some(values) = s.get("additionalProperties").filter(|v| v.is_object()) {
                object.insert("key".to_owned(), example_of(values, schemas, depth + 1)?);
            }
            Value::Object(object)
        }
        "array" => json!([example_of(s.get("items")?, schemas, depth + 1)?]),
        "string" => json!(match s.get("format").and_then(Value::as_str) {
            Some("date") => "2022-05-01",
            Some("date-time") => "2022-05-01T08:00:00Z",
            Some("uuid") => "3e1c8b7a-5a7e-4b8e-9f0e-8a1d2c3b4a51",
            Some("email") => "anna.lind@sundsvall.se",
            Some("uri") => "https://intranat.sundsvall.se/samverkan",
            _ => "text",
        }),
        "integer" => s.get("minimum").cloned().unwrap_or_else(|| json!(1)),
        "number" => s.get("minimum").cloned().unwrap_or_else(|| json!(1.5)),
        "boolean" => json!(true),
        _ => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_made_from_the_parts_of_a_schema() {
        let mut doc = json!({"components": {"schemas": {
            "Item": {"type": "object", "example": {"id": 1}},
            "Kind": {"type": "string", "enum": ["management", "staff"]},
            "Meta": {"type": "object", "properties": {
                "page": {"type": ["integer", "null"], "minimum": 1},
                "at": {"type": "string", "format": "date-time"}}},
            "Page": {"type": "object", "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                "kind": {"$ref": "#/components/schemas/Kind"},
                "_meta": {"$ref": "#/components/schemas/Meta"}}},
            "Own": {"type": "object", "example": {"mine": true}}
        }}});
        fill(&mut doc);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["Page"]["example"],
            json!({"items": [{"id": 1}], "kind": "management",
                   "_meta": {"page": 1, "at": "2022-05-01T08:00:00Z"}})
        );
        assert_eq!(schemas["Kind"]["example"], json!("management"));
        assert_eq!(schemas["Own"]["example"], json!({"mine": true}), "kept");
    }
}
