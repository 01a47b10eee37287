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

/// One hour in milliseconds: the granularity of the hourly sales rollups.
const HOUR_MILLIS: i64 = 3_600_000;

/// How a window is read: the whole hours inside it from the hourly rollups, and the
/// partial hours at its edges from the orders themselves. Together they cover the
/// window exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowParts {
    /// Whole hours `[first, end)` as hour keys (`2026-11-26T09`); an open side is
    /// `None`. `None` altogether when the window holds no whole hour.
    pub whole_hours: Option<(Option<String>, Option<String>)>,
    /// Time ranges `[from, to)` read from the orders table, at most two.
    pub partial_hours: Vec<(Timestamp, Timestamp)>,
}

impl Window {
    /// Splits the window at the hour boundaries inside it.
    pub fn parts(&self) -> WindowParts {
        let first_whole_hour = self
            .from
            .map(|from| Timestamp::from_unix_millis(ceil_to_hour(from.unix_millis())));
        let end_of_whole_hours = self
            .to
            .map(|to| Timestamp::from_unix_millis(floor_to_hour(to.unix_millis())));
        match (self.from, first_whole_hour, end_of_whole_hours, self.to) {
            // No whole hour fits: the window lies within an hour or straddles one boundary.
            (Some(from), Some(first), Some(end), Some(to)) if first >= end => WindowParts {
                whole_hours: None,
                partial_hours: vec![(from, to)],
            },
            _ => {
                let head = self.from.zip(first_whole_hour);
                let tail = end_of_whole_hours.zip(self.to);
                WindowParts {
                    whole_hours: Some((
                        first_whole_hour.map(hour_key),
                        end_of_whole_hours.map(hour_key),
                    )),
                    partial_hours: [head, tail]
                        .into_iter()
                        .flatten()
                        .filter(|(start, end)| start < end)
                        .collect(),
                }
            }
        }
    }
}

fn floor_to_hour(millis: i64) -> i64 {
    millis.div_euclid(HOUR_MILLIS) * HOUR_MILLIS
}

fn ceil_to_hour(millis: i64) -> i64 {
    floor_to_hour(millis + HOUR_MILLIS - 1)
}

/// The rollups' hour key: the stored time text up to the hour.
fn hour_key(at: Timestamp) -> String {
    let mut text = at.to_string();
    text.truncate("2026-11-26T09".len());
    text
}

/// The bucket width of a sales series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesBucket {
    /// One bucket per UTC hour.
    Hour,
    /// One bucket per UTC day.
    Day,
}

impl SeriesBucket {
    /// `hour` or `day`.
    pub fn parse(text: &str) -> Result<Self, String> {
        [Self::Hour, Self::Day]
            .into_iter()
            .find(|bucket| bucket.name() == text)
            .ok_or_else(|| "must be 'hour' or 'day'".into())
    }

    /// The query parameter's value for this width.
    fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    fn millis(self) -> i64 {
        match self {
            Self::Hour => HOUR_MILLIS,
            Self::Day => 24 * HOUR_MILLIS,
        }
    }

    /// How many leading characters of a stored time name its bucket
    /// (`2026-11-26T09` for an hour, `2026-11-26` for a day).
    pub fn key_length(self) -> usize {
        match self {
            Self::Hour => "2026-11-26T09".len(),
            Self::Day => "2026-11-26".len(),
        }
    }
}

/// The most buckets one series may hold (41 days of hours, 2.7 years of days).
pub const MAX_SERIES_BUCKETS: i64 = 1000;

/// A validated series request: `[from, to)` cut into whole buckets. Both bounds must
/// fall on bucket boundaries (UTC), so every bucket is whole hours of the rollup and the
/// buckets add up exactly to the sales summary of the same window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesWindow {
    from: Timestamp,
    to: Timestamp,
    bucket: SeriesBucket,
}

impl SeriesWindow {
    /// Checks alignment, order and size; the error names the offending parameter.
    pub fn new(
        from: Timestamp,
        to: Timestamp,
        bucket: SeriesBucket,
    ) -> Result<Self, (&'static str, String)> {
        let width = bucket.millis();
        let unit = match bucket {
            SeriesBucket::Hour => "a whole UTC hour",
            SeriesBucket::Day => "a UTC midnight",
        };
        for (name, bound) in [("from", from), ("to", to)] {
            if bound.unix_millis().rem_euclid(width) != 0 {
                return Err((name, format!("must be {unit} for bucket={}", bucket.name())));
            }
        }
        if from >= to {
            return Err(("from", "must be before 'to'".into()));
        }
        if (to.unix_millis() - from.unix_millis()) / width > MAX_SERIES_BUCKETS {
            return Err((
                "to",
                format!("the window holds more than {MAX_SERIES_BUCKETS} buckets"),
            ));
        }
        Ok(Self { from, to, bucket })
    }

    /// The bucket width.
    pub fn bucket(&self) -> SeriesBucket {
        self.bucket
    }

    /// The window as a report window (for the rollup query).
    pub fn window(&self) -> Window {
        Window {
            from: Some(self.from),
            to: Some(self.to),
        }
    }

    /// The start of every bucket, in order.
    pub fn bucket_starts(&self) -> impl Iterator<Item = Timestamp> + use<> {
        let width = self.bucket.millis();
        let (from, to) = (self.from.unix_millis(), self.to.unix_millis());
        (0..)
            .map(move |index| from + index * width)
            .take_while(move |start| *start < to)
            .map(Timestamp::from_unix_millis)
    }
}

/// The sales of one bucket of a series (non-cancelled orders, like the summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesPoint {
    /// The bucket's first instant.
    pub start: Timestamp,
    /// Orders created in the bucket.
    pub order_count: i64,
    /// Units in those orders.
    pub units_sold: i64,
    /// Their revenue.
    pub total_revenue: Money,
}

impl Serialize for SeriesPoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        json!({
            "start": self.start.to_string(),
            "order_count": self.order_count,
            "units_sold": self.units_sold,
            "total_revenue": self.total_revenue.as_json_number(),
            "total_revenue_cents": self.total_revenue.cents(),
        })
        .serialize(serializer)
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

/// The orders of one status in a window, with their units and revenue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSales {
    /// The orders' current status.
    pub status: OrderStatus,
    /// How many orders.
    pub order_count: i64,
    /// Units in those orders.
    pub units: i64,
    /// Their revenue.
    pub revenue: Money,
}

impl SalesSummary {
    /// The summary of a window from its orders per status and its best sellers.
    pub fn from_status_sales(by_status: &[StatusSales], top_products: Vec<ProductSales>) -> Self {
        let sales = || by_status.iter().filter(|figures| figures.status.is_sale());
        let mut orders_by_status: BTreeMap<&'static str, i64> = OrderStatus::ALL
            .iter()
            .map(|status| (status.as_str(), 0))
            .collect();
        for figures in by_status {
            *orders_by_status.entry(figures.status.as_str()).or_insert(0) += figures.order_count;
        }
        Self {
            order_count: sales().map(|figures| figures.order_count).sum(),
            units_sold: sales().map(|figures| figures.units).sum(),
            total_revenue: Money::from_cents(sales().map(|figures| figures.revenue.cents()).sum()),
            orders_by_status,
            top_products,
        }
    }

    /// Revenue per order, rounded half up to the cent (0 without orders).
    pub fn average_order_value(&self) -> Money {
        if self.order_count == 0 {
            return Money::from_cents(0);
        }
        let cents = self.total_revenue.cents();
        Money::from_cents((2 * cents + self.order_count) / (2 * self.order_count))
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

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_series_window_must_be_whole_buckets_in_order_and_not_too_long() {
        let day = SeriesBucket::Day;
        let hour = SeriesBucket::Hour;
        assert!(
            SeriesWindow::new(at("2026-11-01T00:00:00Z"), at("2026-11-08T00:00:00Z"), day).is_ok()
        );
        assert!(
            SeriesWindow::new(at("2026-11-01T05:00:00Z"), at("2026-11-01T07:00:00Z"), hour).is_ok()
        );
        let refused = [
            (
                at("2026-11-01T05:00:00Z"),
                at("2026-11-02T00:00:00Z"),
                day,
                "from",
            ),
            (
                at("2026-11-01T00:00:00Z"),
                at("2026-11-02T00:00:00.001Z"),
                day,
                "to",
            ),
            (
                at("2026-11-01T05:30:00Z"),
                at("2026-11-01T07:00:00Z"),
                hour,
                "from",
            ),
            (
                at("2026-11-02T00:00:00Z"),
                at("2026-11-01T00:00:00Z"),
                day,
                "from",
            ),
            (
                at("2026-11-01T00:00:00Z"),
                at("2026-11-01T00:00:00Z"),
                day,
                "from",
            ),
            (
                at("2026-01-01T00:00:00Z"),
                at("2026-03-01T00:00:00Z"),
                hour,
                "to",
            ),
        ];
        for (from, to, bucket, field) in refused {
            let error = SeriesWindow::new(from, to, bucket).unwrap_err();
            assert_eq!(error.0, field, "{from} {to} {bucket:?}: {}", error.1);
        }
    }

    #[test]
    fn a_series_has_one_bucket_per_step_from_from_to_to() {
        let window = SeriesWindow::new(
            at("2026-11-30T22:00:00Z"),
            at("2026-12-01T01:00:00Z"),
            SeriesBucket::Hour,
        )
        .unwrap();
        let starts: Vec<String> = window
            .bucket_starts()
            .map(|start| start.to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-11-30T22:00:00.000Z",
                "2026-11-30T23:00:00.000Z",
                "2026-12-01T00:00:00.000Z"
            ]
        );
        assert_eq!(
            SeriesBucket::parse("week"),
            Err("must be 'hour' or 'day'".into())
        );
    }

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
    fn cancelled_orders_count_only_in_orders_by_status() {
        let figures = |status, order_count, units, cents| StatusSales {
            status,
            order_count,
            units,
            revenue: Money::from_cents(cents),
        };
        let summary = SalesSummary::from_status_sales(
            &[
                figures(OrderStatus::Pending, 2, 7, 1_001),
                figures(OrderStatus::Cancelled, 5, 50, 99_999),
                figures(OrderStatus::Shipped, 1, 3, 500),
            ],
            Vec::new(),
        );
        assert_eq!(summary.order_count, 3);
        assert_eq!(summary.units_sold, 10);
        assert_eq!(summary.total_revenue.cents(), 1_501);
        assert_eq!(
            summary.orders_by_status.into_iter().collect::<Vec<_>>(),
            vec![
                ("cancelled", 5),
                ("confirmed", 0),
                ("pending", 2),
                ("shipped", 1)
            ]
        );
    }

    #[test]
    fn windows_refuse_from_after_to() {
        let at = Timestamp::from_unix_millis;
        assert!(Window::new(Some(at(2)), Some(at(1))).is_err());
        assert!(Window::new(Some(at(1)), Some(at(1))).is_ok());
        assert!(Window::new(None, Some(at(1))).is_ok());
    }

    fn time(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn window(from: Option<&str>, to: Option<&str>) -> WindowParts {
        Window::new(from.map(time), to.map(time)).unwrap().parts()
    }

    fn hours(first: Option<&str>, end: Option<&str>) -> Option<(Option<String>, Option<String>)> {
        Some((first.map(str::to_string), end.map(str::to_string)))
    }

    #[test]
    fn an_open_window_is_all_whole_hours() {
        assert_eq!(
            window(None, None),
            WindowParts {
                whole_hours: hours(None, None),
                partial_hours: vec![]
            }
        );
    }

    #[test]
    fn windows_on_the_hour_need_no_partial_hours() {
        assert_eq!(
            window(Some("2026-11-26T09:00:00Z"), Some("2026-11-26T12:00:00Z")),
            WindowParts {
                whole_hours: hours(Some("2026-11-26T09"), Some("2026-11-26T12")),
                partial_hours: vec![],
            }
        );
    }

    #[test]
    fn partial_hours_at_the_edges_are_read_exactly() {
        assert_eq!(
            window(
                Some("2026-11-26T09:15:00.5Z"),
                Some("2026-11-26T12:00:00.001Z")
            ),
            WindowParts {
                whole_hours: hours(Some("2026-11-26T10"), Some("2026-11-26T12")),
                partial_hours: vec![
                    (time("2026-11-26T09:15:00.5Z"), time("2026-11-26T10:00:00Z")),
                    (
                        time("2026-11-26T12:00:00Z"),
                        time("2026-11-26T12:00:00.001Z")
                    ),
                ],
            }
        );
        assert_eq!(
            window(None, Some("2026-11-26T23:59:59Z")),
            WindowParts {
                whole_hours: hours(None, Some("2026-11-26T23")),
                partial_hours: vec![(time("2026-11-26T23:00:00Z"), time("2026-11-26T23:59:59Z"))],
            }
        );
        assert_eq!(
            window(Some("2026-12-31T23:00:00.001Z"), None),
            WindowParts {
                whole_hours: hours(Some("2027-01-01T00"), None),
                partial_hours: vec![(
                    time("2026-12-31T23:00:00.001Z"),
                    time("2027-01-01T00:00:00Z")
                )],
            }
        );
    }

    #[test]
    fn a_window_without_a_whole_hour_is_read_from_orders_only() {
        for (from, to) in [
            ("2026-11-26T09:10:00Z", "2026-11-26T09:20:00Z"),
            ("2026-11-26T09:10:00Z", "2026-11-26T10:20:00Z"),
            ("2026-11-26T09:10:00Z", "2026-11-26T09:10:00Z"),
            ("2026-11-26T09:00:00Z", "2026-11-26T09:00:00Z"),
            ("2026-11-26T09:00:00Z", "2026-11-26T09:59:59.999Z"),
        ] {
            assert_eq!(
                window(Some(from), Some(to)),
                WindowParts {
                    whole_hours: None,
                    partial_hours: vec![(time(from), time(to))]
                },
                "{from} .. {to}"
            );
        }
    }
}
