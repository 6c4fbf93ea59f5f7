use workflow_rt::prelude::*;

#[activity]
async fn notify(_ctx: ActivityCtx, email: String) {
    drop(email);
}
fn main() {}
