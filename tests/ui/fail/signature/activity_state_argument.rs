use workflow_rt::prelude::*;

#[activity(state = "NotifyState")]
async fn notify(_ctx: ActivityCtx, email: String) -> Result<(), ActivityError> {
    drop(email);
    Ok(())
}
fn main() {}
