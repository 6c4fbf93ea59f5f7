use workflow_rt::prelude::*;

#[activity]
async fn ship<T: Send + 'static>(_ctx: ActivityCtx, item: T) -> Result<u64, ActivityError> {
    let _ = item;
    Ok(0)
}

fn main() {}
