//! Page-number paging shared by every list endpoint: bounded page sizes and a total.

use serde::{Deserialize, Serialize};

/// Largest page a client may ask for.
pub const MAX_PER_PAGE: u32 = 100;
/// Page size when the client does not say.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// Which page of a listing is wanted (1-based), clamped to sane bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// The page number, from 1.
    pub page: u32,
    /// Items per page, 1 to `MAX_PER_PAGE`.
    pub per_page: u32,
}

impl PageRequest {
    /// A request for `page` of `per_page` items, clamped.
    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Self {
        Self {
            page: page.unwrap_or(1).max(1),
            per_page: per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE),
        }
    }

    /// Rows to skip.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    /// Rows to take.
    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new(None, None)
    }
}

/// One page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// Items matching in all.
    pub total: i64,
    /// This page's number.
    pub page: u32,
    /// The page size.
    pub per_page: u32,
}

impl<T> Page<T> {
    /// Assembles a page.
    pub fn new(items: Vec<T>, total: i64, request: PageRequest) -> Self {
        Self {
            items,
            total,
            page: request.page,
            per_page: request.per_page,
        }
    }

    /// The same page with each item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            per_page: self.per_page,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_request_is_clamped_and_offsets_from_one() {
        let request = PageRequest::new(Some(0), Some(1000));
        assert_eq!((request.page, request.per_page), (1, MAX_PER_PAGE));
        assert_eq!(PageRequest::new(Some(3), Some(10)).offset(), 20);
        assert_eq!(PageRequest::default().limit(), i64::from(DEFAULT_PER_PAGE));
    }
}
