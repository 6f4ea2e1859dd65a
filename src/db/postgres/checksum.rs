//! PostgreSQL's side of the row hash: SQL that builds the bytes of [`crate::db::rowhash`] and
//! takes their 60-bit MD5 prefix, so a chunk's `(count, sum)` is computed inside the server.

use crate::db::rowhash::{HashClass, HashColumn, HashOptions};

/// The expression of one column's canonical field pair (`enc 0x1F flag`), followed by the
/// separator unless `last`. The constant tails are parenthesized so the planner folds them
/// into one literal: one `||` per column instead of three (each copies the row so far).
fn column(col: &HashColumn, opts: &HashOptions, last: bool) -> String {
    let (c, class) = (col.sql.as_str(), col.class);
    let digits = opts.timestamp_digits.min(6);
    let ts_len = if digits == 0 { 19 } else { 20 + digits };
    let time_len = if digits == 0 { 8 } else { 9 + digits };
    let enc = match class {
        HashClass::Int | HashClass::Text | HashClass::Uuid => format!("{c}::text"),
        HashClass::Decimal => format!("trim_scale({c}::numeric)::text"),
        // `float8::numeric` keeps only 15 significant digits; `float8::text` prints round-trip
        // digits (PostgreSQL 12+ with `extra_float_digits` ≥ 1, set on every connection), the
        // digits Rust rounds. But PostgreSQL's Ryu never ends on a tie: 33749121576282888
        // prints so, where Rust, MariaDB and Python print 3.374912157628289e16, which reads
        // back (ties to even) as the same double. So one digit less is taken when it reads back.
        HashClass::Float => {
            let t = format!("{c}::text");
            let n = format!("{t}::numeric");
            // The place of the last digit printed: the mantissa's decimals less the exponent
            // (`4.1348360683138564e+19` ends at 10^3).
            let last = format!(
                "(scale(split_part({t}, 'e', 1)::numeric) \
                 - coalesce(nullif(split_part({t}, 'e', 2), '')::int, 0))"
            );
            let cut = format!("round({n}, {last} - 1)");
            format!(
                "trim_scale(round(CASE WHEN {cut}::float8 = {c} THEN {cut} ELSE {n} END, {}))::text",
                opts.float_digits
            )
        }
        HashClass::Bool => format!("{c}::int::text"),
        HashClass::Bytes => format!("encode({c}, 'hex')"),
        HashClass::Date => format!("to_char({c}, 'YYYY-MM-DD')"),
        HashClass::Time => format!("left(to_char({c}, 'HH24:MI:SS.US'), {time_len})"),
        // Sessions run with TimeZone=UTC, so timestamptz prints in UTC.
        HashClass::Timestamp => {
            format!("left(to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US'), {ts_len})")
        }
        HashClass::Json => format!("{c}::jsonb::text"),
    };
    let sep = if last { "" } else { " || chr(31)" };
    if col.nullable {
        format!(
            "CASE WHEN {c} IS NULL THEN (chr(31) || '1'{sep}) ELSE {enc} || (chr(31) || '0'{sep}) END"
        )
    } else {
        format!("{enc} || (chr(31) || '0'{sep})")
    }
}

/// The 60-bit row hash as a `bigint` expression over quoted columns (key columns first).
pub(crate) fn row_hash_sql(cols: &[HashColumn], opts: &HashOptions) -> String {
    let row = cols
        .iter()
        .enumerate()
        .map(|(i, c)| column(c, opts, i + 1 == cols.len()))
        .collect::<Vec<_>>()
        .join(" || ");
    format!("('x' || substr(md5({row}), 1, 15))::bit(60)::bigint")
}

/// PostgreSQL ↔ PostgreSQL only: the server's own record hash (`hash_record_extended`, 14+),
/// mixed once more by `hashint8extended` and masked to 60 bits. About 3× cheaper than the
/// canonical text encoding, but it depends on the column types and the server's hash
/// functions, so both sides must match in both.
///
/// The record hash alone combines its fields linearly (`h = 31·h + field`), so a sum of them
/// cannot see values swapped between two rows; the second mix makes each row's hash a
/// non-linear function of its fields.
pub(crate) fn native_row_hash_sql(cols: &[String]) -> String {
    format!(
        "(hashint8extended(hash_record_extended(ROW({}), 0), 0) & 1152921504606846975)",
        cols.join(", ")
    )
}
