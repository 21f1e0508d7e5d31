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
    let list = libcontainer::list(&g.root)?;
    // Buffered: one write for the whole listing, not one per container.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.quiet {
        for c in &list {
            writeln!(out, "{}", c.id)?;
        }
    } else if a.format == "json" {
        writeln!(out, "{}", serde_json::to_string(&list)?)?;
    } else {
        let rows: Vec<[String; 6]> = list
            .iter()
            .map(|c| {
                [
                    c.id.clone(),
                    c.pid.to_string(),
                    c.status.to_string(),
                    c.bundle.display().to_string(),
                    c.created.clone(),
                    c.owner.clone(),
                ]
            })
            .collect();
        write_table(
            &mut out,
            ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
            &rows,
        )?;
    }
    out.flush()?;
    Ok(0)
}

/// Columns padded like runc's tabwriter (min width 12, padding 3).
fn write_table(out: &mut impl Write, head: [&str; 6], rows: &[[String; 6]]) -> std::io::Result<()> {
    let mut width = head.map(|h| h.len());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let width = width.map(|w| (w + 3).max(12));
    let line = |cells: [&str; 6]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 5 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}", w = width[i]));
            }
        }
        s
    };
    writeln!(out, "{}", line(head))?;
    for r in rows {
        writeln!(
            out,
            "{}",
            line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]].map(|s| s.as_str()))
        )?;
    }
    Ok(())
}
