//! `File::open` (with `std::fs::File` imported at the top of the file).
use std::fs::File;

use workflow_rt::prelude::*;

#[workflow]
async fn io_file_open(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let config = File::open("config.toml").is_ok();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(config))
}

fn main() {}
