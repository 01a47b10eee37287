//! Decoding a JSON request body into named fields, so that every problem is reported
//! as a 400 naming the field (serde's own messages do not name fields for type errors).

use serde_json::{Map, Value};

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
        let value: Value = serde_json::from_slice(&request.body)
            .map_err(|error| ApiError::InvalidJson(error.to_string()))?;
        match value {
            Value::Object(fields) => Ok(Self { fields }),
            _ => Err(ApiError::InvalidJson(
                "the body must be a JSON object".into(),
            )),
        }
    }

    /// The whole object as a JSON value, as it is before any field is taken.
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields.clone())
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

/// A request body must be declared `application/json` (any parameters, such as charset,
/// allowed); a body-less request needs no media type.
pub fn ensure_json_media_type(request: &ApiRequest) -> Result<(), ApiError> {
    if request.body.is_empty() {
        return Ok(());
    }
    let media_type = request
        .header("content-type")
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}
