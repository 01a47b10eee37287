//! Products: the fields a client may write, each parsed into a checked type, and the
//! `Product` representation the API returns.

use serde::Serialize;
use serde_json::Value;

use crate::models::integer::whole_number;
use crate::models::money::Money;

/// A stock-keeping unit: 1..=64 characters of letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit. Unique per product, ignoring letter case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    /// Parses a JSON string into a SKU.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let text = value.as_str().ok_or("must be a string")?.trim();
        let allowed = |character: char| {
            character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.')
        };
        if text.is_empty() || text.len() > 64 {
            return Err("must be 1 to 64 characters".into());
        }
        if !text.chars().all(allowed) || !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(
                "may contain only letters, digits, '-', '_' and '.', starting with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(text.to_string()))
    }

    /// The SKU's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text with a bounded length and no control characters (tabs and newlines are
/// allowed only where `multiline`).
fn bounded_text(value: &Value, max_chars: usize, multiline: bool) -> Result<String, String> {
    let text = value.as_str().ok_or("must be a string")?.trim();
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    let forbidden = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r'));
    if text.chars().any(forbidden) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_string())
}

/// A product name: 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    /// Parses a JSON string into a name.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let text = bounded_text(value, 200, false)?;
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Self(text))
    }

    /// The name's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product description: up to 5,000 characters, line breaks allowed.
pub fn parse_description(value: &Value) -> Result<String, String> {
    bounded_text(value, 5000, true)
}

/// A category label: up to 100 characters; empty means "no category".
pub fn parse_category(value: &Value) -> Result<Option<String>, String> {
    let text = bounded_text(value, 100, false)?;
    Ok((!text.is_empty()).then_some(text))
}

/// The largest stock level a product may hold.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// A whole number of units from 0 to `MAX_STOCK` (initial stock, thresholds).
pub fn parse_unit_count(value: &Value) -> Result<i64, String> {
    whole_number(value)
        .filter(|count| (0..=MAX_STOCK).contains(count))
        .ok_or_else(|| format!("must be an integer from 0 to {MAX_STOCK}"))
}

/// The low-stock threshold a product gets when none is given.
pub const DEFAULT_LOW_STOCK_THRESHOLD: i64 = 10;

/// The writable fields of a product, complete: what `POST` creates and `PUT` replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFields {
    /// The unique SKU.
    pub sku: Sku,
    /// The display name.
    pub name: ProductName,
    /// Free text ("" when absent).
    pub description: String,
    /// The category, if any.
    pub category: Option<String>,
    /// The unit price.
    pub price: Money,
    /// Stock below this level shows in the low-stock report.
    pub low_stock_threshold: i64,
}

/// A partial update (`PATCH`): only the fields present change.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    /// New SKU.
    pub sku: Option<Sku>,
    /// New name.
    pub name: Option<ProductName>,
    /// New description.
    pub description: Option<String>,
    /// New category (`Some(None)` clears it).
    pub category: Option<Option<String>>,
    /// New price.
    pub price: Option<Money>,
    /// New threshold.
    pub low_stock_threshold: Option<i64>,
}

impl ProductPatch {
    /// Applies the patch to a product's current fields.
    pub fn apply_to(self, current: ProductFields) -> ProductFields {
        ProductFields {
            sku: self.sku.unwrap_or(current.sku),
            name: self.name.unwrap_or(current.name),
            description: self.description.unwrap_or(current.description),
            category: self.category.unwrap_or(current.category),
            price: self.price.unwrap_or(current.price),
            low_stock_threshold: self
                .low_stock_threshold
                .unwrap_or(current.low_stock_threshold),
        }
    }
}

/// A product as stored and returned.
#[derive(Debug, Clone)]
pub struct Product {
    /// The product id.
    pub id: i64,
    /// The writable fields.
    pub fields: ProductFields,
    /// Units on hand; changes only through adjustments and orders.
    pub stock_quantity: i64,
    /// Increases on every change; the ETag is derived from it.
    pub version: i64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Soft-deletion time, if deleted.
    pub deleted_at: Option<String>,
    /// Units of `stock_quantity` that live holds set aside when the product was read.
    pub reserved_quantity: i64,
}

impl Product {
    /// Units that can be ordered or held: on hand minus held.
    pub fn available_quantity(&self) -> i64 {
        self.stock_quantity - self.reserved_quantity
    }

    /// The strong entity tag of this version of the product.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// The JSON representation of a product.
#[derive(Serialize)]
struct ProductBody<'a> {
    id: i64,
    sku: &'a str,
    name: &'a str,
    description: &'a str,
    category: Option<&'a str>,
    price: Value,
    price_cents: i64,
    stock_quantity: i64,
    reserved_quantity: i64,
    available_quantity: i64,
    low_stock_threshold: i64,
    version: i64,
    created_at: &'a str,
    updated_at: &'a str,
    deleted_at: Option<&'a str>,
}

impl Serialize for Product {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ProductBody {
            id: self.id,
            sku: self.fields.sku.as_str(),
            name: self.fields.name.as_str(),
            description: &self.fields.description,
            category: self.fields.category.as_deref(),
            price: self.fields.price.as_json_number(),
            price_cents: self.fields.price.cents(),
            stock_quantity: self.stock_quantity,
            reserved_quantity: self.reserved_quantity,
            available_quantity: self.available_quantity(),
            low_stock_threshold: self.fields.low_stock_threshold,
            version: self.version,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
            deleted_at: self.deleted_at.as_deref(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn skus_allow_hyphens_and_refuse_spaces_and_symbols() {
        assert_eq!(
            Sku::parse(&json!(" WM-100_b.2 ")).unwrap().as_str(),
            "WM-100_b.2"
        );
        for bad in [
            json!(""),
            json!("a b"),
            json!("-lead"),
            json!("x/y"),
            json!(5),
            json!("a".repeat(65)),
        ] {
            assert!(Sku::parse(&bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn names_are_required_text_without_control_characters() {
        assert!(ProductName::parse(&json!("Wireless Mouse")).is_ok());
        for bad in [
            json!(""),
            json!("  "),
            json!("a\u{7}"),
            json!(1),
            json!("n".repeat(201)),
        ] {
            assert!(ProductName::parse(&bad).is_err(), "{bad} should be refused");
        }
        assert!(parse_description(&json!("line one\nline two")).is_ok());
    }

    #[test]
    fn unit_counts_are_whole_and_bounded() {
        assert_eq!(parse_unit_count(&json!(0)), Ok(0));
        assert_eq!(parse_unit_count(&json!(25.0)), Ok(25));
        for bad in [json!(-1), json!(1.5), json!("3"), json!(MAX_STOCK + 1)] {
            assert!(parse_unit_count(&bad).is_err(), "{bad} should be refused");
        }
    }
}
