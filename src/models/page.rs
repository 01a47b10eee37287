//! Keyset pagination: `PageLimit` (the `?limit=` of lists, 1..=200, default 50) and
//! `Page`, one page of rows plus the cursor of the next page when more rows exist.

use crate::models::cursor::Cursor;

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// The rows of this page, in list order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only proves that
    /// another page exists, and `sort_key` gives the cursor of the last row kept.
    pub fn from_rows(
        mut rows: Vec<T>,
        limit: PageLimit,
        sort_key: impl Fn(&T) -> Vec<serde_json::Value>,
    ) -> Self {
        let has_more = rows.len() > limit.get() as usize;
        rows.truncate(limit.get() as usize);
        let next = if has_more {
            rows.last().map(|last| Cursor::after(sort_key(last)))
        } else {
            None
        };
        Self { items: rows, next }
    }

    /// Builds a page of a ranked list (search) from up to `limit + 1` rows found after
    /// skipping `skip` matches: the next page starts `limit` matches further on.
    pub fn from_ranked_rows(rows: Vec<T>, limit: PageLimit, skip: u32) -> Self {
        let mut page = Self::from_rows(rows, limit, |_| Vec::new());
        page.next = page
            .next
            .map(|_| Cursor::at_rank(skip.saturating_add(limit.get())));
        page
    }
}

/// How many rows one page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The page size when `?limit=` is absent.
    pub const DEFAULT: Self = Self(50);
    /// The largest page size accepted.
    pub const MAX: u32 = 200;

    /// Parses the text of `?limit=`.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.parse::<u32>()
            .ok()
            .filter(|limit| (1..=Self::MAX).contains(limit))
            .map(Self)
            .ok_or_else(|| format!("must be an integer from 1 to {}", Self::MAX))
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// How many rows to fetch: one more than the page holds, to learn if more exist.
    pub fn fetch_count(self) -> u32 {
        self.0 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_two_hundred_are_refused() {
        assert_eq!(PageLimit::parse("1").unwrap().get(), 1);
        assert_eq!(PageLimit::parse("200").unwrap().get(), 200);
        for bad in ["0", "201", "-1", "abc", "", "1.5"] {
            assert!(PageLimit::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_an_extra_row_was_fetched() {
        let limit = PageLimit::parse("2").unwrap();
        let key = |row: &i64| vec![serde_json::json!(row)];
        let full = Page::from_rows(vec![1, 2, 3], limit, key);
        assert_eq!(full.items, vec![1, 2]);
        assert_eq!(full.next.unwrap().id(), Ok(2));
        let last = Page::from_rows(vec![3, 4], limit, key);
        assert_eq!(last.items, vec![3, 4]);
        assert!(last.next.is_none());
    }
}
