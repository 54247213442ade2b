//! A tiny aligned-column renderer for human output.
//!
//! Columns are separated by two spaces and padded to the widest cell; the
//! last column is never padded and no line has trailing whitespace. Control
//! characters in cells (newlines, tabs) become spaces so a row stays one line.
//! Widths count `char`s, which is right for the ASCII this CLI mostly prints.

use std::fmt;

const GAP: &str = "  ";

#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header line.
    pub fn new<I, S>(header: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Table { header: Some(header.into_iter().map(|s| clean(s.as_ref())).collect()), rows: Vec::new() }
    }

    /// A table without a header line (for key/value blocks and timelines).
    pub fn plain() -> Table {
        Table::default()
    }

    /// Appends a row; short rows are padded with empty cells.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Table
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rows.push(cells.into_iter().map(|s| clean(s.as_ref())).collect());
        self
    }

    pub fn render(&self) -> String {
        let lines: Vec<&Vec<String>> = self.header.iter().chain(self.rows.iter()).collect();
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for line in &lines {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in &lines {
            let mut text = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = line.get(i).map(String::as_str).unwrap_or("");
                if i > 0 {
                    text.push_str(GAP);
                }
                text.push_str(cell);
                if i + 1 < columns {
                    let pad = width - cell.chars().count();
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

pub(super) fn clean(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_without_trailing_space() {
        let mut t = Table::new(["ID", "STATUS", "TITLE"]);
        t.row(["1", "triggered", "Disk full"]);
        t.row(["1234", "ack", "CPU"]);
        assert_eq!(
            t.render(),
            "ID    STATUS     TITLE\n\
             1     triggered  Disk full\n\
             1234  ack        CPU\n"
        );
    }

    #[test]
    fn header_only() {
        let t = Table::new(["ID", "NAME"]);
        assert_eq!(t.render(), "ID  NAME\n");
    }

    #[test]
    fn empty_plain_table_renders_nothing() {
        assert_eq!(Table::plain().render(), "");
    }

    #[test]
    fn plain_short_rows_and_empty_last_cells() {
        let mut t = Table::plain();
        t.row(["Status:", "triggered"]);
        t.row(["Acknowledged:"]);
        t.row(["Severity:", ""]);
        assert_eq!(
            t.render(),
            "Status:        triggered\n\
             Acknowledged:\n\
             Severity:\n"
        );
    }

    #[test]
    fn empty_middle_cell_keeps_alignment() {
        let mut t = Table::new(["A", "B", "C"]);
        t.row(["x", "", "z"]);
        t.row(["", "yy", ""]);
        assert_eq!(t.render(), "A  B   C\nx      z\n   yy\n");
    }

    #[test]
    fn control_characters_become_spaces_and_width_counts_chars() {
        let mut t = Table::new(["K", "V"]);
        t.row(["é…", "line1\nline2\tend"]);
        t.row(["abc", "x"]);
        assert_eq!(t.render(), "K    V\né…   line1 line2 end\nabc  x\n");
        assert_eq!(t.to_string(), t.render());
    }
}
