//! The pure layer between loading a spec and running it: what the spec's
//! fields mean, parsed and checked without touching the host. The parent's
//! validation (`spec`), `hull check` and the init all read the spec through
//! it, so the init only executes what was decided here.

pub(crate) mod mount_options;
