//! Catalog search: turning what a user typed into a safe SQLite FTS5 query, and the
//! list filters (`category`, `min_price`, `max_price`, `in_stock`).
//!
//! User text is never passed to FTS5 as syntax. It is split into words (letters and
//! digits), each word is quoted, and only the last word becomes a prefix, so quotes,
//! `*`, `-`, `:`, `(` and `NEAR` are just separators or ordinary words.

use crate::models::money::Money;

/// The most words of a query that are used; the rest are ignored.
const MAX_WORDS: usize = 16;

/// A full-text query: what a user typed, reduced to words (letters and digits, lower
/// case), from which each database's query syntax is built with every word quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// At least one word, at most `MAX_WORDS`.
    words: Vec<String>,
}

impl SearchQuery {
    /// The words of `text`, or `None` when it holds no word at all (such a search
    /// matches nothing).
    ///
    /// Words must all match (in name, description, SKU or category), the last one as a
    /// prefix ("wirel" finds "Wireless"). SKUs are also indexed without separators, so
    /// "AB-12", "ab12" and "AB 12" all find the SKU `AB-12`.
    pub fn parse(text: &str) -> Option<Self> {
        let words: Vec<String> = text
            .split(|character: char| !character.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .take(MAX_WORDS)
            .map(str::to_lowercase)
            .collect();
        (!words.is_empty()).then_some(Self { words })
    }

    /// The FTS5 query text, to bind as a parameter of `MATCH`.
    pub fn as_fts(&self) -> String {
        let all_words = format!(
            "{{sku name description category}} : ({})",
            self.terms(|word| format!("\"{word}\""), "*", " AND ")
        );
        let compact_sku = format!("sku_compact : \"{}\"*", self.words.concat());
        format!("({all_words}) OR ({compact_sku})")
    }

    /// The PostgreSQL query text, to bind as the parameter of `to_tsquery('simple', …)`.
    /// Words hold only letters and digits, so quoting them is enough. A document has no
    /// columns, only weights: the compact SKU is matched among the A-weighted words (the
    /// SKU's).
    pub fn as_tsquery(&self) -> String {
        let all_words = self.terms(|word| format!("'{word}'"), ":*", " & ");
        format!("({all_words}) | '{}':*A", self.words.concat())
    }

    /// Every word quoted by `quote`, the last one followed by `prefix`, joined by `and`.
    fn terms(&self, quote: impl Fn(&str) -> String, prefix: &str, and: &str) -> String {
        let mut terms: Vec<String> = self.words.iter().map(|word| quote(word)).collect();
        if let Some(last) = terms.last_mut() {
            last.push_str(prefix);
        }
        terms.join(and)
    }
}

/// The filters of a product list.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Only this category (compared ignoring letter case).
    pub category: Option<String>,
    /// Only prices at or above.
    pub min_price: Option<Money>,
    /// Only prices at or below.
    pub max_price: Option<Money>,
    /// Only products with (true) or without (false) stock.
    pub in_stock: Option<bool>,
}

impl ProductFilter {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.category.is_none()
            && self.min_price.is_none()
            && self.max_price.is_none()
            && self.in_stock.is_none()
    }
}

/// Parses `true`/`false` (also `1`/`0`) query values.
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_becomes_quoted_words_with_a_prefix_on_the_last() {
        let query = SearchQuery::parse("Wireless MOUSE").unwrap();
        assert_eq!(
            query.as_fts(),
            "({sku name description category} : (\"wireless\" AND \"mouse\"*)) \
             OR (sku_compact : \"wirelessmouse\"*)"
        );
    }

    #[test]
    fn the_postgres_query_has_the_same_words_and_prefix() {
        let query = SearchQuery::parse("Wireless MOUSE").unwrap();
        assert_eq!(
            query.as_tsquery(),
            "('wireless' & 'mouse':*) | 'wirelessmouse':*A"
        );
    }

    #[test]
    fn fts_syntax_typed_by_users_is_reduced_to_words() {
        let query = SearchQuery::parse("\"ab-12\" OR (x:* NEAR").unwrap();
        assert!(
            query
                .as_fts()
                .contains("\"ab\" AND \"12\" AND \"or\" AND \"x\" AND \"near\"*")
        );
        assert_eq!(SearchQuery::parse("*** :: ()"), None);
        assert_eq!(SearchQuery::parse(""), None);
    }
}
