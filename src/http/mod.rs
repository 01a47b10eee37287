//! HTTP plumbing shared by every layer: the buffered request, the response value,
//! JSON body decoding, query-string parsing and outgoing requests (`outbound`). Nothing
//! here knows about resources.

mod json_body;
pub mod outbound;
mod query;
mod request;
mod response;

pub use json_body::{JsonObject, ensure_json_media_type};
pub use query::{Query, percent_decode};
pub use request::{ApiRequest, read_body, read_head};
pub use response::ApiResponse;
