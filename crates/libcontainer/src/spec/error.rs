//! Why a config was refused: the error of loading and validation, with
//! each problem's JSON path.

use std::{fmt, path::PathBuf};

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The config could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The config is not valid JSON or does not fit the OCI types.
    #[error("{path}: line {line}, column {column}: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line of the problem.
        line: usize,
        /// Its column.
        column: usize,
        /// What is wrong.
        msg: String,
    },
    /// The config is valid JSON but breaks the spec or asks what this host
    /// cannot do.
    #[error("{path}: invalid configuration:\n{}", fmt_issues(.issues))]
    Invalid {
        /// The file (`spec` for an in-memory one).
        path: PathBuf,
        /// Every problem found.
        issues: Vec<FieldIssue>,
    },
}

/// One problem in the spec, with the JSON path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// The JSON path of the field (`process.capabilities.bounding[2]`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn fmt_issues(issues: &[FieldIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}
