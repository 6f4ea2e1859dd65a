//! MySQL/MariaDB's side of the row hash: SQL that builds the bytes of [`crate::db::rowhash`]
//! and takes their 60-bit MD5 prefix. The prefix is cast to `UNSIGNED` so that `SUM` stays an
//! exact DECIMAL and never falls back to a floating-point DOUBLE.

use crate::db::rowhash::{HashClass, HashColumn, HashOptions};

/// A decimal's text without trailing fractional zeros (`1.50` → `1.5`, `2.00` → `2`).
fn trimmed(s: &str) -> String {
    format!("IF(LOCATE('.', {s}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {s})), {s})")
}

/// A double rounded half away from zero to `d` places, in plain notation. `DECIMAL(65, d)`
/// rounds it from its shortest round-trip digits but clamps from 10^(65-d) on; every double
/// that large is an integer, written out here from its shortest digits (`-1.5e66` is `-15`
/// and 65 zeros), as Rust writes it.
fn float(c: &str, d: u32) -> String {
    let small = trimmed(&format!("CAST(CAST({c} AS DECIMAL(65, {d})) AS CHAR)"));
    let s = format!("CAST({c} AS CHAR)");
    let mantissa = format!("SUBSTRING_INDEX({s}, 'e', 1)");
    let digits = format!("REPLACE({mantissa}, '.', '')");
    let fraction =
        format!("IF(LOCATE('.', {mantissa}) > 0, LENGTH(SUBSTRING_INDEX({mantissa}, '.', -1)), 0)");
    let exponent = format!("CAST(SUBSTRING_INDEX({s}, 'e', -1) AS SIGNED)");
    let big = format!("RPAD({digits}, LENGTH({digits}) + {exponent} - {fraction}, '0')");
    format!(
        "CASE WHEN ABS({c}) < 1e{} THEN {small} ELSE {big} END",
        65 - d
    )
}

fn column(col: &HashColumn, opts: &HashOptions) -> String {
    let (c, class) = (col.sql.as_str(), col.class);
    let digits = opts.timestamp_digits.min(6);
    let ts_len = if digits == 0 { 19 } else { 20 + digits };
    let time_len = if digits == 0 { 8 } else { 9 + digits };
    let enc = match class {
        // Integers convert to their decimal text implicitly, without a CAST per value.
        HashClass::Int => c.to_string(),
        HashClass::Bool => format!("CAST({c} AS CHAR)"),
        // JSON never gets here: `row_hash_sql` leaves its rows to Rust.
        HashClass::Text | HashClass::Json => format!("CONVERT({c} USING utf8mb4)"),
        HashClass::Uuid => format!("LOWER(CONVERT({c} USING utf8mb4))"),
        HashClass::Decimal => trimmed(&format!("CAST({c} AS CHAR)")),
        HashClass::Float => float(c, opts.float_digits.min(30)),
        HashClass::Bytes => format!("LOWER(HEX({c}))"),
        HashClass::Date => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
        HashClass::Time => format!("LEFT(TIME_FORMAT({c}, '%H:%i:%s.%f'), {time_len})"),
        // Sessions run with time_zone '+00:00': TIMESTAMP converts in UTC, DATETIME as stored.
        // A DATETIME(6) prints as `YYYY-MM-DD HH:MM:SS.ffffff` whatever the column's own
        // precision, at about half the cost of DATE_FORMAT.
        HashClass::Timestamp if digits == 6 => format!("CAST({c} AS DATETIME(6))"),
        HashClass::Timestamp => format!("LEFT(CAST({c} AS DATETIME(6)), {ts_len})"),
    };
    // Temporal encodings can be NULL for a stored value (a zero date), and CONCAT_WS would
    // drop that field: only the other classes skip the NULL test when the column is NOT NULL.
    let never_null = !matches!(
        class,
        HashClass::Date | HashClass::Time | HashClass::Timestamp
    );
    if !col.nullable && never_null {
        return format!("{enc}, '0'");
    }
    // `enc` is NULL exactly when the column is: CONCAT_WS then sees `''` and the flag.
    format!("IFNULL({enc}, ''), ISNULL({c})")
}

/// The 60-bit row hash as a `BIGINT UNSIGNED` expression over quoted columns; `None` when a
/// column is JSON, whose rows are then read and hashed in Rust.
///
/// MariaDB keeps JSON as the text written (`{"a":1}`, keys in written order, duplicate keys,
/// `\u00e9` escapes, `1.0`), and no SQL function prints PostgreSQL's `jsonb` form: neither
/// `JSON_EXTRACT(j, '$')` (`", "` separators but keys unsorted, escapes kept) nor
/// `JSON_NORMALIZE` (keys by bytes, not by length, numbers as `1.0E0`).
///
/// One `CONCAT_WS` over `IFNULL(enc, ''), ISNULL(col)` pairs builds the same bytes as nested
/// `IF(… IS NULL …)`/`CONCAT`s. Measured on MariaDB 10.11, the MD5 is cheap; the per-column
/// encoding is what costs (DATE_FORMAT most), hence bare integers and `CAST … DATETIME(6)`.
pub(crate) fn row_hash_sql(cols: &[HashColumn], opts: &HashOptions) -> Option<String> {
    if cols.iter().any(|c| c.class == HashClass::Json) {
        return None;
    }
    let row = cols
        .iter()
        .map(|c| column(c, opts))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "CAST(CONV(SUBSTRING(MD5(CONCAT_WS(CHAR(31 USING utf8mb4), {row})), 1, 15), 16, 10) \
         AS UNSIGNED)"
    ))
}
