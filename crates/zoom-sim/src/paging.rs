//! `page_size` / `next_page_token` paging, kept pure.
//!
//! Lists are walked in ascending order of a stable `u64` key (user creation
//! sequence, meeting ID). The opaque `next_page_token` carries the last key
//! returned and a fingerprint of the listing it belongs to, so a token is
//! stable under concurrent inserts and deletes and a token from another
//! listing is rejected instead of silently mis-paging. An empty string means
//! there are no more pages, as in Zoom.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Page size when the request names none (Zoom: 30).
pub const DEFAULT_PAGE_SIZE: usize = 30;
/// Largest page size; larger values are clamped to it (Zoom: 300).
pub const MAX_PAGE_SIZE: usize = 300;

/// How long a `next_page_token` stays valid: 15 minutes (issue 14, seen
/// in the wild; Zoom's docs say the token "expires after 15 minutes").
pub const PAGE_TOKEN_TTL_MS: u64 = 15 * 60 * 1000;

/// Why a paging parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagingError {
    /// `page_size` is not a positive integer.
    BadPageSize,
    /// `next_page_token` is malformed or belongs to another listing.
    BadToken,
    /// `next_page_token` is older than its lifetime.
    Expired,
}

/// Parses `page_size`: absent means [`DEFAULT_PAGE_SIZE`], values above
/// [`MAX_PAGE_SIZE`] are clamped, zero or non-numbers are refused.
pub fn page_size(raw: Option<&str>) -> Result<usize, PagingError> {
    match raw {
        None | Some("") => Ok(DEFAULT_PAGE_SIZE),
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => Err(PagingError::BadPageSize),
            Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
        },
    }
}

/// FNV-1a over the parts, separated: names the listing a cursor belongs to.
#[must_use]
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Encodes "after `key` in listing `scope`, issued at `issued_ms`" as an
/// opaque token.
#[must_use]
pub fn encode(scope: u64, key: u64, issued_ms: u64) -> String {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&scope.to_be_bytes());
    // Mixed with the scope so the key is not readable at a glance.
    bytes[8..16].copy_from_slice(&(key ^ scope.rotate_left(17)).to_be_bytes());
    bytes[16..].copy_from_slice(&issued_ms.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a `next_page_token` at `now_ms`: `Ok(None)` for an absent or
/// empty token (first page), `Ok(Some(key))` to continue after `key`,
/// [`PagingError::Expired`] once it is older than `ttl_ms`.
pub fn decode(
    token: Option<&str>,
    scope: u64,
    now_ms: u64,
    ttl_ms: u64,
) -> Result<Option<u64>, PagingError> {
    let token = match token {
        None | Some("") => return Ok(None),
        Some(t) => t,
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| PagingError::BadToken)?;
    let bytes: [u8; 24] = bytes.try_into().map_err(|_| PagingError::BadToken)?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_be_bytes(w)
    };
    if word(0) != scope {
        return Err(PagingError::BadToken);
    }
    if now_ms.saturating_sub(word(16)) > ttl_ms {
        return Err(PagingError::Expired);
    }
    Ok(Some(word(8) ^ scope.rotate_left(17)))
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, in key order.
    pub items: Vec<T>,
    /// Items in the whole (filtered) listing.
    pub total: usize,
    /// Key of the last item when more items follow, else `None`.
    pub next_after: Option<u64>,
}

impl<T> Page<T> {
    /// Number of pages of `size` the whole listing has (Zoom's `page_count`).
    #[must_use]
    pub fn page_count(&self, size: usize) -> usize {
        self.total.div_ceil(size.max(1))
    }
}

/// Cuts one page out of `items` (ascending by key, already filtered): the
/// first `size` items whose key is greater than `after`. One pass, so `total`
/// is exact.
pub fn paginate<T>(
    items: impl IntoIterator<Item = (u64, T)>,
    after: Option<u64>,
    size: usize,
) -> Page<T> {
    let mut page = Vec::with_capacity(size.min(MAX_PAGE_SIZE));
    let mut total = 0;
    let mut more = false;
    let mut last = None;
    for (key, item) in items {
        total += 1;
        if after.is_some_and(|a| key <= a) {
            continue;
        }
        if page.len() < size {
            page.push(item);
            last = Some(key);
        } else {
            more = true;
        }
    }
    Page {
        items: page,
        total,
        next_after: if more { last } else { None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_rules() {
        assert_eq!(page_size(None), Ok(30));
        assert_eq!(page_size(Some("300")), Ok(300));
        assert_eq!(page_size(Some("1000")), Ok(300));
        assert_eq!(page_size(Some("0")), Err(PagingError::BadPageSize));
        assert_eq!(page_size(Some("x")), Err(PagingError::BadPageSize));
    }

    #[test]
    fn cursor_roundtrip_and_scope_check() {
        let scope = fingerprint(&["users", "acct"]);
        let t = encode(scope, 12345, 1000);
        assert_eq!(decode(Some(&t), scope, 1000, 50), Ok(Some(12345)));
        assert_eq!(decode(Some(&t), scope, 1050, 50), Ok(Some(12345)));
        assert_eq!(
            decode(Some(&t), scope, 1051, 50),
            Err(PagingError::Expired),
            "a cursor expires after its lifetime"
        );
        assert_eq!(decode(Some(""), scope, 0, 0), Ok(None));
        assert_eq!(decode(None, scope, 0, 0), Ok(None));
        let other = fingerprint(&["users", "other"]);
        assert_eq!(
            decode(Some(&t), other, 1000, 50),
            Err(PagingError::BadToken)
        );
        assert_eq!(
            decode(Some("!!"), scope, 1000, 50),
            Err(PagingError::BadToken)
        );
        assert_eq!(
            decode(Some("AAAA"), scope, 0, 0),
            Err(PagingError::BadToken)
        );
        assert!(!t.contains("12345"));
    }

    #[test]
    fn pages_cover_everything_once() {
        let keys: Vec<u64> = (1..=95).map(|k| k * 3).collect();
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let p = paginate(keys.iter().map(|k| (*k, *k)), after, 30);
            assert_eq!(p.total, 95);
            assert_eq!(p.page_count(30), 4);
            seen.extend(p.items);
            pages += 1;
            match p.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        assert_eq!(pages, 4);
        assert_eq!(seen, keys);
    }

    #[test]
    fn exact_multiple_has_no_empty_last_page() {
        let p = paginate((1..=30u64).map(|k| (k, k)), None, 30);
        assert_eq!(p.items.len(), 30);
        assert_eq!(p.next_after, None);
    }
}
