//! Reading the dump's CSV one record at a time, keeping what the importer
//! needs and a general CSV reader hides: the raw text of the record (for the
//! rejects report), the line it starts on, and whether each field was quoted
//! (an unquoted `null` is NULL, a quoted "null" is the word).
//!
//! It also repairs the dump's one unambiguous defect. Some `photos.csv`
//! lines lack the closing quote of their last field; a general CSV reader
//! then swallows the following lines into that field. With `repair` on, a
//! line whose quotes do not balance is closed at its end instead of being
//! continued; whether that really was the last field is checked when the
//! fields are split. Without `repair`, a quoted field may span lines.

use std::io::{self, BufRead};

/// A CSV record as it stood in the file.
#[derive(Debug, Default)]
pub struct RawRecord {
    /// The record's bytes, without its line terminator (and with the closing
    /// quote added when it was repaired).
    pub bytes: Vec<u8>,
    /// 1-based line number of the record's first line.
    pub line: u64,
    /// Whether a missing closing quote was added.
    pub repaired: bool,
}

/// Reads records from a CSV file.
pub struct RecordReader<R> {
    input: R,
    next_line: u64,
    repair: bool,
    bytes_read: u64,
}

impl<R: BufRead> RecordReader<R> {
    /// A reader over `input`; `repair` closes unbalanced quotes at line end.
    pub fn new(input: R, repair: bool) -> Self {
        RecordReader {
            input,
            next_line: 1,
            repair,
            bytes_read: 0,
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads the next record into `record`; `false` at end of input.
    pub fn read(&mut self, record: &mut RawRecord) -> io::Result<bool> {
        record.bytes.clear();
        record.repaired = false;
        record.line = self.next_line;
        let mut odd_quotes = false;
        loop {
            let start = record.bytes.len();
            let n = self.input.read_until(b'\n', &mut record.bytes)?;
            if n == 0 {
                // End of input: nothing at all, or a quoted field that never
                // closed (the field splitter reports it).
                return Ok(!record.bytes.is_empty());
            }
            self.bytes_read += n as u64;
            self.next_line += 1;
            let quotes = record.bytes[start..].iter().filter(|&&b| b == b'"').count();
            odd_quotes ^= quotes % 2 == 1;
            if !odd_quotes {
                strip_terminator(&mut record.bytes);
                return Ok(true);
            }
            if self.repair {
                strip_terminator(&mut record.bytes);
                record.bytes.push(b'"');
                record.repaired = true;
                return Ok(true);
            }
            // A quoted field continues on the next line.
        }
    }
}

fn strip_terminator(bytes: &mut Vec<u8>) {
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
}

/// Why a record could not be split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// A quoted field has no closing quote.
    UnterminatedQuote,
    /// Something other than a comma follows a closing quote.
    TextAfterQuote,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SplitError::UnterminatedQuote => "a quoted field has no closing quote",
            SplitError::TextAfterQuote => "text follows the closing quote of a field",
        })
    }
}

/// The fields of one record, unescaped, reusing their buffers between records.
#[derive(Debug, Default)]
pub struct Fields {
    text: Vec<u8>,
    ends: Vec<usize>,
    quoted: Vec<bool>,
}

impl Fields {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The unescaped bytes of field `i` and whether it was quoted.
    pub fn get(&self, i: usize) -> (&[u8], bool) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (&self.text[start..self.ends[i]], self.quoted[i])
    }

    /// Splits `record` (RFC 4180: comma separated, `"` quoted, `""` inside
    /// quotes is one quote) into these fields.
    pub fn split(&mut self, record: &[u8]) -> Result<(), SplitError> {
        self.text.clear();
        self.ends.clear();
        self.quoted.clear();
        let mut i = 0;
        loop {
            if record.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    match record.get(i) {
                        None => return Err(SplitError::UnterminatedQuote),
                        Some(b'"') if record.get(i + 1) == Some(&b'"') => {
                            self.text.push(b'"');
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            let rest = &record[i..];
                            let run = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
                            self.text.extend_from_slice(&rest[..run]);
                            i += run;
                        }
                    }
                }
                self.ends.push(self.text.len());
                self.quoted.push(true);
                match record.get(i) {
                    None => return Ok(()),
                    Some(b',') => i += 1,
                    Some(_) => return Err(SplitError::TextAfterQuote),
                }
            } else {
                let rest = &record[i..];
                let run = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
                self.text.extend_from_slice(&rest[..run]);
                self.ends.push(self.text.len());
                self.quoted.push(false);
                i += run;
                if i == record.len() {
                    return Ok(());
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn records(input: &str, repair: bool) -> Vec<(u64, String, bool)> {
        let mut reader = RecordReader::new(input.as_bytes(), repair);
        let mut record = RawRecord::default();
        let mut out = Vec::new();
        while reader.read(&mut record).unwrap() {
            let text = String::from_utf8(record.bytes.clone()).unwrap();
            out.push((record.line, text, record.repaired));
        }
        out
    }

    fn split(record: &str) -> Result<Vec<(String, bool)>, SplitError> {
        let mut fields = Fields::default();
        fields.split(record.as_bytes())?;
        Ok((0..fields.len())
            .map(|i| {
                let (bytes, quoted) = fields.get(i);
                (String::from_utf8(bytes.to_vec()).unwrap(), quoted)
            })
            .collect())
    }

    #[test]
    fn records_keep_their_line_numbers_and_lose_terminators() {
        assert_eq!(
            records("a,b\r\n1,\"x\"\n2,\"y\"", false),
            vec![
                (1, "a,b".into(), false),
                (2, "1,\"x\"".into(), false),
                (3, "2,\"y\"".into(), false)
            ]
        );
    }

    #[test]
    fn quoted_fields_may_span_lines_without_repair() {
        assert_eq!(
            records("1,\"two\nlines\"\n2,\"z\"\n", false),
            vec![
                (1, "1,\"two\nlines\"".into(), false),
                (3, "2,\"z\"".into(), false)
            ]
        );
    }

    #[test]
    fn repair_closes_the_last_field_at_line_end() {
        assert_eq!(
            records("1,1,\"u\",\"t\n2,1,\"u\",\"t\"\n3,1,\"u\",\"t", true),
            vec![
                (1, "1,1,\"u\",\"t\"".into(), true),
                (2, "2,1,\"u\",\"t\"".into(), false),
                (3, "3,1,\"u\",\"t\"".into(), true)
            ]
        );
    }

    #[test]
    fn split_unescapes_and_reports_quoting() {
        assert_eq!(
            split(r#"7,"Bright ""Future"", yes",null,"null",,"""#).unwrap(),
            vec![
                ("7".into(), false),
                ("Bright \"Future\", yes".into(), true),
                ("null".into(), false),
                ("null".into(), true),
                ("".into(), false),
                ("".into(), true)
            ]
        );
        assert_eq!(split("").unwrap(), vec![("".into(), false)]);
        assert_eq!(
            split("a,").unwrap(),
            vec![("a".into(), false), ("".into(), false)]
        );
    }

    #[test]
    fn split_rejects_broken_quoting() {
        assert_eq!(split("1,\"open"), Err(SplitError::UnterminatedQuote));
        assert_eq!(split("1,\"a\"b,2"), Err(SplitError::TextAfterQuote));
        // A repaired line whose missing quote was not the last field's.
        assert_eq!(split("1,1,\"u,\"t\""), Err(SplitError::TextAfterQuote));
    }
}
