//! `Command::new(..).output()` with `std::process::Command` imported at the top of the file:
//! running the command gives it away (a `Command::new` alone may be a command of one's domain).

use std::process::Command;

use workflow_rt::prelude::*;

#[workflow]
async fn io_process_command_imported(ctx: WorkflowCtx, order_id: u64) -> Result<u64, WorkflowError> {
    let printed = Command::new("lp").arg(format!("order-{order_id}.pdf")).status().is_ok();
    ctx.sleep(std::time::Duration::from_secs(1)).await;
    Ok(order_id + u64::from(printed))
}

fn main() {}
