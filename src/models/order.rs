//! Orders: the status workflow (its one transition table), the fields of a new order,
//! and the order representation the API returns.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::models::integer::whole_number;
use crate::models::money::Money;
use crate::models::text::single_line;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Placed; stock is reserved.
    Pending,
    /// Accepted by the shop.
    Confirmed,
    /// Handed to the carrier. Final.
    Shipped,
    /// Cancelled; its stock was restored. Final.
    Cancelled,
}

/// What asks for a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `PATCH /orders/{id}/status` by an admin.
    StatusUpdate,
    /// `POST /orders/{id}/cancel`, which also restores stock.
    Cancel,
}

/// The whole workflow: every allowed (from, to, trigger). Anything else is refused.
const TRANSITIONS: &[(OrderStatus, OrderStatus, Trigger)] = &[
    (
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        Trigger::StatusUpdate,
    ),
    (
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        Trigger::StatusUpdate,
    ),
    (
        OrderStatus::Pending,
        OrderStatus::Cancelled,
        Trigger::Cancel,
    ),
    (
        OrderStatus::Confirmed,
        OrderStatus::Cancelled,
        Trigger::Cancel,
    ),
];

impl OrderStatus {
    /// Every status, in workflow order.
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Confirmed,
        Self::Shipped,
        Self::Cancelled,
    ];

    /// Parses a status name (exact, lower-case).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| "must be one of pending, confirmed, shipped, cancelled".into())
    }

    /// The status's wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether an order in this status counts as a sale: every status but cancelled.
    pub fn is_sale(self) -> bool {
        self != Self::Cancelled
    }

    /// Whether `trigger` may move an order from this status to `next`.
    pub fn allows(self, next: Self, trigger: Trigger) -> bool {
        TRANSITIONS.contains(&(self, next, trigger))
    }
}

/// The most lines one order may have.
pub const MAX_LINES: usize = 100;
/// The most units of one line.
pub const MAX_QUANTITY: i64 = 10_000;

/// A customer's name: 1..=200 characters, no control characters.
pub fn parse_customer_name(value: &Value) -> Result<String, String> {
    single_line(value, 200)
}

/// An e-mail address: `local@domain` with a dotted domain, at most 254 characters, no
/// spaces. Deliverability is not checked; obvious typos are.
pub fn parse_email(value: &Value) -> Result<String, String> {
    const INVALID: &str = "must be an e-mail address like name@example.com";
    let text = value.as_str().ok_or("must be a string")?.trim();
    let (local, domain) = text.rsplit_once('@').ok_or(INVALID)?;
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_label = |label: &&str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let valid = text.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.contains(['@', ' ', '"', '<', '>', '(', ')', ',', ';', ':', '\\'])
        && !local.chars().any(char::is_control)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && labels.len() >= 2
        && labels.iter().all(valid_label);
    if valid {
        Ok(text.to_string())
    } else {
        Err(INVALID.into())
    }
}

/// One requested line: a product and a quantity of 1..=`MAX_QUANTITY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    /// The product ordered.
    pub product_id: i64,
    /// Units ordered.
    pub quantity: i64,
}

impl OrderLine {
    /// Parses one element of `items`; errors name the sub-field (`product_id`, …).
    pub fn parse(value: &Value) -> Result<Self, (String, String)> {
        let object = value
            .as_object()
            .ok_or_else(|| (String::new(), "must be an object".to_string()))?;
        if let Some(unknown) = object
            .keys()
            .find(|key| *key != "product_id" && *key != "quantity")
        {
            return Err((format!(".{unknown}"), "is not a known field".into()));
        }
        let product_id = object
            .get("product_id")
            .and_then(whole_number)
            .filter(|id| *id > 0)
            .ok_or_else(|| (".product_id".into(), "must be a positive integer".into()))?;
        let quantity = object
            .get("quantity")
            .and_then(whole_number)
            .filter(|quantity| (1..=MAX_QUANTITY).contains(quantity))
            .ok_or_else(|| {
                (
                    ".quantity".into(),
                    format!("must be an integer from 1 to {MAX_QUANTITY}"),
                )
            })?;
        Ok(Self {
            product_id,
            quantity,
        })
    }
}

/// Parses `items`: 1..=`MAX_LINES` lines. Errors name the field, e.g. `items[2].quantity`.
pub fn parse_lines(value: &Value) -> Result<Vec<OrderLine>, (String, String)> {
    let items = value
        .as_array()
        .ok_or_else(|| ("items".to_string(), "must be an array".to_string()))?;
    if items.is_empty() || items.len() > MAX_LINES {
        return Err(("items".into(), format!("must have 1 to {MAX_LINES} lines")));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            OrderLine::parse(item)
                .map_err(|(field, message)| (format!("items[{index}]{field}"), message))
        })
        .collect()
}

/// Merges lines of the same product by summing their quantities, in product id order
/// (a fixed order, so concurrent orders touch products in the same sequence).
pub fn merge_lines(lines: &[OrderLine]) -> Vec<OrderLine> {
    let mut merged: BTreeMap<i64, i64> = BTreeMap::new();
    for line in lines {
        *merged.entry(line.product_id).or_default() += line.quantity;
    }
    merged
        .into_iter()
        .map(|(product_id, quantity)| OrderLine {
            product_id,
            quantity,
        })
        .collect()
}

/// An `Idempotency-Key` header value: 1..=255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses the header value.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > 255 {
            return Err("must be 1 to 255 characters".into());
        }
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("may contain only visible ASCII characters".into());
        }
        Ok(Self(text.to_string()))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One line of a placed order, with its snapshotted SKU, name and unit price.
#[derive(Debug, Clone)]
pub struct OrderItem {
    /// The product.
    pub product_id: i64,
    /// The SKU when the order was placed.
    pub sku: String,
    /// The name when the order was placed.
    pub name: String,
    /// Units ordered.
    pub quantity: i64,
    /// The unit price when the order was placed.
    pub unit_price: Money,
    /// `quantity × unit_price`.
    pub line_total: Money,
}

/// One entry of an order's status history.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    /// The status the order got.
    pub status: OrderStatus,
    /// When (RFC 3339).
    pub at: String,
}

/// A placed order.
#[derive(Debug, Clone)]
pub struct Order {
    /// Internal row order, for pagination; never shown.
    pub seq: i64,
    /// The opaque public id.
    pub id: String,
    /// The API key that placed it.
    pub key_id: i64,
    /// The current status.
    pub status: OrderStatus,
    /// The customer's name.
    pub customer_name: String,
    /// The customer's e-mail address.
    pub customer_email: String,
    /// The lines.
    pub items: Vec<OrderItem>,
    /// Sum of the line totals.
    pub total: Money,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
    /// When it was placed (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

#[derive(Serialize)]
struct OrderItemBody<'a> {
    product_id: i64,
    sku: &'a str,
    name: &'a str,
    quantity: i64,
    unit_price: Value,
    unit_price_cents: i64,
    line_total: Value,
    line_total_cents: i64,
}

#[derive(Serialize)]
struct OrderBody<'a> {
    id: &'a str,
    status: OrderStatus,
    customer_name: &'a str,
    customer_email: &'a str,
    items: Vec<OrderItemBody<'a>>,
    total: Value,
    total_cents: i64,
    history: &'a [StatusChange],
    created_at: &'a str,
    updated_at: &'a str,
}

impl Serialize for Order {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        OrderBody {
            id: &self.id,
            status: self.status,
            customer_name: &self.customer_name,
            customer_email: &self.customer_email,
            items: item_bodies(&self.items),
            total: self.total.as_json_number(),
            total_cents: self.total.cents(),
            history: &self.history,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
        }
        .serialize(serializer)
    }
}

/// The JSON of an order being placed, pending since `created_at`: exactly what the
/// stored `Order` serializes to, which only adds the internal `seq` that no body shows.
/// So the placement's answer and its `order.created` event are built before the order
/// is written (they are written with it).
pub fn new_order_json(
    id: &str,
    customer_name: &str,
    customer_email: &str,
    items: &[OrderItem],
    total: Money,
    created_at: &str,
) -> serde_json::Result<String> {
    let history = [StatusChange {
        status: OrderStatus::Pending,
        at: created_at.to_owned(),
    }];
    serde_json::to_string(&OrderBody {
        id,
        status: OrderStatus::Pending,
        customer_name,
        customer_email,
        items: item_bodies(items),
        total: total.as_json_number(),
        total_cents: total.cents(),
        history: &history,
        created_at,
        updated_at: created_at,
    })
}

fn item_bodies(items: &[OrderItem]) -> Vec<OrderItemBody<'_>> {
    items
        .iter()
        .map(|item| OrderItemBody {
            product_id: item.product_id,
            sku: &item.sku,
            name: &item.name,
            quantity: item.quantity,
            unit_price: item.unit_price.as_json_number(),
            unit_price_cents: item.unit_price.cents(),
            line_total: item.line_total.as_json_number(),
            line_total_cents: item.line_total.cents(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_orders_json_is_the_stored_orders_json() {
        let items = vec![OrderItem {
            product_id: 7,
            sku: "MUG-1".into(),
            name: "Mug \"blue\"".into(),
            quantity: 3,
            unit_price: Money::from_cents(250),
            line_total: Money::from_cents(750),
        }];
        let created_at = "2026-12-06T01:02:03.004Z";
        let stored = Order {
            seq: 41,
            id: "ord_1".into(),
            key_id: 9,
            status: OrderStatus::Pending,
            customer_name: "Ada".into(),
            customer_email: "ada@example.com".into(),
            items: items.clone(),
            total: Money::from_cents(750),
            history: vec![StatusChange {
                status: OrderStatus::Pending,
                at: created_at.into(),
            }],
            created_at: created_at.into(),
            updated_at: created_at.into(),
        };
        let new = new_order_json(
            "ord_1",
            "Ada",
            "ada@example.com",
            &items,
            Money::from_cents(750),
            created_at,
        )
        .unwrap();
        assert_eq!(new, serde_json::to_string(&stored).unwrap());
    }

    #[test]
    fn the_workflow_allows_exactly_four_transitions() {
        let mut allowed = Vec::new();
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                for trigger in [Trigger::StatusUpdate, Trigger::Cancel] {
                    if from.allows(to, trigger) {
                        allowed.push((from.as_str(), to.as_str(), trigger));
                    }
                }
            }
        }
        assert_eq!(
            allowed,
            vec![
                ("pending", "confirmed", Trigger::StatusUpdate),
                ("pending", "cancelled", Trigger::Cancel),
                ("confirmed", "shipped", Trigger::StatusUpdate),
                ("confirmed", "cancelled", Trigger::Cancel),
            ]
        );
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for good in ["a@b.co", "first.last+tag@shop.example.com", "ü@bücher.de"] {
            assert!(parse_email(&json!(good)).is_ok(), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@x.com",
            "a@",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            "a..b@c.com",
            "a@b.c om",
        ] {
            assert!(parse_email(&json!(bad)).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn duplicate_lines_are_summed_in_product_order() {
        let lines = [
            OrderLine {
                product_id: 9,
                quantity: 2,
            },
            OrderLine {
                product_id: 3,
                quantity: 1,
            },
            OrderLine {
                product_id: 9,
                quantity: 5,
            },
        ];
        assert_eq!(
            merge_lines(&lines),
            vec![
                OrderLine {
                    product_id: 3,
                    quantity: 1
                },
                OrderLine {
                    product_id: 9,
                    quantity: 7
                },
            ]
        );
    }

    #[test]
    fn line_errors_name_the_item_and_field() {
        let error = |items: Value| parse_lines(&items).unwrap_err().0;
        assert_eq!(error(json!([])), "items");
        assert_eq!(
            error(json!([{ "product_id": 1, "quantity": 0 }])),
            "items[0].quantity"
        );
        assert_eq!(
            error(json!([{ "product_id": 1, "quantity": 1 }, { "quantity": 1 }])),
            "items[1].product_id"
        );
        assert_eq!(
            error(json!([{ "product_id": 1, "quantity": 1, "x": 1 }])),
            "items[0].x"
        );
        assert_eq!(error(json!([7])), "items[0]");
        assert_eq!(
            error(json!(vec![json!({ "product_id": 1, "quantity": 1 }); 101])),
            "items"
        );
    }

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("order-2026-11-26#1").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
