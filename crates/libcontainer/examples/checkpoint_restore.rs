//! Checkpoint a running container and restore it, with the library alone
//! (what a shim embedding libcontainer does):
//!
//!     checkpoint_restore STATE_ROOT ID IMAGE_DIR BUNDLE [CRIU]
//!
//! Prints the container's OCI state after each step, one JSON line each.

use std::{error::Error, path::PathBuf};

use libcontainer::{CheckpointOptions, Container, CriuCommon, RestoreBuilder};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, id, images, bundle, rest @ ..] = args.as_slice() else {
        return Err("usage: checkpoint_restore STATE_ROOT ID IMAGE_DIR BUNDLE [CRIU]".into());
    };
    let common = CriuCommon {
        criu: rest.first().map(PathBuf::from),
        image_path: images.into(),
        ..Default::default()
    };

    let mut c = Container::load(root.as_ref(), id)?;
    c.checkpoint(&CheckpointOptions {
        common: common.clone(),
        ..Default::default()
    })?;
    println!(
        "{}",
        serde_json::to_string(&Container::load(root.as_ref(), id)?.state())?
    );

    let c = RestoreBuilder::new(id, root, common)
        .bundle(bundle)
        .restore()?;
    println!("{}", serde_json::to_string(&c.state())?);
    Ok(())
}
