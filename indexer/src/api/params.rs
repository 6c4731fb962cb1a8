//! Parsing and validation of everything a client sends: path segments, query strings, addresses,
//! token ids, digests, limits, tiers and the opaque pagination cursors. Every failure is an
//! [`ApiError::BadRequest`] naming the parameter.

use axum::extract::{FromRequestParts, Path as AxumPath, Query as AxumQuery};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Default page size of the list endpoints.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest page size of the list endpoints.
pub const MAX_LIMIT: i64 = 100;

/// Query-string extractor: like axum's, but a malformed string, a bad value or an unknown
/// parameter (the query structs deny unknown fields) is a JSON 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match AxumQuery::<T>::from_request_parts(parts, state).await {
            Ok(AxumQuery(v)) => Ok(Self(v)),
            Err(e) => {
                // serde's own words (unknown field, missing field, duplicate field), without
                // axum's "Failed to deserialize query string" prefix
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                Err(ApiError::bad_request(format!(
                    "invalid query string: {detail}"
                )))
            }
        }
    }
}

/// One path parameter as raw text (validated by the handler with the parsers below).
#[derive(Debug)]
pub struct Path(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Path {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match AxumPath::<String>::from_request_parts(parts, state).await {
            Ok(AxumPath(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// A token id: 1 to 78 decimal digits (what the OpenAPI document's `^[0-9]{1,78}$` accepts), in
/// canonical form (no leading zeros), as the database compares it (`$n::numeric`). A value above
/// 2^256 - 1 is well-formed but names no token: it matches nothing (a 404 for a path, no rows for
/// a filter), so that the server accepts exactly what the document does.
pub fn token_id(name: &str, s: &str) -> Result<String, ApiError> {
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(format!(
            "invalid `{name}`: expected a token id (1 to 78 decimal digits), got {s:?}"
        )));
    }
    let canonical = s.trim_start_matches('0');
    Ok(if canonical.is_empty() { "0" } else { canonical }.to_owned())
}

fn hex_bytes(name: &str, s: &str, len: usize, what: &str) -> Result<Vec<u8>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid `{name}`: expected {what} (0x and {} hex digits)",
            len * 2
        ))
    };
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(bad)?;
    if hex.len() != len * 2 {
        return Err(bad());
    }
    hex::decode(hex).map_err(|_| bad())
}

/// A 20-byte address: `0x` and 40 hex digits, any case (checksum case is not enforced).
pub fn address(name: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    hex_bytes(name, s, 20, "an address")
}

/// A 32-byte hash or digest: `0x` and 64 hex digits.
pub fn bytes32(name: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    hex_bytes(name, s, 32, "a 32-byte hex value")
}

/// An optional address filter.
pub fn opt_address(name: &str, s: Option<&str>) -> Result<Option<Vec<u8>>, ApiError> {
    s.map(|s| address(name, s)).transpose()
}

/// An optional token id filter.
pub fn opt_token_id(name: &str, s: Option<&str>) -> Result<Option<String>, ApiError> {
    s.map(|s| token_id(name, s)).transpose()
}

/// A page size: `1..=max`, `default` when absent.
pub fn limit(v: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "invalid `limit` {n}: must be between 1 and {max}"
        ))),
    }
}

/// Longest free-text filter, in characters (the document's `maxLength`, which counts characters).
pub const MAX_TEXT: usize = 256;

/// A non-empty free-text filter (model ids): 1 to [`MAX_TEXT`] characters, no NUL (PostgreSQL
/// text cannot hold one).
pub fn text(name: &str, s: Option<String>) -> Result<Option<String>, ApiError> {
    match s {
        Some(s) if s.is_empty() || s.chars().count() > MAX_TEXT || s.contains('\0') => {
            Err(ApiError::bad_request(format!(
                "invalid `{name}`: must be 1 to {MAX_TEXT} characters without NUL"
            )))
        }
        other => Ok(other),
    }
}

/// Memory kinds, as named by the API (`kind` column: 0, 1, 2).
pub const KINDS: [&str; 3] = ["w_matrix", "kv_cache", "other"];

/// A memory kind name to its stored number.
pub fn kind(s: Option<&str>) -> Result<Option<i16>, ApiError> {
    s.map(|s| {
        KINDS
            .iter()
            .position(|k| *k == s)
            .map(|i| i as i16)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid `kind` {s:?}: expected one of {}",
                    KINDS.join(", ")
                ))
            })
    })
    .transpose()
}

/// Certificate tiers, as named by the API (`level` column: 1..=4).
pub const TIERS: [&str; 4] = ["bronze", "silver", "gold", "platinum"];

/// A tier name (or its level number) to the stored level.
pub fn tier(name: &str, s: Option<&str>) -> Result<Option<i16>, ApiError> {
    s.map(|s| {
        if let Some(i) = TIERS.iter().position(|t| *t == s) {
            return Ok(i as i16 + 1);
        }
        match s.parse::<i16>() {
            Ok(n @ 1..=4) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "invalid `{name}` {s:?}: expected one of {} or a level 1..=4",
                TIERS.join(", ")
            ))),
        }
    })
    .transpose()
}

/// A `status`-like filter: the value of the entry of `table` named `s` (names listed in the
/// error otherwise).
pub fn choice(
    name: &str,
    s: Option<&str>,
    table: &[(&'static str, &'static str)],
) -> Result<Option<&'static str>, ApiError> {
    s.map(|s| {
        table
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                ApiError::bad_request(format!(
                    "invalid `{name}` {s:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    })
    .transpose()
}

/// Position of a page boundary. Cursors are opaque to clients: hex of `v1:<scope>:<position>`,
/// where the scope names the listing, so a cursor of one listing is refused by another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this token id (memories, ascending).
    Token(String),
    /// Before this (block number, log index) (event lists, newest first).
    Event(i64, i64),
}

impl Cursor {
    /// The opaque form of the cursor for the listing `scope`.
    pub fn encode(&self, scope: &str) -> String {
        let raw = match self {
            Self::Token(id) => format!("v1:{scope}:{id}"),
            Self::Event(b, l) => format!("v1:{scope}:{b}:{l}"),
        };
        hex::encode(raw)
    }

    /// Parses a cursor of the listing `scope`; `token` says which position form it holds.
    pub fn decode(scope: &str, token: bool, s: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_request(
                "invalid `cursor`: pass the `next_cursor` of a previous page of this listing",
            )
        };
        if s.len() > 256 {
            return Err(bad());
        }
        let raw = hex::decode(s).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let rest = raw
            .strip_prefix("v1:")
            .and_then(|r| r.strip_prefix(scope))
            .and_then(|r| r.strip_prefix(':'));
        let rest = rest.ok_or_else(bad)?;
        if token {
            return token_id("cursor", rest).map(Self::Token).map_err(|_| bad());
        }
        let (b, l) = rest.split_once(':').ok_or_else(bad)?;
        let (b, l) = (position(b).ok_or_else(bad)?, position(l).ok_or_else(bad)?);
        Ok(Self::Event(b, l))
    }

    /// The pattern (for the OpenAPI document) of the cursors of the listing `scope`: the hex
    /// (either case) of `v1:<scope>:` and the position's digits. Exactly what [`Self::decode`]
    /// accepts; a test checks that the document states it for every paginated route.
    pub fn pattern(scope: &str, token: bool) -> String {
        fn hex_of(s: &str) -> String {
            hex::encode(s)
                .chars()
                .map(|c| match c {
                    'a'..='f' => format!("[{c}{}]", c.to_ascii_uppercase()),
                    c => c.to_string(),
                })
                .collect()
        }
        let digit = "3[0-9]";
        let position = if token {
            format!("({digit}){{1,78}}")
        } else {
            let n = format!("({digit}){{1,{POSITION_DIGITS}}}");
            format!("{n}{}{n}", hex_of(":"))
        };
        format!("^{}{position}$", hex_of(&format!("v1:{scope}:")))
    }

    /// Parses an optional event-list cursor.
    pub fn event(scope: &str, s: Option<&str>) -> Result<Option<(i64, i64)>, ApiError> {
        match s.map(|s| Self::decode(scope, false, s)).transpose()? {
            Some(Self::Event(b, l)) => Ok(Some((b, l))),
            _ => Ok(None),
        }
    }

    /// Parses an optional token-id cursor.
    pub fn token(scope: &str, s: Option<&str>) -> Result<Option<String>, ApiError> {
        match s.map(|s| Self::decode(scope, true, s)).transpose()? {
            Some(Self::Token(id)) => Ok(Some(id)),
            _ => Ok(None),
        }
    }
}

/// Most digits of a block number or log index in a cursor: every such number fits an `i64`.
const POSITION_DIGITS: usize = 18;

/// A block number or log index of a cursor: 1 to [`POSITION_DIGITS`] ASCII digits (no sign).
fn position(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > POSITION_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;

    use super::*;

    #[test]
    fn token_ids() {
        assert_eq!(token_id("id", "0").ok().as_deref(), Some("0"));
        assert_eq!(token_id("id", "007").ok().as_deref(), Some("7"));
        assert_eq!(token_id("id", "000").ok().as_deref(), Some("0"));
        let max = U256::MAX.to_string();
        assert_eq!(token_id("id", &max).ok(), Some(max.clone()));
        // well-formed, above uint256: accepted, matches nothing
        assert_eq!(token_id("id", &"9".repeat(78)).ok(), Some("9".repeat(78)));
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "0x10",
            " 1",
            "abc",
            &format!("{max}0"),
            &"0".repeat(79),
        ] {
            assert!(token_id("id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_and_digests() {
        let a = "0x00000000000000000000000000000000000A11cE";
        assert_eq!(address("owner", a).ok().map(|v| v.len()), Some(20));
        for bad in [
            "",
            "0x",
            "a11ce",
            "0x0a11ce",
            &a[..41],
            &format!("{a}0"),
            "0xzz00000000000000000000000000000000000000",
        ] {
            assert!(address("owner", bad).is_err(), "{bad:?}");
        }
        assert!(bytes32("digest", &format!("0x{}", "ab".repeat(32))).is_ok());
        assert!(bytes32("digest", &format!("0x{}", "ab".repeat(31))).is_err());
    }

    #[test]
    fn limits_tiers_kinds() {
        assert_eq!(limit(None, 20, 100).ok(), Some(20));
        assert_eq!(limit(Some(100), 20, 100).ok(), Some(100));
        for bad in [0, -1, 101, 10_000, i64::MAX] {
            assert!(limit(Some(bad), 20, 100).is_err());
        }
        assert_eq!(tier("tier", Some("gold")).ok(), Some(Some(3)));
        assert_eq!(tier("tier", Some("4")).ok(), Some(Some(4)));
        assert!(tier("tier", Some("5")).is_err());
        assert!(tier("tier", Some("Gold")).is_err());
        assert_eq!(kind(Some("kv_cache")).ok(), Some(Some(1)));
        assert!(kind(Some("1")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_are_scoped() {
        let c = Cursor::Event(12, 3).encode("sales");
        assert_eq!(Cursor::event("sales", Some(&c)).ok(), Some(Some((12, 3))));
        assert!(Cursor::event("listings", Some(&c)).is_err());
        let t = Cursor::Token("42".into()).encode("memories");
        assert_eq!(
            Cursor::token("memories", Some(&t)).ok(),
            Some(Some("42".into()))
        );
        assert!(Cursor::event("memories", Some(&t)).is_err());
        for bad in [
            "",
            "zz",
            "00",
            &hex::encode("v1:sales:-1:0"),
            &hex::encode("v1:sales:1"),
            &hex::encode("v2:sales:1:1"),
            &hex::encode("v1:sales:+1:1"),
            &hex::encode("v1:sales:1:"),
            &hex::encode(format!("v1:sales:1:{}", "9".repeat(19))),
        ] {
            assert!(Cursor::event("sales", Some(bad)).is_err(), "{bad:?}");
        }
        assert!(Cursor::token("memories", Some(&hex::encode("v1:memories:-5"))).is_err());
    }
}
