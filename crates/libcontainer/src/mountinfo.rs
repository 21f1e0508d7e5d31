//! `/proc/<pid>/mountinfo`: the one parser of its lines, and its escaping
//! of paths.

use std::path::PathBuf;

/// The fields of one mountinfo line that hull reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// The mount point (field 5), unescaped.
    pub mount_point: PathBuf,
    /// The filesystem type (first field after the ` - ` separator); empty
    /// on a line without one.
    pub fstype: &'a str,
    /// The superblock options (third field after the separator).
    pub super_opts: &'a str,
}

/// Every line of `text` that names a mount point.
pub(crate) fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(|line| {
        let (pre, post) = line.split_once(" - ").unwrap_or((line, ""));
        let mp = pre.split(' ').nth(4)?;
        let mut post = post.split(' ');
        Some(Entry {
            mount_point: PathBuf::from(unescape_mountinfo(mp)),
            fstype: post.next().unwrap_or(""),
            super_opts: post.nth(1).unwrap_or(""),
        })
    })
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_unescape() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
    }

    #[test]
    fn entries_read_mount_point_type_and_super_options() {
        let info =
            "36 35 98:0 / /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 35 0:30 / /short rw\n\
                    garbage\n";
        let got: Vec<_> = entries(info).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].mount_point, PathBuf::from("/mnt x"));
        assert_eq!(got[0].fstype, "ext3");
        assert_eq!(got[0].super_opts, "rw,errors=continue");
        assert_eq!(got[1].mount_point, PathBuf::from("/short"));
        assert_eq!((got[1].fstype, got[1].super_opts), ("", ""));
    }
}
