//! Mounts made from fds: a copy of the mount that holds a file, attached
//! with move_mount onto another fd, so no path is looked up again; and
//! how error messages name what such an fd turned out to be.

use std::os::fd::OwnedFd;

/// A copy of the mount holding `src` (with its submounts if `recursive`),
/// rooted at the file the fd names, attached onto `target`; returns the
/// copy's root.
pub(crate) fn attach_copy(
    src: &OwnedFd,
    target: &OwnedFd,
    recursive: bool,
) -> rustix::io::Result<OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = rustix::mount::open_tree(src, "", flags)?;
    move_onto(&tree, target)?;
    Ok(tree)
}

/// Attaches the detached mount `tree` onto the directory or file `target`.
pub(crate) fn move_onto(tree: &OwnedFd, target: &OwnedFd) -> rustix::io::Result<()> {
    use rustix::mount::MoveMountFlags;
    rustix::mount::move_mount(
        tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
}

/// Attaches a copy of the mount that holds `src`, rooted at the very file
/// or directory the fd names, onto `target`: a bind mount in which no path
/// is looked up again.
pub(crate) fn bind_fd(src: &OwnedFd, target: &OwnedFd) -> std::io::Result<()> {
    attach_copy(src, target, false)?;
    Ok(())
}

/// A file type for error messages ("a symbolic link").
pub(crate) fn describe_type(ft: rustix::fs::FileType) -> &'static str {
    use rustix::fs::FileType;
    match ft {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a fifo",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a char device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "of an unknown type",
    }
}
