use super::CmdResult;

pub fn run() -> CmdResult {
    println!("{}", serde_json::to_string_pretty(&libcontainer::features())?);
    Ok(0)
}
