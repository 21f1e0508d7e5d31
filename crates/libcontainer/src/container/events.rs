//! `events`: a typed stream of resource statistics and OOM notifications
//! for one container. The library only produces [`Event`] values; printing
//! them (one JSON line each, as runc does) is the caller's business.

use std::{
    os::fd::{AsFd, AsRawFd, OwnedFd},
    path::PathBuf,
    time::{Duration, Instant},
};

use libcgroups::{CgroupHandle, CgroupSetup, Manager, Stats};
use rustix::{
    event::{poll, PollFd, PollFlags},
    fs::{Mode, OFlags},
    io::Errno,
};
use serde::{Deserialize, Serialize};

use super::Container;
use crate::{
    error::{Error, Result},
    state::Status,
};

/// One event, in runc's envelope: `{"type":"stats","id":"..","data":{..}}`
/// or `{"type":"oom","id":".."}`, so tools written for `runc events` read
/// hull's output unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A resource usage sample of the container's cgroup.
    Stats {
        /// The container.
        id: String,
        /// The sample.
        data: Box<Stats>,
    },
    /// The kernel ran out of memory in the container's cgroup (and killed
    /// a process in it, unless the OOM killer is disabled).
    Oom {
        /// The container.
        id: String,
    },
}

/// The stream returned by [`Container::events`]. Yields a stats sample
/// every interval (the first one after one interval, like runc's ticker)
/// and an OOM event whenever the kernel reports one; ends when the
/// container's init exits. A failed sample is yielded as an `Err` and the
/// stream goes on, so one unreadable file does not end a long watch.
#[derive(Debug)]
pub struct Events {
    id: String,
    cgroup: Manager,
    /// pidfd of the init: readable once it has exited, which ends the stream
    /// immediately instead of at the next sample.
    init: OwnedFd,
    oom: Option<OomWatch>,
    interval: Duration,
    once: bool,
    next_stats: Instant,
    done: bool,
}

impl Container {
    /// Watches the container: stats every `interval` plus OOM events, or,
    /// with `stats_only_once`, a single stats sample right away. Refused for
    /// a stopped container. Takes no lock: it only reads, possibly for a
    /// long time, and must not block other commands.
    pub fn events(&self, interval: Duration, stats_only_once: bool) -> Result<Events> {
        if interval.is_zero() {
            return Err(Error::InvalidArgument(
                "events: the interval must be greater than 0".into(),
            ));
        }
        self.require_status(
            &[Status::Created, Status::Running, Status::Paused],
            "events need a created, running or paused container",
        )?;
        let init = self.init_pidfd().ok_or_else(|| Error::WrongStatus {
            id: self.state.id.clone(),
            status: Status::Stopped,
            action: "events need a created, running or paused container",
        })?;
        let cgroup = self.require_cgroup("events")?;
        let oom = if stats_only_once {
            None
        } else {
            OomWatch::register(cgroup.handle())?
        };
        Ok(Events {
            id: self.state.id.clone(),
            cgroup,
            init,
            oom,
            interval,
            once: stats_only_once,
            next_stats: Instant::now() + interval,
            done: false,
        })
    }
}

impl Events {
    fn sample(&self) -> Result<Event> {
        let data = self.cgroup.stats()?;
        Ok(Event::Stats {
            id: self.id.clone(),
            data: Box::new(data),
        })
    }

    fn oom_event(&self) -> Event {
        Event::Oom {
            id: self.id.clone(),
        }
    }

    /// Waits up to `timeout` for the init to exit or an OOM notification.
    fn wait(&mut self, timeout: Duration) -> Result<Wake> {
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: timeout.subsec_nanos() as i64,
        };
        let (exited, oom_ready) = {
            let mut fds = vec![PollFd::new(&self.init, PollFlags::IN)];
            if let Some(w) = &self.oom {
                fds.push(PollFd::from_borrowed_fd(w.fd(), w.flags()));
            }
            match poll(&mut fds, Some(&ts)) {
                Ok(0) | Err(Errno::INTR) => return Ok(Wake::Nothing),
                Ok(_) => {}
                Err(e) => return Err(Error::sys("waiting for container events", e)),
            }
            (
                !fds[0].revents().is_empty(),
                fds.get(1).is_some_and(|f| !f.revents().is_empty()),
            )
        };
        // An OOM kill of the init wakes both at once: report the OOM first,
        // the exit is still there on the next call.
        if oom_ready && self.take_oom() {
            return Ok(Wake::Oom);
        }
        if exited {
            // The notification may trail the exit by a moment.
            if self.oom.as_ref().is_some_and(|w| w.ready_now()) && self.take_oom() {
                return Ok(Wake::Oom);
            }
            return Ok(Wake::Exited);
        }
        Ok(Wake::Nothing)
    }

    /// Consumes a pending notification; true if it was an OOM.
    fn take_oom(&mut self) -> bool {
        let Some(w) = self.oom.as_mut() else {
            return false;
        };
        match w.take() {
            Notice::Oom => true,
            Notice::Nothing => false,
            Notice::Gone => {
                // The cgroup was removed: nothing left to watch.
                self.oom = None;
                false
            }
        }
    }

    fn init_exited(&self) -> bool {
        crate::hooks::wait_readable(&self.init, Duration::ZERO)
    }
}

enum Wake {
    Nothing,
    Oom,
    Exited,
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        if self.done {
            return None;
        }
        if self.once {
            self.done = true;
            return Some(self.sample());
        }
        loop {
            let now = Instant::now();
            if now >= self.next_stats {
                // Keep the cadence, but a slow consumer gets the next sample
                // one interval from now rather than a burst of late ones.
                self.next_stats += self.interval;
                if self.next_stats <= now {
                    self.next_stats = now + self.interval;
                }
                if self.init_exited() {
                    self.done = true;
                    return None;
                }
                return Some(self.sample());
            }
            match self.wait(self.next_stats - now) {
                Ok(Wake::Nothing) => continue,
                Ok(Wake::Oom) => return Some(Ok(self.oom_event())),
                Ok(Wake::Exited) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A registered OOM notification source.
#[derive(Debug)]
enum OomWatch {
    /// cgroup v1: an eventfd the kernel signals on every OOM in the cgroup,
    /// registered through cgroup.event_control (as runc does). The kernel
    /// also signals it once when the cgroup is removed.
    V1 {
        efd: OwnedFd,
        _control: OwnedFd,
        dir: PathBuf,
    },
    /// cgroup v2: memory.events, whose changes the kernel signals as
    /// POLLPRI; only a rise of its "oom" counter is an OOM.
    V2 { file: OwnedFd, last: u64 },
}

enum Notice {
    Oom,
    Nothing,
    /// The cgroup no longer exists.
    Gone,
}

const OOM_CONTROL: &str = "memory.oom_control";
const MEMORY_EVENTS: &str = "memory.events";

fn open_ro(path: &std::path::Path) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::path(path, e))
}

impl OomWatch {
    /// Where memory limits live decides where OOMs are reported: the v1
    /// memory hierarchy (Legacy, Hybrid) or the unified one. None when the
    /// container has no memory controller at all.
    fn register(h: &CgroupHandle) -> Result<Option<OomWatch>> {
        if let Some(dir) = h.dir_for("memory") {
            let control = open_ro(&dir.join(OOM_CONTROL))?;
            let efd = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)
                .map_err(|e| Error::sys("creating an eventfd for OOM notifications", e))?;
            let reg = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
            let ctl = dir.join("cgroup.event_control");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&ctl)
                .and_then(|mut f| std::io::Write::write_all(&mut f, reg.as_bytes()))
                .map_err(|e| Error::path(&ctl, e))?;
            return Ok(Some(OomWatch::V1 {
                efd,
                _control: control,
                dir: dir.to_path_buf(),
            }));
        }
        if h.setup != CgroupSetup::Unified {
            return Ok(None);
        }
        let Some(dir) = h.unified_dir() else {
            return Ok(None);
        };
        let path = dir.join(MEMORY_EVENTS);
        if !path.exists() {
            // memory controller not enabled for this cgroup
            return Ok(None);
        }
        let file = open_ro(&path)?;
        let last = read_oom_count(&file).map_err(|e| Error::path(&path, e))?;
        Ok(Some(OomWatch::V2 { file, last }))
    }

    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            OomWatch::V1 { efd, .. } => efd.as_fd(),
            OomWatch::V2 { file, .. } => file.as_fd(),
        }
    }

    fn flags(&self) -> PollFlags {
        match self {
            OomWatch::V1 { .. } => PollFlags::IN,
            // A cgroupfs file always polls readable; changes are PRI.
            OomWatch::V2 { .. } => PollFlags::PRI,
        }
    }

    fn ready_now(&self) -> bool {
        let mut fds = [PollFd::from_borrowed_fd(self.fd(), self.flags())];
        matches!(poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 })), Ok(n) if n > 0)
    }

    fn take(&mut self) -> Notice {
        match self {
            OomWatch::V1 { efd, dir, .. } => {
                let mut buf = [0u8; 8];
                // Resets the counter; several OOMs since the last read
                // collapse into one event, as with runc.
                let _ = rustix::io::read(&*efd, &mut buf);
                if dir.join(OOM_CONTROL).exists() {
                    Notice::Oom
                } else {
                    Notice::Gone
                }
            }
            OomWatch::V2 { file, last } => match read_oom_count(file) {
                Ok(n) if n > *last => {
                    *last = n;
                    Notice::Oom
                }
                Ok(_) => Notice::Nothing,
                Err(_) => Notice::Gone,
            },
        }
    }
}

/// The "oom" counter of an open memory.events. Reading from offset 0 also
/// re-arms the POLLPRI notification.
fn read_oom_count(fd: &OwnedFd) -> std::io::Result<u64> {
    let mut buf = [0u8; 4096];
    let n = rustix::io::pread(fd, &mut buf, 0)?;
    Ok(parse_oom_count(&String::from_utf8_lossy(&buf[..n])))
}

fn parse_oom_count(s: &str) -> u64 {
    s.lines()
        .find_map(|l| l.strip_prefix("oom "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_runc() {
        let mut s = Stats::default();
        s.memory.usage.usage = 42;
        let j = serde_json::to_value(Event::Stats {
            id: "c1".into(),
            data: Box::new(s),
        })
        .unwrap();
        assert_eq!(j["type"], "stats");
        assert_eq!(j["id"], "c1");
        assert_eq!(j["data"]["memory"]["usage"]["usage"], 42);
        assert_eq!(
            serde_json::to_string(&Event::Oom { id: "c1".into() }).unwrap(),
            r#"{"type":"oom","id":"c1"}"#
        );
    }

    #[test]
    fn oom_counter() {
        assert_eq!(
            parse_oom_count("low 0\nhigh 3\nmax 7\noom 2\noom_kill 1\n"),
            2
        );
        assert_eq!(parse_oom_count("low 0\n"), 0);
    }
}
