use std::path::PathBuf;

use super::CmdResult;

#[derive(clap::Args)]
pub struct Args {
    /// Bundle directory holding config.json.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
}

/// Exit 0 when the bundle would be accepted, printing what it would run
/// other than as written (`warning: ...`); otherwise every problem, one
/// per line, and exit 1.
pub fn run(a: Args) -> CmdResult {
    match libcontainer::check_bundle(&a.bundle) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            Ok(0)
        }
        Err(libcontainer::SpecError::Invalid { issues, .. }) => {
            for i in issues {
                eprintln!("{i}");
            }
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
