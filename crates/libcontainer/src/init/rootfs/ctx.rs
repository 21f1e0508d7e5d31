//! What the rootfs setup needs of the init: the spec, the namespaces it
//! mounts in, the idmapped trees and the channel to the runtime.

use std::path::Path;

use oci_spec::runtime::Spec;

pub(crate) struct RootfsCtx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// The mounts are made in a user namespace other than the initial one
    /// (the container's or the runtime's own): no mknod, mount flags the
    /// kernel keeps locked, no new sysfs without a network namespace.
    pub in_userns: bool,
    pub new_netns: bool,
    pub new_cgroupns: bool,
    pub idmapped: &'a crate::idmap::IdmappedMounts,
    /// To ask the runtime for the rootfs and bind sources.
    pub channel: &'a crate::sync::Channel,
}
