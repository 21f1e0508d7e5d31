use std::io::Write;

use super::CmdResult;
use crate::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Output format: table or json.
    #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the container ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(g: &Globals, a: Args) -> CmdResult {
    // Buffered: one write for the whole listing, not one per container.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Each container is printed or reduced to its row as it is read, so
    // that a root with thousands of them never holds them all.
    let mut failed = None;
    let mut keep = |r: std::io::Result<()>| {
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
    };
    if a.quiet {
        libcontainer::for_each_container(&g.root, |c| keep(writeln!(out, "{}", c.id)))?;
    } else if a.format == "json" {
        // Nothing is written before the root could be read: an error
        // leaves stdout empty, never a lone "[".
        let mut first = true;
        libcontainer::for_each_container(&g.root, |c| {
            let sep: &[u8] = if std::mem::take(&mut first) {
                b"["
            } else {
                b","
            };
            keep(out.write_all(sep));
            keep(serde_json::to_writer(&mut out, &c).map_err(std::io::Error::from));
        })?;
        keep(out.write_all(if first { b"[]\n" } else { b"]\n" }));
    } else {
        let mut table = Table::new(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
        libcontainer::for_each_container(&g.root, |c| {
            table.push([
                &c.id,
                &c.pid.to_string(),
                &c.status.to_string(),
                &c.bundle.display().to_string(),
                &c.created,
                &c.owner,
            ])
        })?;
        keep(table.write(&mut out));
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    Ok(0)
}

/// Rows kept as one string each with the cells' end offsets (a field may
/// hold any character, so no separator is searched for), and each
/// column's widest cell.
struct Table {
    head: [&'static str; 6],
    rows: Vec<(String, [usize; 6])>,
    width: [usize; 6],
}

impl Table {
    fn new(head: [&'static str; 6]) -> Table {
        Table {
            head,
            rows: Vec::new(),
            width: head.map(str::len),
        }
    }

    fn push(&mut self, cells: [&str; 6]) {
        let mut row = String::with_capacity(cells.iter().map(|c| c.len()).sum());
        let mut ends = [0; 6];
        for (i, c) in cells.iter().enumerate() {
            row.push_str(c);
            ends[i] = row.len();
            self.width[i] = self.width[i].max(c.len());
        }
        self.rows.push((row, ends));
    }

    /// Columns padded like runc's tabwriter (min width 12, padding 3).
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let width = self.width.map(|w| (w + 3).max(12));
        let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
            for (i, c) in cells.enumerate() {
                if i == 5 {
                    out.write_all(c.as_bytes())?;
                } else {
                    write!(out, "{c:<w$}", w = width[i])?;
                }
            }
            writeln!(out)
        };
        line(out, &mut self.head.iter().copied())?;
        for (row, ends) in &self.rows {
            let mut start = 0;
            let mut cells = ends.iter().map(|&end| {
                let c = &row[start..end];
                start = end;
                c
            });
            line(out, &mut cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn table_pads_like_runc() {
        let mut t = Table::new(["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
        t.push([
            "a-very-long-container-id",
            "7",
            "running",
            "/b",
            "2026",
            "root",
        ]);
        t.push(["b", "12345", "stopped", "/bundles/x", "2027", "1000"]);
        // Whatever a (hand-edited) state.json holds stays in its cell.
        t.push(["c", "1", "created", "/a\0b", "", "root"]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let want = format!(
            "{:<27}{:<12}{:<12}{:<13}{:<12}OWNER\n{:<27}{:<12}{:<12}{:<13}{:<12}root\n{:<27}{:<12}{:<12}{:<13}{:<12}1000\n{:<27}{:<12}{:<12}{:<13}{:<12}root\n",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED",
            "a-very-long-container-id", "7", "running", "/b", "2026",
            "b", "12345", "stopped", "/bundles/x", "2027",
            "c", "1", "created", "/a\0b", "",
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
