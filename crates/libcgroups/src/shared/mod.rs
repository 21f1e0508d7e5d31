//! What more than one driver uses. The v1 and v2 drivers read the same
//! resource fields and, for pids and rdma, write the same file formats;
//! Hybrid's v1 driver also drives the unified hierarchy's core freezer and
//! raw `unified` keys. Keeping these here lets `v1`, `v2` and `systemd`
//! sit side by side without importing each other.

pub(crate) mod blkio;
pub(crate) mod core_freezer;
pub(crate) mod device_rules;
pub(crate) mod hugetlb;
pub(crate) mod pids;
pub(crate) mod rdma;
pub(crate) mod unified;
