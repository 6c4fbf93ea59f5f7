//! `Durable` is sealed: the operations a workflow awaits are those its context makes, and a user
//! type cannot become one.
use workflow_rt::machine::{Durable, Pending, Resolution};
use workflow_rt::prelude::*;
use workflow_rt::ResumeError;

pub struct Fetch;

impl Durable for Fetch {
    type Output = u64;
    fn schedule(self, _ctx: &WorkflowCtx) -> Result<Pending, ResumeError> {
        Ok(Pending::Join(Vec::new()))
    }
    fn resolve(_resolution: Resolution) -> Result<u64, ResumeError> {
        Ok(7)
    }
}

fn main() {}
