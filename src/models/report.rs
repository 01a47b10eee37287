//! Report parameters and results: the time window, the ranking of top products, and the
//! figures of the sales summary. Money stays in integer cents throughout.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::models::money::Money;
use crate::models::order::OrderStatus;
use crate::models::time::Timestamp;

/// A reporting window over order creation times: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// Earliest creation time counted.
    pub from: Option<Timestamp>,
    /// Creation times before this are counted.
    pub to: Option<Timestamp>,
}

impl Window {
    /// A window from optional bounds; `from` after `to` is refused.
    pub fn new(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<Self, String> {
        match (from, to) {
            (Some(from), Some(to)) if from > to => Err("must not be after 'to'".into()),
            _ => Ok(Self { from, to }),
        }
    }
}

/// How top products are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopProductsBy {
    /// Most units sold first.
    Units,
    /// Most revenue first.
    Revenue,
}

impl TopProductsBy {
    /// Parses `units` or `revenue`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "units" => Ok(Self::Units),
            "revenue" => Ok(Self::Revenue),
            _ => Err("must be units or revenue".into()),
        }
    }
}

/// How many top products: 1..=100, default 10.
pub fn parse_top_limit(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|limit| (1..=100).contains(limit))
        .ok_or_else(|| "must be an integer from 1 to 100".into())
}

/// The default number of top products.
pub const DEFAULT_TOP_LIMIT: u32 = 10;
/// How many top products the sales summary includes.
pub const SUMMARY_TOP_LIMIT: u32 = 5;

/// One product's sales in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSales {
    /// The product.
    pub product_id: i64,
    /// Its current SKU.
    pub sku: String,
    /// Its current name.
    pub name: String,
    /// Units sold.
    pub units_sold: i64,
    /// Revenue from those units.
    pub revenue: Money,
}

impl Serialize for ProductSales {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "units_sold": self.units_sold,
            "revenue": self.revenue.as_json_number(),
            "revenue_cents": self.revenue.cents(),
        })
        .serialize(serializer)
    }
}

/// The sales summary of a window. Cancelled orders are not sales; they appear only in
/// `orders_by_status`.
#[derive(Debug, Clone)]
pub struct SalesSummary {
    /// Non-cancelled orders.
    pub order_count: i64,
    /// Units in non-cancelled orders.
    pub units_sold: i64,
    /// Revenue of non-cancelled orders.
    pub total_revenue: Money,
    /// Orders per status, cancelled included.
    pub orders_by_status: BTreeMap<&'static str, i64>,
    /// The best sellers by units.
    pub top_products: Vec<ProductSales>,
}

impl SalesSummary {
    /// Revenue per order, rounded half up to the cent (0 without orders).
    pub fn average_order_value(&self) -> Money {
        if self.order_count == 0 {
            return Money::from_cents(0);
        }
        let cents = self.total_revenue.cents();
        Money::from_cents((2 * cents + self.order_count) / (2 * self.order_count))
    }

    /// Every status with its count (zero for statuses without orders).
    pub fn with_every_status(
        mut counts: BTreeMap<&'static str, i64>,
    ) -> BTreeMap<&'static str, i64> {
        for status in OrderStatus::ALL {
            counts.entry(status.as_str()).or_insert(0);
        }
        counts
    }
}

impl Serialize for SalesSummary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let average = self.average_order_value();
        let body: Value = json!({
            "order_count": self.order_count,
            "units_sold": self.units_sold,
            "total_revenue": self.total_revenue.as_json_number(),
            "total_revenue_cents": self.total_revenue.cents(),
            "average_order_value": average.as_json_number(),
            "average_order_value_cents": average.cents(),
            "orders_by_status": self.orders_by_status,
            "top_products": self.top_products,
        });
        body.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(order_count: i64, revenue_cents: i64) -> SalesSummary {
        SalesSummary {
            order_count,
            units_sold: 0,
            total_revenue: Money::from_cents(revenue_cents),
            orders_by_status: BTreeMap::new(),
            top_products: Vec::new(),
        }
    }

    #[test]
    fn the_average_order_value_rounds_half_up_to_the_cent() {
        assert_eq!(summary(0, 0).average_order_value().cents(), 0);
        assert_eq!(summary(3, 100).average_order_value().cents(), 33);
        assert_eq!(summary(3, 200).average_order_value().cents(), 67);
        assert_eq!(summary(2, 1).average_order_value().cents(), 1);
    }

    #[test]
    fn windows_refuse_from_after_to() {
        let at = Timestamp::from_unix_millis;
        assert!(Window::new(Some(at(2)), Some(at(1))).is_err());
        assert!(Window::new(Some(at(1)), Some(at(1))).is_ok());
        assert!(Window::new(None, Some(at(1))).is_ok());
    }
}
