//! Backup files: CSV with a header or JSON lines, gzip-compressed when the name ends in `.gz`.
//! A file is written under a temporary name beside its final one and renamed only when it is
//! complete and synced, so a crash never leaves a half file under the real name.
//!
//! Values are written as text a person can read and migtui can read back exactly: NULL is
//! `\N` in CSV (a text value that starts with `\` gets one more `\` in front) and `null` in
//! JSON lines; timestamps with a zone end in `+00:00`; bytes are `\x` and hex. Reading a value
//! back takes the column's recorded type, so the row hash of a file row equals the row hash of
//! the row it was copied from.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::db::rowhash::HashClass;
use crate::db::{Value, normalize::parse_temporal};

/// How a backup file is laid out, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// The format and compression a path's name asks for, or why it is not one migtui writes.
pub fn format_of(path: &Path) -> Result<(Format, bool), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(s) => (s.to_string(), true),
        None => (name.clone(), false),
    };
    if stem.ends_with(".csv") {
        Ok((Format::Csv, gzip))
    } else if stem.ends_with(".jsonl") || stem.ends_with(".ndjson") {
        Ok((Format::JsonLines, gzip))
    } else {
        Err(format!(
            "`{}` is neither .csv[.gz] nor .jsonl[.gz]",
            path.display()
        ))
    }
}

enum Out {
    Gz(GzEncoder<BufWriter<File>>),
    Plain(BufWriter<File>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Gz(w) => w.write(buf),
            Out::Plain(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Gz(w) => w.flush(),
            Out::Plain(w) => w.flush(),
        }
    }
}

impl Out {
    /// Finish the compressed stream, flush, and sync the file to disk.
    fn finish(self) -> io::Result<()> {
        let buf = match self {
            Out::Gz(w) => w.finish()?,
            Out::Plain(w) => w,
        };
        let file = buf.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}

enum Sink {
    Csv(Box<csv::Writer<Out>>),
    Json(Out),
}

/// A backup file being written under its temporary name.
pub struct FileWriter {
    sink: Sink,
    names: Vec<String>,
    temp: TempFile,
    path: PathBuf,
}

/// The temporary file, removed when dropped unless it was renamed into place: a cancelled or
/// failed copy (even one abandoned mid-await) leaves nothing behind.
struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl FileWriter {
    /// Create the temporary file beside `path` (creating the folder) and write the header.
    pub fn create(path: &Path, names: &[String]) -> io::Result<FileWriter> {
        let (format, gzip) = format_of(path).map_err(io::Error::other)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".partial-{}", std::process::id()));
        let temp = PathBuf::from(temp);
        let file = BufWriter::new(File::create(&temp)?);
        let out = if gzip {
            Out::Gz(GzEncoder::new(file, Compression::default()))
        } else {
            Out::Plain(file)
        };
        let sink = match format {
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(names).map_err(io::Error::other)?;
                Sink::Csv(Box::new(w))
            }
            Format::JsonLines => Sink::Json(out),
        };
        Ok(FileWriter {
            sink,
            names: names.to_vec(),
            temp: TempFile {
                path: temp,
                kept: false,
            },
            path: path.to_path_buf(),
        })
    }

    /// Append rows (values in the header's order).
    pub fn write_rows(&mut self, rows: &[Vec<Value>]) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(w) => {
                for row in rows {
                    w.write_record(row.iter().map(csv_field))
                        .map_err(io::Error::other)?;
                }
            }
            Sink::Json(out) => {
                for row in rows {
                    let obj: serde_json::Map<String, serde_json::Value> = self
                        .names
                        .iter()
                        .zip(row)
                        .map(|(n, v)| {
                            let j = cell_text(v).map_or(serde_json::Value::Null, Into::into);
                            (n.clone(), j)
                        })
                        .collect();
                    serde_json::to_writer(&mut *out, &obj)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        Ok(())
    }

    /// Finish, sync, and rename to the final name; returns the file's size in bytes.
    pub fn finish(mut self) -> io::Result<u64> {
        let out = match self.sink {
            Sink::Csv(w) => w
                .into_inner()
                .map_err(|e| io::Error::other(e.to_string()))?,
            Sink::Json(out) => out,
        };
        out.finish()?;
        std::fs::rename(&self.temp.path, &self.path)?;
        self.temp.kept = true;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(std::fs::metadata(&self.path)?.len())
    }

    /// Give up: close and remove the temporary file.
    pub fn abandon(self) {
        drop(self);
    }
}

/// A value as file text; `None` for NULL.
pub fn cell_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Decimal(d) => d.to_plain_string(),
        Value::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        Value::TimestampTz(t) => t.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string(),
        other => other.display(),
    })
}

fn csv_field(v: &Value) -> String {
    match cell_text(v) {
        None => "\\N".into(),
        Some(s) if s.starts_with('\\') => format!("\\{s}"),
        Some(s) => s,
    }
}

fn csv_cell(field: &str) -> Option<String> {
    match field {
        "\\N" => None,
        f => Some(f.strip_prefix('\\').unwrap_or(f).to_string()),
    }
}

/// File text back to a value of the column's recorded type; text that does not parse stays
/// text (and then hashes differently, so a damaged value is caught).
pub fn parse_cell(text: Option<String>, class: HashClass) -> Value {
    let Some(s) = text else {
        return Value::Null;
    };
    let parsed = match class {
        HashClass::Int => s
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| s.parse::<u64>().map(Value::UInt))
            .ok(),
        HashClass::Decimal => bigdecimal::BigDecimal::from_str(&s)
            .ok()
            .map(Value::Decimal),
        HashClass::Float => s.parse::<f64>().ok().map(Value::Float),
        HashClass::Bool => match s.as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        HashClass::Bytes => s.strip_prefix("\\x").and_then(unhex).map(Value::Bytes),
        HashClass::Date | HashClass::Time | HashClass::Timestamp => parse_temporal(&s),
        HashClass::Uuid => uuid::Uuid::parse_str(&s).ok().map(Value::Uuid),
        HashClass::Json => serde_json::from_str(&s).ok().map(Value::Json),
        HashClass::Text => None,
    };
    parsed.unwrap_or(Value::Text(s))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

enum Source {
    Csv(csv::StringRecordsIntoIter<Box<dyn io::Read + Send>>),
    Json(io::Lines<BufReader<Box<dyn io::Read + Send>>>),
}

/// A backup file read back, row by row, as values of the recorded types.
pub struct FileReader {
    source: Source,
    names: Vec<String>,
    classes: Vec<HashClass>,
    line: u64,
}

impl FileReader {
    /// Open a backup file and check its header against the expected columns.
    pub fn open(path: &Path, names: &[String], classes: &[HashClass]) -> io::Result<FileReader> {
        let (format, gzip) = format_of(path).map_err(io::Error::other)?;
        let file = BufReader::new(File::open(path)?);
        let input: Box<dyn io::Read + Send> = if gzip {
            Box::new(MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let source = match format {
            Format::Csv => {
                let mut r = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(input);
                let header: Vec<String> = r
                    .headers()
                    .map_err(io::Error::other)?
                    .iter()
                    .map(str::to_string)
                    .collect();
                if header != names {
                    return Err(io::Error::other(format!(
                        "the header is `{}`, expected `{}`",
                        header.join(","),
                        names.join(",")
                    )));
                }
                Source::Csv(r.into_records())
            }
            Format::JsonLines => Source::Json(BufReader::new(input).lines()),
        };
        Ok(FileReader {
            source,
            names: names.to_vec(),
            classes: classes.to_vec(),
            line: 1,
        })
    }

    /// Up to `n` rows; an empty vector at the end of the file.
    pub fn next_rows(&mut self, n: usize) -> io::Result<Vec<Vec<Value>>> {
        let mut out = Vec::with_capacity(n.min(10_000));
        while out.len() < n {
            let cells: Vec<Option<String>> = match &mut self.source {
                Source::Csv(records) => match records.next() {
                    None => break,
                    Some(r) => {
                        let r = r.map_err(|e| self.bad(e))?;
                        r.iter().map(csv_cell).collect()
                    }
                },
                Source::Json(lines) => match lines.next() {
                    None => break,
                    Some(l) => {
                        let l = l.map_err(|e| self.bad(e))?;
                        let obj: serde_json::Map<String, serde_json::Value> =
                            serde_json::from_str(&l).map_err(|e| self.bad(e))?;
                        let mut cells = Vec::with_capacity(self.names.len());
                        for n in &self.names {
                            cells.push(match obj.get(n) {
                                Some(serde_json::Value::String(s)) => Some(s.clone()),
                                Some(serde_json::Value::Null) => None,
                                _ => return Err(self.bad(format!("no text value for `{n}`"))),
                            });
                        }
                        cells
                    }
                },
            };
            self.line += 1;
            if cells.len() != self.names.len() {
                return Err(self.bad(format!(
                    "{} fields, expected {}",
                    cells.len(),
                    self.names.len()
                )));
            }
            let row = cells
                .into_iter()
                .zip(&self.classes)
                .map(|(c, class)| parse_cell(c, *class))
                .collect();
            out.push(row);
        }
        Ok(out)
    }

    fn bad(&self, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("line {}: {e}", self.line + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::rowhash::{HashOptions, row_hash};

    fn sample() -> (Vec<String>, Vec<HashClass>, Vec<Vec<Value>>) {
        let names = ["id", "t", "n", "ts", "b", "j", "d"]
            .map(String::from)
            .to_vec();
        let classes = vec![
            HashClass::Int,
            HashClass::Text,
            HashClass::Decimal,
            HashClass::Timestamp,
            HashClass::Bytes,
            HashClass::Json,
            HashClass::Float,
        ];
        let ts = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let rows = vec![
            vec![
                Value::Int(1),
                Value::Text("\\N".into()),
                Value::Decimal("1.50".parse().unwrap()),
                Value::TimestampTz(ts),
                Value::Bytes(vec![0, 0xff]),
                Value::Json(serde_json::json!({"a": [1, "x"]})),
                Value::Float(0.1),
            ],
            vec![
                Value::Int(-2),
                Value::Text("a,\"b\"\nc".into()),
                Value::Null,
                Value::Timestamp(ts.naive_utc()),
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Int(3),
                Value::Text(String::new()),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        ];
        (names, classes, rows)
    }

    #[test]
    fn every_format_reads_back_to_the_same_row_hashes() {
        let (names, classes, rows) = sample();
        let opts = HashOptions::default();
        for file in ["x.csv.gz", "x.csv", "x.jsonl.gz", "x.jsonl"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sub").join(file);
            let mut w = FileWriter::create(&path, &names).unwrap();
            w.write_rows(&rows).unwrap();
            assert!(w.finish().unwrap() > 0);
            let mut r = FileReader::open(&path, &names, &classes).unwrap();
            let back = r.next_rows(10).unwrap();
            assert_eq!(back.len(), rows.len(), "{file}");
            for (a, b) in rows.iter().zip(&back) {
                assert_eq!(
                    row_hash(a, &classes, &opts),
                    row_hash(b, &classes, &opts),
                    "{file}: {a:?} vs {b:?}"
                );
            }
            // NULL and the empty string stay apart.
            assert_eq!(back[2][1], Value::Text(String::new()), "{file}");
            assert_eq!(back[2][2], Value::Null, "{file}");
            assert_eq!(back[0][1], Value::Text("\\N".into()), "{file}");
            assert!(r.next_rows(10).unwrap().is_empty());
            assert_eq!(
                std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
                1
            );
        }
    }

    #[test]
    fn an_unfinished_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv.gz");
        let mut w = FileWriter::create(&path, &["id".to_string()]).unwrap();
        w.write_rows(&[vec![Value::Int(1)]]).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(format_of(Path::new("a/b.txt")).is_err());
        assert_eq!(
            format_of(Path::new("b.JSONL.GZ")),
            Ok((Format::JsonLines, true))
        );
    }
}
