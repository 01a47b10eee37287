//! Decoding a JSON request body into named fields, so that every problem is reported
//! as a 400 naming the field (serde's own messages do not name fields for type errors).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::ApiError;
use crate::http::ApiRequest;

/// A request body that parsed as a JSON object. Fields are taken one by one; `finish`
/// rejects any field that was not taken, so unknown fields never pass silently.
#[derive(Debug)]
pub struct JsonObject {
    fields: Map<String, Value>,
}

impl JsonObject {
    /// Parses the request body: 415 for a non-JSON media type, 400 `INVALID_JSON` for
    /// malformed JSON or anything that is not an object.
    pub fn from_request(request: &ApiRequest) -> Result<Self, ApiError> {
        ensure_json_media_type(request)?;
        if request.body.is_empty() {
            return Err(ApiError::InvalidJson(
                "the request body is empty; a JSON object is required".into(),
            ));
        }
        let StrictValue(value) = serde_json::from_slice(&request.body)
            .map_err(|error| ApiError::InvalidJson(error.to_string()))?;
        match value {
            Value::Object(fields) => Ok(Self { fields }),
            _ => Err(ApiError::InvalidJson(
                "the body must be a JSON object".into(),
            )),
        }
    }

    /// Takes a required field whose parser names the offending (sub-)field itself, as
    /// `items[2].quantity` does for nested values.
    pub fn required_nested<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, (String, String)>,
    ) -> Result<T, ApiError> {
        let value = self
            .fields
            .remove(name)
            .ok_or_else(|| ApiError::validation(name, "is required"))?;
        parse(&value).map_err(|(field, message)| ApiError::validation(field, message))
    }

    /// Takes a required field and parses it with `parse`, which explains what is wrong.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        match self.fields.remove(name) {
            Some(value) => parse(&value).map_err(|message| ApiError::validation(name, message)),
            None => Err(ApiError::validation(name, "is required")),
        }
    }

    /// Takes an optional field; an explicit `null` counts as absent.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        match self.fields.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse(&value)
                .map(Some)
                .map_err(|message| ApiError::validation(name, message)),
        }
    }

    /// Takes an optional field whose `null` means something (clearing a value): `None`
    /// when absent, otherwise what `parse` makes of the value, `null` included.
    pub fn optional_nullable<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.fields
            .remove(name)
            .map(|value| parse(&value).map_err(|message| ApiError::validation(name, message)))
            .transpose()
    }

    /// Whether the body has the field (with any value, `null` included), not yet taken.
    pub fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// Refuses a field that may not be written here, with the reason.
    pub fn forbid(&mut self, name: &str, reason: &str) -> Result<(), ApiError> {
        match self.fields.contains_key(name) {
            true => Err(ApiError::validation(name, reason)),
            false => Ok(()),
        }
    }

    /// Fails on the first field that no `required`/`optional` call took.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.fields.keys().next() {
            Some(unknown) => Err(ApiError::validation(
                unknown.clone(),
                "is not a known field",
            )),
            None => Ok(()),
        }
    }
}

/// A JSON value in which no object names a member twice.
///
/// serde_json keeps the last of duplicate members, while other parsers keep the first or
/// refuse the document, so a proxy in front of the service and the service itself could
/// read `{"price":1,"price":2}` differently. Such a body is refused (400 naming the member)
/// rather than guessed at, at any depth.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(StrictValueVisitor)
            .map(StrictValue)
    }
}

struct StrictValueVisitor;

impl<'de> Visitor<'de> for StrictValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON text has no NaN or infinity, so every parsed float is a number.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_string()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut elements: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        while let Some(StrictValue(value)) = elements.next_element()? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = members.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "the member \"{name}\" appears more than once"
                )));
            }
            let StrictValue(value) = members.next_value()?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

/// A request body must be declared `application/json` (any parameters, such as charset,
/// allowed); a body-less request needs no media type.
pub fn ensure_json_media_type(request: &ApiRequest) -> Result<(), ApiError> {
    if request.body.is_empty() {
        return Ok(());
    }
    match request.media_type().as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn strict(text: &str) -> Result<Value, String> {
        serde_json::from_str::<StrictValue>(text)
            .map(|StrictValue(value)| value)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn a_member_named_twice_is_refused_at_any_depth_naming_it() {
        for (text, member) in [
            (r#"{"price": 1, "price": 2}"#, "price"),
            (r#"{"items": [{"quantity": 1, "quantity": 2}]}"#, "quantity"),
            (r#"{"a": {"b": {"c": 1, "c": 1}}}"#, "c"),
        ] {
            let error = strict(text).expect_err(text);
            assert!(error.contains(&format!("\"{member}\"")), "{error}");
        }
    }

    #[test]
    fn documents_without_duplicates_parse_as_serde_json_parses_them() {
        for text in [
            r#"{"a": 1, "b": -2, "c": 2.5, "d": "x\u00e9", "e": [true, null, {"a": 1}]}"#,
            r#"[{"a": 1}, {"a": 2}]"#,
            "18446744073709551615",
            "1e400",
            r#""text""#,
        ] {
            let expected: Result<Value, String> =
                serde_json::from_str(text).map_err(|error| error.to_string());
            assert_eq!(strict(text), expected, "{text}");
        }
        assert_eq!(strict(r#"{"a": {"a": 1}}"#), Ok(json!({"a": {"a": 1}})));
    }
}
