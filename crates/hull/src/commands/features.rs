use super::CmdResult;

pub fn run() -> CmdResult {
    super::print_json_pretty(&libcontainer::features())
}
