//! The text of one migration file: checks that it is text at all, maps byte offsets to
//! `line:col`, collects problems, and expands `${NAME}` from the environment.

use std::path::{Path, PathBuf};

use super::{ConfigProblem, Location};

/// What the file is made of, before any TOML is read: the offset of the first bad byte, the
/// message and a hint when it is not text.
pub(crate) fn check_text(bytes: &[u8]) -> Result<&str, (usize, String, String)> {
    let hint = "a migration file is UTF-8 TOML; is this the right path?".to_string();
    if let Some(nul) = bytes.iter().position(|b| *b == 0) {
        return Err((
            nul,
            "not a text file: it contains NUL bytes".to_string(),
            hint,
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        (
            e.valid_up_to(),
            "not a text file: invalid UTF-8".to_string(),
            hint,
        )
    })
}

/// The file being read and every problem found so far.
pub(crate) struct Cx<'s> {
    file: PathBuf,
    src: &'s str,
    line_starts: Vec<usize>,
    env: &'s dyn Fn(&str) -> Option<String>,
    pub problems: Vec<ConfigProblem>,
    /// Every value substituted from `${ENV}`.
    pub secrets: Vec<String>,
}

impl<'s> Cx<'s> {
    pub fn new(file: &Path, src: &'s str, env: &'s dyn Fn(&str) -> Option<String>) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            file: file.to_path_buf(),
            src,
            line_starts,
            env,
            problems: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn loc(&self, offset: usize) -> Location {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .src
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Location {
            file: self.file.clone(),
            line,
            column,
        }
    }

    pub fn problem(&mut self, at: usize, message: impl Into<String>, hint: Option<String>) {
        let location = self.loc(at);
        self.problems.push(ConfigProblem {
            location,
            message: message.into(),
            hint,
        });
    }

    /// The source text of a span, to find where inside a value a `${NAME}` sits.
    fn text(&self, span: &std::ops::Range<usize>) -> &str {
        self.src.get(span.clone()).unwrap_or_default()
    }

    /// Expand `${NAME}` in a string value found at `span`; `$${` is a literal `${`.
    /// A missing or malformed variable is a problem, and the value is then `None`.
    pub fn interpolate(&mut self, raw: &str, span: std::ops::Range<usize>) -> Option<String> {
        if !raw.contains('$') {
            return Some(raw.to_string());
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        let mut ok = true;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let Some(end) = tail.find('}') else {
                    let at = self.offset_of(&span, after);
                    self.problem(
                        at,
                        "`${` is not closed with `}`",
                        Some("write `${NAME}`, or `$${` for a literal `${`".to_string()),
                    );
                    return None;
                };
                let name = &tail[..end];
                let at = self.offset_of(&span, &after[..end + 3]);
                if !valid_name(name) {
                    self.problem(
                        at,
                        format!("`${{{name}}}` is not a valid environment variable name"),
                        Some("names are letters, digits and `_`, e.g. `${NEW_DATABASE_URL}`; write `$${` for a literal `${`".to_string()),
                    );
                    ok = false;
                } else {
                    match (self.env)(name) {
                        Some(value) => {
                            out.push_str(&value);
                            self.secrets.push(value);
                        }
                        None => {
                            self.problem(
                                at,
                                format!("environment variable `{name}` is not set"),
                                Some(format!(
                                    "export {name}=… before running migtui (names are case-sensitive; secrets belong in the environment, not in this file)"
                                )),
                            );
                            ok = false;
                        }
                    }
                }
                rest = &tail[end + 1..];
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        ok.then_some(out)
    }

    /// The offset of `needle` inside the source text of `span`, or the span's start when the
    /// value was written with escapes and the text differs.
    fn offset_of(&self, span: &std::ops::Range<usize>, needle: &str) -> usize {
        self.text(span)
            .find(needle)
            .map_or(span.start, |i| span.start + i)
    }
}

impl Cx<'_> {
    /// The offset of `needle` as a whole word inside `span` of the file (a placeholder inside
    /// a SQL string), or the span's start when it is not written literally there.
    pub fn find_word(&self, span: std::ops::Range<usize>, needle: &str) -> usize {
        let text = self.text(&span);
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        text.match_indices(needle)
            .find(|(i, _)| !text[i + needle.len()..].starts_with(word))
            .map_or(span.start, |(i, _)| span.start + i)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        // Jaro-Winkler favours long shared prefixes; a swapped pair in a short name
        // (`nwe` for `new`) is one Damerau-Levenshtein edit.
        .filter(|(score, c)| *score >= 0.8 || strsim::damerau_levenshtein(word, c) <= 1)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "PW").then(|| "hunter22".to_string())
    }

    #[test]
    fn lines_and_columns_are_one_based_in_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        let cx = Cx::new(Path::new("f.toml"), src, &env);
        let l = cx.loc(0);
        assert_eq!((l.line, l.column), (1, 1));
        let at = src.find('"').unwrap_or_default();
        let l = cx.loc(at);
        assert_eq!((l.line, l.column), (2, 6));
    }

    #[test]
    fn interpolation_expands_escapes_and_reports_missing() {
        let src = "url = \"a${PW}b$${X} ${NOPE}\"";
        let mut cx = Cx::new(Path::new("f.toml"), src, &env);
        let span = 6..src.len();
        assert_eq!(
            cx.interpolate("a${PW}b$${X}", span.clone()).as_deref(),
            Some("ahunter22b${X}")
        );
        assert_eq!(cx.secrets, vec!["hunter22".to_string()]);
        assert_eq!(cx.interpolate("${NOPE}", span), None);
        let p = &cx.problems[0];
        assert_eq!((p.location.line, p.location.column), (1, 21));
        assert!(p.message.contains("NOPE"));
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(
            did_you_mean("databse", ["database", "table"]),
            Some("database")
        );
        assert_eq!(did_you_mean("zzz", ["database", "table"]), None);
        assert_eq!(did_you_mean("nwe", ["new", "old"]), Some("new"));
    }
}
