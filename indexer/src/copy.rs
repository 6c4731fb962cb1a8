//! Rows in PostgreSQL's COPY text format, for bulk inserts with `COPY ... FROM STDIN`.

use std::fmt::Write as _;

use alloy::primitives::U256;
use sqlx::PgConnection;

use crate::error::Result;

/// A buffer of rows for one `COPY table (columns) FROM STDIN` statement.
#[derive(Debug)]
pub struct CopyRows {
    statement: String,
    buf: String,
    rows: usize,
    fresh_row: bool,
}

impl CopyRows {
    /// Rows for `table (columns)`.
    pub fn new(table: &str, columns: &[&str]) -> Self {
        Self {
            statement: format!("COPY {table} ({}) FROM STDIN", columns.join(", ")),
            buf: String::new(),
            rows: 0,
            fresh_row: true,
        }
    }

    fn sep(&mut self) {
        if !self.fresh_row {
            self.buf.push('\t');
        }
        self.fresh_row = false;
    }

    /// A bigint/integer field.
    pub fn int(&mut self, v: impl Into<i128>) -> &mut Self {
        self.sep();
        let _ = write!(self.buf, "{}", v.into());
        self
    }

    /// A numeric field.
    pub fn u256(&mut self, v: &U256) -> &mut Self {
        self.sep();
        let _ = write!(self.buf, "{v}");
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.buf.push(if v { 't' } else { 'f' });
        self
    }

    /// A bytea field (hex form; the backslash itself is escaped for COPY).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.sep();
        self.buf.push_str("\\\\x");
        self.buf.push_str(&hex::encode(v));
        self
    }

    /// An optional field; `None` is SQL NULL.
    pub fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T) -> &mut Self) -> &mut Self {
        match v {
            Some(v) => f(self, v),
            None => self.null(),
        }
    }

    /// A NULL field.
    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.push_str("\\N");
        self
    }

    /// A text field, escaped for COPY; NUL (which PostgreSQL text cannot hold) becomes U+FFFD.
    pub fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        for c in v.chars() {
            match c {
                '\\' => self.buf.push_str("\\\\"),
                '\t' => self.buf.push_str("\\t"),
                '\n' => self.buf.push_str("\\n"),
                '\r' => self.buf.push_str("\\r"),
                '\0' => self.buf.push('\u{FFFD}'),
                c => self.buf.push(c),
            }
        }
        self
    }

    /// A numeric[] field.
    pub fn u256_array(&mut self, v: &[U256]) -> &mut Self {
        self.sep();
        self.buf.push('{');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            let _ = write!(self.buf, "{x}");
        }
        self.buf.push('}');
        self
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.buf.push('\n');
        self.rows += 1;
        self.fresh_row = true;
    }

    /// Number of complete rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Sends the rows with one COPY on `conn` (nothing when empty); returns rows written.
    pub async fn send(self, conn: &mut PgConnection) -> Result<u64> {
        if self.rows == 0 {
            return Ok(0);
        }
        let mut copy = conn.copy_in_raw(&self.statement).await?;
        copy.send(self.buf.into_bytes()).await?;
        Ok(copy.finish().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_in_copy_text_format() {
        let mut r = CopyRows::new("t", &["a", "b", "c", "d", "e", "f", "g"]);
        r.int(-3i64)
            .u256(&U256::MAX)
            .bytes(&[0xab, 0x01])
            .text("a\tb\\c\nd\0")
            .opt(None::<bool>, |r, v| r.bool(v))
            .u256_array(&[U256::from(1), U256::from(22)])
            .bool(true);
        r.end_row();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.buf,
            format!(
                "-3\t{}\t\\\\xab01\ta\\tb\\\\c\\nd\u{FFFD}\t\\N\t{{1,22}}\tt\n",
                U256::MAX
            )
        );
        assert_eq!(r.statement, "COPY t (a, b, c, d, e, f, g) FROM STDIN");
    }
}
