use crate::error::{Error, Result};

/// Longest id accepted: the id names a directory under the state root.
const MAX_ID_LEN: usize = 255;

/// Checks that a container id can safely name a state directory: no path
/// separators, no `.`/`..`, and the character set runc accepts.
pub fn validate_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        Some("must not be empty")
    } else if id.len() > MAX_ID_LEN {
        Some("longer than 255 bytes")
    } else if id == "." || id == ".." {
        Some("must not be \".\" or \"..\"")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
    {
        Some("only letters, digits and _ - . + are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidId {
            id: id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_id;

    #[test]
    fn accepts_runc_style_ids() {
        for id in ["a", "web-1", "x.y_z+1", "0123456789abcdef"] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_path_tricks_and_junk() {
        for id in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a b",
            "a\0b",
            "ü",
            &"x".repeat(256),
        ] {
            assert!(validate_id(id).is_err(), "{id:?}");
        }
    }
}
