//! The lifecycle status of a container, as the OCI spec names them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Lifecycle status, as the OCI spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The init is being set up.
    Creating,
    /// The init waits for `start`.
    Created,
    /// The container's program runs.
    Running,
    /// Every process is frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl Status {
    /// Whether `start` is allowed.
    pub fn can_start(self) -> bool {
        self == Status::Created
    }
    /// Whether `kill` is allowed.
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    /// Without `--force` only a stopped container may be deleted: the spec
    /// says deleting one that is not stopped must fail (runc deviates and
    /// deletes a created one).
    pub fn can_delete(self) -> bool {
        self == Status::Stopped
    }
    /// Whether `pause` is allowed.
    pub fn can_pause(self) -> bool {
        self == Status::Running
    }
    /// Whether `resume` is allowed.
    pub fn can_resume(self) -> bool {
        self == Status::Paused
    }
    /// The name the OCI state uses (`"running"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_predicates() {
        assert!(Status::Created.can_start() && !Status::Running.can_start());
        assert!(Status::Running.can_kill() && !Status::Stopped.can_kill());
        assert!(
            Status::Stopped.can_delete()
                && !Status::Created.can_delete()
                && !Status::Running.can_delete()
        );
        assert!(Status::Running.can_pause() && Status::Paused.can_resume());
        assert_eq!(
            serde_json::to_string(&Status::Paused).unwrap(),
            "\"paused\""
        );
    }
}
