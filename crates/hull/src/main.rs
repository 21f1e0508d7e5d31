//! `hull`: a runc-compatible command line over libcontainer. Each command
//! parses its flags, calls one library method and prints the result.

mod commands;
mod logging;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hull",
    version,
    about = "hull: an OCI container runtime",
    disable_version_flag = true,
    // runc (urfave/cli) takes the last of a repeated flag, and engines do
    // repeat some; clap would refuse the second. Global: every subcommand.
    args_override_self = true
)]
struct Cli {
    /// Print the version (runc's -v).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Root directory for container state (default: /run/hull, or
    /// $XDG_RUNTIME_DIR/hull for a non-root caller).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Enable debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Manage cgroups through systemd.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Rootless mode: true, false or auto.
    #[arg(long, default_value = "auto", value_parser = |s: &str| s.parse::<libcontainer::Rootless>())]
    rootless: libcontainer::Rootless,
    /// Path to the criu binary (checkpoint/restore).
    #[arg(long, global = true, default_value = "criu")]
    criu: PathBuf,
    #[command(subcommand)]
    command: Command,
}

// Deferred: only the invoked subcommand builds its arguments; the rest of
// the tree stays names and descriptions (all of it for `hull --help`).
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Validate a bundle's config.json against the spec and this host.
    Check(commands::check::Args),
    /// Create a container (its process waits for `start`).
    Create(commands::create::Args),
    /// Start a created container.
    Start(commands::IdArg),
    /// Print a container's OCI state as JSON.
    State(commands::IdArg),
    /// Send a signal to a container's init (or all its processes).
    Kill(commands::kill::Args),
    /// Delete a container and everything it holds.
    Delete(commands::delete::Args),
    /// Create, start and (unless --detach) wait for and delete a container.
    Run(commands::run::Args),
    /// Run a new process inside a container.
    Exec(commands::exec::Args),
    /// List containers.
    List(commands::list::Args),
    /// Write a default config.json into a bundle.
    Spec(commands::spec::Args),
    /// Suspend every process of a container.
    Pause(commands::IdArg),
    /// Resume a paused container.
    Resume(commands::IdArg),
    /// List the processes of a container.
    Ps(commands::ps::Args),
    /// Print resource statistics and OOM events of a container as JSON lines.
    Events(commands::events::Args),
    /// Change the resource limits of a container.
    Update(commands::update::Args),
    /// Print the OCI features this runtime supports.
    Features,
    /// Checkpoint a running container with CRIU.
    Checkpoint(commands::checkpoint::Args),
    /// Restore a container from a CRIU checkpoint.
    Restore(commands::restore::Args),
}

pub struct Globals {
    pub root: PathBuf,
    /// `--rootless` as given: only create resolves it (the resolution reads
    /// /proc/self/uid_map, which state, list and kill have no use for).
    pub rootless: libcontainer::Rootless,
    pub systemd_cgroup: bool,
    pub criu: PathBuf,
}

/// Whether the command starts container processes (create, run, exec:
/// they go through the exec stub), and whether it is left waiting while a
/// container runs, which makes it a target for the container (those and a
/// foreground restore by root, whose processes CRIU makes: no stub there).
/// An unprivileged CRIU reads the runtime's fds through /proc/<pid>/fd,
/// which a non-dumpable process closes to it: a rootless foreground
/// restore stays dumpable.
fn spawns_or_waits(c: &Command, root: bool) -> (bool, bool) {
    let spawns = matches!(c, Command::Create(_) | Command::Run(_) | Command::Exec(_));
    let restore = matches!(c, Command::Restore(a) if !a.detach);
    (spawns, spawns || (root && restore))
}

fn main() {
    // runc's `h`, the alias urfave/cli gives its help command.
    let cli = Cli::parse_from(std::env::args_os().enumerate().map(|(i, a)| {
        if i == 1 && a == "h" {
            "help".into()
        } else {
            a
        }
    }));
    // create, run and exec leave this process waiting while the container
    // runs, and a container that shares our pid namespace and uid could
    // reach our writable binary through /proc/<pid>/exe (CVE-2019-5736),
    // or our memory and fds. Non-dumpable closes those to every process
    // without CAP_SYS_PTRACE; children inherit it until they exec. The
    // container's own process is covered by the library's exec stub, so
    // no re-exec from a read-only copy of the binary is needed.
    let (spawns, waits) = spawns_or_waits(&cli.command, rustix::process::geteuid().is_root());
    if waits {
        if let Err(e) =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        {
            logging::error(&format!("prctl(PR_SET_DUMPABLE, 0): {e}"));
            std::process::exit(1);
        }
    }
    if spawns {
        // Without a stub the library refuses a writable caller's binary.
        if !libcontainer::exec_stub_available() {
            if let Err(e) = libcontainer::ensure_protected_exe() {
                logging::error(&e);
                std::process::exit(1);
            }
        }
    }
    let _log = logging::init(cli.log.as_deref(), cli.log_format == "json", cli.debug);
    let g = Globals {
        root: cli.root.unwrap_or_else(libcontainer::default_root),
        rootless: cli.rootless,
        systemd_cgroup: cli.systemd_cgroup,
        criu: cli.criu,
    };
    let result = match cli.command {
        Command::Check(a) => commands::check::run(a),
        Command::Create(a) => commands::create::run(&g, a),
        Command::Start(a) => commands::start(&g, a),
        Command::State(a) => commands::state(&g, a),
        Command::Kill(a) => commands::kill::run(&g, a),
        Command::Delete(a) => commands::delete::run(&g, a),
        Command::Run(a) => commands::run::run(&g, a),
        Command::Exec(a) => commands::exec::run(&g, a),
        Command::List(a) => commands::list::run(&g, a),
        Command::Spec(a) => commands::spec::run(a),
        Command::Pause(a) => commands::pause::run(&g, a),
        Command::Resume(a) => commands::resume::run(&g, a),
        Command::Ps(a) => commands::ps::run(&g, a),
        Command::Events(a) => commands::events::run(&g, a),
        Command::Update(a) => commands::update::run(&g, a),
        Command::Features => commands::features::run(),
        Command::Checkpoint(a) => commands::checkpoint::run(&g, a),
        Command::Restore(a) => commands::restore::run(&g, a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        // The reader of our output went away (`hull state | grep -q`):
        // nothing left to report, as runc and crun behave.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::exit(0)
        }
        Err(e) => {
            logging::error(&e);
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// The commands left waiting while a container runs are the ones made
    /// non-dumpable: a foreground restore too, a detached one not.
    #[test]
    fn waiting_commands_are_the_non_dumpable_ones() {
        let kinds = |args: &[&str], root| {
            let cli = Cli::try_parse_from([&["hull"], args].concat()).unwrap();
            super::spawns_or_waits(&cli.command, root)
        };
        assert_eq!(kinds(&["run", "c"], true), (true, true));
        assert_eq!(kinds(&["run", "c"], false), (true, true));
        assert_eq!(kinds(&["exec", "c", "true"], true), (true, true));
        assert_eq!(kinds(&["restore", "c"], true), (false, true));
        assert_eq!(kinds(&["restore", "c"], false), (false, false));
        assert_eq!(kinds(&["restore", "-d", "c"], true), (false, false));
        assert_eq!(kinds(&["state", "c"], true), (false, false));
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The subcommands are deferred: building one must not replace its
    /// description with a doc comment of the Args struct it takes.
    #[test]
    fn a_built_subcommand_keeps_its_description() {
        let listed = Cli::command();
        let mut built = Cli::command();
        built.build();
        for sc in listed.get_subcommands() {
            let name = sc.get_name();
            let after = built
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                sc.get_about().map(|a| a.to_string()),
                after.get_about().map(|a| a.to_string()),
                "{name}"
            );
        }
    }

    /// As runc: the last of a repeated flag wins, global or a command's,
    /// and flags that collect (`--env`) keep every value.
    #[test]
    fn a_repeated_flag_takes_the_last_value() {
        let cli = Cli::try_parse_from([
            "hull",
            "--log-format",
            "text",
            "--root",
            "/a",
            "--debug",
            "--debug",
            "--root",
            "/b",
            "--log-format",
            "json",
            "exec",
            "--cwd",
            "/x",
            "--cwd",
            "/y",
            "-e",
            "A=1",
            "-e",
            "B=2",
            "-d",
            "--detach",
            "id",
            "true",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.log_format, "json");
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/b")));
        let super::Command::Exec(a) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(a.cwd.as_deref(), Some(std::path::Path::new("/y")));
        assert_eq!(a.env, ["A=1", "B=2"]);
        assert!(a.detach);
    }

    /// Random argument lists built from real flags, commands and junk:
    /// parsing may reject them but must never panic.
    #[test]
    fn random_arguments_never_panic() {
        let words = [
            "create",
            "start",
            "state",
            "kill",
            "delete",
            "run",
            "list",
            "spec",
            "exec",
            "pause",
            "resume",
            "ps",
            "events",
            "update",
            "features",
            "check",
            "--root",
            "/tmp/x",
            "--log",
            "--log-format",
            "json",
            "--debug",
            "-b",
            "--bundle",
            "--pid-file",
            "--console-socket",
            "--preserve-fds",
            "-1",
            "99999999999",
            "--force",
            "-f",
            "-a",
            "--all",
            "KILL",
            "--memory",
            "64m",
            "--cpu-quota",
            "--interval",
            "5s",
            "-t",
            "-d",
            "--",
            "-",
            "",
            "id",
            "--format",
            "table",
            "-q",
            "--cgroup",
            "memory:sub",
            "--cap",
            "CAP_KILL",
            "-u",
            "0:0",
            "--rootless",
            "auto",
            "--systemd-cgroup",
            "-v",
            "--help",
        ];
        let mut state = 0x853c_49e6_748f_ea9bu64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let iters = std::env::var("HULL_FUZZ_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5000u64);
        for _ in 0..iters {
            let n = next(7);
            let args: Vec<&str> = std::iter::once("hull")
                .chain((0..n).map(|_| words[next(words.len())]))
                .collect();
            let _ = Cli::try_parse_from(args);
        }
    }
}
