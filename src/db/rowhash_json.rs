//! PostgreSQL's `jsonb` text ([`super::rowhash::jsonb_text`]) written straight from JSON text,
//! without a `serde_json::Value` tree. MariaDB keeps JSON as the text written, so its rows are
//! hashed in Rust, and building and freeing one tree per row was most of that cost.
//!
//! Only a conservative subset is handled: strings without escapes or control characters,
//! objects without duplicate keys, bounded nesting. On anything else [`canonical_json`]
//! returns `false` and the caller takes the tree path, so the bytes are always the tree's.
//! Numbers are read and printed by `serde_json` itself, as the tree path does.

/// Deeper documents take the tree path (`serde_json` itself stops at 128).
const MAX_DEPTH: usize = 64;

/// Append the `jsonb` text of `text` to `out` and return `true`; or leave `out` as it was and
/// return `false` when `text` is outside the subset this handles (or is not JSON).
pub(crate) fn canonical_json(text: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let ok = p.value(out, 0) && {
        p.ws();
        p.i == p.s.len()
    };
    if !ok {
        out.truncate(start);
    }
    ok
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> bool {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') if depth < MAX_DEPTH => self.object(out, depth + 1),
            Some(b'[') if depth < MAX_DEPTH => self.array(out, depth + 1),
            Some(b'"') => match self.string() {
                Some((a, b)) => {
                    out.push(b'"');
                    out.extend_from_slice(&self.s[a..b]);
                    out.push(b'"');
                    true
                }
                None => false,
            },
            Some(b't') => self.literal(b"true", out),
            Some(b'f') => self.literal(b"false", out),
            Some(b'n') => self.literal(b"null", out),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> bool {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            out.extend_from_slice(word);
            true
        } else {
            false
        }
    }

    /// The byte range of a string's contents (the opening quote at `i`), `None` when it holds
    /// an escape or a control character (or is unterminated). Without them its decoded text is
    /// its bytes, and `jsonb` prints them unchanged.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i + 1;
        let mut j = start;
        loop {
            match *self.s.get(j)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => j += 1,
            }
        }
        self.i = j + 1;
        Some((start, j))
    }

    fn number(&mut self, out: &mut Vec<u8>) -> bool {
        let start = self.i;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.s.get(self.i) {
            self.i += 1;
        }
        let Ok(token) = std::str::from_utf8(&self.s[start..self.i]) else {
            return false;
        };
        match serde_json::from_str::<serde_json::Number>(token) {
            Ok(n) => {
                out.extend_from_slice(n.to_string().as_bytes());
                true
            }
            Err(_) => false,
        }
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> bool {
        self.i += 1;
        out.push(b'[');
        if self.eat(b']') {
            out.push(b']');
            return true;
        }
        loop {
            if !self.value(out, depth) {
                return false;
            }
            if self.eat(b']') {
                out.push(b']');
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
            out.extend_from_slice(b", ");
        }
    }

    /// Members are written in the order read; when their keys are not already in `jsonb`
    /// order (by length, then bytes) they are rewritten sorted.
    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> bool {
        self.i += 1;
        out.push(b'{');
        if self.eat(b'}') {
            out.push(b'}');
            return true;
        }
        let base = out.len();
        // (key range in the text, member range in `out`)
        let mut members: Vec<((usize, usize), (usize, usize))> = Vec::new();
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return false;
            }
            let Some(key) = self.string() else {
                return false;
            };
            if !self.eat(b':') {
                return false;
            }
            if !members.is_empty() {
                out.extend_from_slice(b", ");
            }
            let from = out.len();
            out.push(b'"');
            out.extend_from_slice(&self.s[key.0..key.1]);
            out.extend_from_slice(b"\": ");
            if !self.value(out, depth) {
                return false;
            }
            members.push((key, (from, out.len())));
            if self.eat(b'}') {
                break;
            }
            if !self.eat(b',') {
                return false;
            }
        }
        let key = |k: (usize, usize)| (k.1 - k.0, &self.s[k.0..k.1]);
        let sorted = members.windows(2).all(|w| key(w[0].0) < key(w[1].0));
        if !sorted {
            members.sort_by(|a, b| key(a.0).cmp(&key(b.0)));
            // A duplicate key: the tree keeps the last one; leave that to it.
            if members.windows(2).any(|w| key(w[0].0) == key(w[1].0)) {
                return false;
            }
            let written = out.split_off(base);
            for (n, (_, (a, b))) in members.iter().enumerate() {
                if n > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(&written[a - base..b - base]);
            }
        }
        out.push(b'}');
        true
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_json;
    use crate::db::rowhash::jsonb_text;

    /// What the tree path makes of `text`: its `jsonb` text, or the text itself when it is not
    /// JSON (as [`crate::db::rowhash::encode_value`] does).
    fn tree(text: &str) -> String {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(j) => jsonb_text(&j),
            Err(_) => text.to_string(),
        }
    }

    #[test]
    fn agrees_with_the_tree_path_or_declines() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let cases = [
            r#"{"b": 1, "a": 2}"#,
            r#"{"aa":1,"b":{"d":[1,2.5,-3,"x"],"c":null},"a":true}"#,
            r#"  { "tags" : [ "svc-35" , "team-10" ] , "impact" : { "degraded" : false } }  "#,
            r#"{"a":1,"a":2}"#,
            r#"{"b":1,"a":2,"b":3}"#,
            r#"{"a":"x\"y"}"#,
            r#"{"a":"\u00e9"}"#,
            r#"{"é":1,"z":2,"ab":3}"#,
            "[1.0, 1e2, 1E+2, -0, -0.0, 0.1, 12345678901234567890, 123456789012345678901234]",
            "[1e400]",
            "[01]",
            "[1.]",
            "[-]",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "[\"tab\there\"]",
            "[tru]",
            "true",
            "\"s\"",
            "12",
            "",
            "   ",
            "{}",
            "[]",
            "{\"a\":{},\"b\":[]}",
            "[1] x",
            "[1]]",
            "{\"\":1,\"a\":[{\"y\":1,\"x\":2}]}",
            "[\"\\ud800\"]",
            &deep,
        ];
        for text in cases {
            let mut out = b"prefix".to_vec();
            let fast = canonical_json(text, &mut out);
            let (head, tail) = out.split_at(6);
            assert_eq!(head, b"prefix", "{text}");
            if fast {
                assert_eq!(String::from_utf8_lossy(tail), tree(text), "{text}");
            } else {
                assert!(tail.is_empty(), "{text}: declined but wrote {tail:?}");
            }
        }
    }

    #[test]
    fn takes_the_common_documents_itself() {
        let mut out = Vec::new();
        assert!(canonical_json(
            r#"{"tags": ["a"], "impact": {"degraded": true}, "source": "x", "n": 1.5}"#,
            &mut out
        ));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"n": 1.5, "tags": ["a"], "impact": {"degraded": true}, "source": "x"}"#
        );
    }

    #[test]
    fn random_documents_agree_with_the_tree_path() {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            "[a-c\u{e9} ]{0,3}".prop_map(|s| format!("\"{s}\"")),
            Just("\"q\\\"\"".to_string()),
        ];
        let doc = leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-c]{0,2}", inner), 0..4).prop_map(|v| {
                    let m: Vec<String> = v
                        .into_iter()
                        .map(|(k, x)| format!("\"{k}\" : {x}"))
                        .collect();
                    format!("{{ {} }}", m.join(" ,"))
                }),
            ]
        });
        proptest!(|(text in doc)| {
            let mut out = Vec::new();
            if canonical_json(&text, &mut out) {
                prop_assert_eq!(String::from_utf8_lossy(&out).to_string(), tree(&text));
            }
        });
    }
}
