//! A small OpenAPI 3.0 schema checker for the integration tests. In: the server's OpenAPI
//! document (`src/server/assets/openapi.json`, parsed), a request path and method, and a JSON
//! response body. Out: the document's path template for a concrete path ([`template_for`]), the
//! `application/json` schema of a response ([`response_schema`]), and `Ok(())` or an error that
//! names the JSON pointer of the first offending value and why ([`validate`]).
//!
//! Supported keywords: local `$ref`, `type`, `nullable`, `required`, `properties`,
//! `additionalProperties`, `items`, `enum`, `minimum`, `maximum`, `allOf`, `anyOf` and `oneOf`.
//! All others (`format`, `pattern`, `description`, `example`, ...) are ignored.
#![allow(dead_code)]

use serde_json::Value;

/// The `application/json` schema of the `status` response of `method` on `path`, where `path` is
/// a template as written in the document (e.g. `"/v1/predictions/{zone}"`); `None` when the
/// document has no such response or it is not JSON.
pub fn response_schema<'a>(
    doc: &'a Value,
    path: &str,
    method: &str,
    status: u16,
) -> Option<&'a Value> {
    let response = doc
        .get("paths")?
        .get(path)?
        .get(method.to_ascii_lowercase())?
        .get("responses")?
        .get(status.to_string())?;
    let response = match response.get("$ref").and_then(Value::as_str) {
        Some(target) => doc.pointer(target.strip_prefix('#')?)?,
        None => response,
    };
    response
        .get("content")?
        .get("application/json")?
        .get("schema")
}

/// Checks `instance` against `schema`, resolving `$ref`s in `doc`. The error reads
/// `"#/predictions/3/zone: expected integer, got 1.5"`: the offending value's JSON pointer
/// (as a URI fragment, `#` alone for the root) and why it does not match.
pub fn validate(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    check(doc, schema, instance, "")
}

/// The document's path template that `concrete_path` (a query string is ignored) matches:
/// the path itself when the document has it, else the template whose segments match one by one
/// (`{name}` matches any one non-empty segment), preferring the most literal segments.
pub fn template_for(doc: &Value, concrete_path: &str) -> Option<String> {
    let paths = doc.get("paths")?.as_object()?;
    let path = concrete_path.split('?').next().unwrap_or(concrete_path);
    if paths.contains_key(path) {
        return Some(path.to_owned());
    }
    let segments: Vec<&str> = path.split('/').collect();
    paths
        .keys()
        .filter(|template| matches_template(template, &segments))
        .max_by_key(|template| template.split('/').filter(|s| !is_param(s)).count())
        .cloned()
}

fn is_param(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

fn matches_template(template: &str, segments: &[&str]) -> bool {
    template.split('/').count() == segments.len()
        && template
            .split('/')
            .zip(segments)
            .all(|(t, s)| t == *s || (is_param(t) && !s.is_empty()))
}

fn check(doc: &Value, schema: &Value, inst: &Value, ptr: &str) -> Result<(), String> {
    let fail = |why: String| -> Result<(), String> { Err(format!("#{ptr}: {why}")) };

    if let Some(reference) = schema.get("$ref") {
        let target = reference
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(p));
        return match target {
            Some(target) => check(doc, target, inst, ptr),
            None => fail(format!("unresolvable $ref {reference}")),
        };
    }
    if inst.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return Ok(());
    }

    for sub in list(schema, "allOf") {
        check(doc, sub, inst, ptr)?;
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let errors: Vec<String> = any
            .iter()
            .filter_map(|s| check(doc, s, inst, ptr).err())
            .collect();
        if errors.len() == any.len() {
            return fail(format!("matches none of anyOf ({})", errors.join("; ")));
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = one
            .iter()
            .filter_map(|s| check(doc, s, inst, ptr).err())
            .collect();
        match one.len() - errors.len() {
            1 => {}
            0 => return fail(format!("matches none of oneOf ({})", errors.join("; "))),
            n => return fail(format!("matches {n} of oneOf's schemas, not exactly one")),
        }
    }

    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        if !has_type(inst, ty) {
            return fail(format!("expected {ty}, got {}", describe(inst)));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.iter().any(|o| same(o, inst)) {
            let options: Vec<String> = options.iter().map(Value::to_string).collect();
            return fail(format!(
                "{} is not one of [{}]",
                describe(inst),
                options.join(", ")
            ));
        }
    }
    if let Some(x) = inst.as_f64() {
        if let Some(min) = schema
            .get("minimum")
            .filter(|m| m.as_f64().is_some_and(|m| x < m))
        {
            return fail(format!("{inst} is below the minimum {min}"));
        }
        if let Some(max) = schema
            .get("maximum")
            .filter(|m| m.as_f64().is_some_and(|m| x > m))
        {
            return fail(format!("{inst} is above the maximum {max}"));
        }
    }

    if let Some(map) = inst.as_object() {
        for key in list(schema, "required").iter().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                return fail(format!("missing required property {key:?}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, value) in map {
            let child = format!("{ptr}/{}", key.replace('~', "~0").replace('/', "~1"));
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => check(doc, sub, value, &child)?,
                (None, Some(Value::Bool(false))) => {
                    return fail(format!("unexpected property {key:?}"));
                }
                (None, Some(extra @ Value::Object(_))) => check(doc, extra, value, &child)?,
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(elements)) = (schema.get("items"), inst.as_array()) {
        for (i, element) in elements.iter().enumerate() {
            check(doc, items, element, &format!("{ptr}/{i}"))?;
        }
    }
    Ok(())
}

/// The array under `key`, or an empty slice.
fn list<'a>(schema: &'a Value, key: &str) -> &'a [Value] {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn has_type(v: &Value, ty: &str) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// JSON equality, except that numbers compare by value (`24` equals `24.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        scalar => scalar.to_string(),
    }
}
