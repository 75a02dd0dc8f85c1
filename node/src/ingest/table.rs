//! A CSV file read whole: the header and every row with the line it starts on. Rows may have any
//! number of fields (the formats decide what a short or long row means), and a row that is not
//! UTF-8 is kept as such so that it is rejected on its own rather than failing the file.

use std::collections::HashMap;
use std::io::Read;

use anyhow::bail;

/// The rows of a CSV file under its header.
#[derive(Debug)]
pub struct Table {
    /// Column names, trimmed, without a byte-order mark.
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    index: HashMap<String, usize>,
}

/// One CSV record.
#[derive(Debug, Clone)]
pub struct Row {
    /// The line where the record starts; the header is line 1.
    pub line: u64,
    /// The fields; where they were not UTF-8, with the bad bytes replaced (see `not_utf8`).
    pub fields: csv::StringRecord,
    /// Why the row is not text, when it is not.
    pub not_utf8: Option<String>,
}

impl Table {
    /// Reads a whole CSV document. Fails on I/O errors and on a file without a header.
    pub fn read(input: impl Read) -> anyhow::Result<Table> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut record = csv::ByteRecord::new();
        if !reader.read_byte_record(&mut record)? {
            bail!("the file is empty; it needs a header row");
        }
        let header: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let f = String::from_utf8_lossy(f);
                let f = if i == 0 {
                    f.trim_start_matches('\u{feff}')
                } else {
                    &f
                };
                f.trim().to_owned()
            })
            .collect();
        let mut index = HashMap::with_capacity(header.len());
        for (i, name) in header.iter().enumerate() {
            index.entry(name.clone()).or_insert(i);
        }
        let mut rows = Vec::new();
        while reader.read_byte_record(&mut record)? {
            let line = record.position().map_or(0, csv::Position::line);
            let row = match csv::StringRecord::from_byte_record(record.clone()) {
                Ok(fields) => Row {
                    line,
                    fields,
                    not_utf8: None,
                },
                Err(e) => Row {
                    line,
                    fields: record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                    not_utf8: Some(format!(
                        "field {} is not UTF-8 text; save the file as UTF-8",
                        e.utf8_error().field() + 1
                    )),
                },
            };
            rows.push(row);
        }
        Ok(Table {
            header,
            rows,
            index,
        })
    }

    /// The position of the first column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Names that appear more than once in the header, with every position (1-based).
    pub fn duplicated_columns(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, name) in self.header.iter().enumerate() {
            match out.iter_mut().find(|(n, _)| n == name) {
                Some((_, at)) => at.push(i + 1),
                None => out.push((name.clone(), vec![i + 1])),
            }
        }
        out.retain(|(_, at)| at.len() > 1);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_bom_flexible_rows_and_bad_bytes() {
        let csv = b"\xef\xbb\xbfa, b ,a\n1,2,3\n\"x\ny\",2\n\xff,1,2\n";
        let t = Table::read(&csv[..]).unwrap();
        assert_eq!(t.header, ["a", "b", "a"]);
        assert_eq!(t.column("a"), Some(0));
        assert_eq!(t.duplicated_columns(), [("a".to_owned(), vec![1, 3])]);
        let lines: Vec<u64> = t.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 5]);
        assert_eq!(t.rows[1].fields.len(), 2);
        assert!(t.rows[0].not_utf8.is_none());
        assert!(t.rows[2].not_utf8.as_ref().unwrap().contains("field 1"));
        assert_eq!(&t.rows[2].fields[1], "1");
        assert!(Table::read(&b""[..]).is_err());
    }
}
