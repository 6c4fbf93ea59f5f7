//! A contract waits up to two weeks for the counterparty's signature, with a reminder every
//! morning, then a final notice and three more days. Covers: a long-running approval that waits
//! days on the virtual clock, a `for` over a range around a signal with a timeout, an early
//! `return` from inside the loop, `ctx.now()` across awaits.

use std::time::{Duration, SystemTime};

use workflow_rt::prelude::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub id: String,
    pub counterparty: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub signer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ContractOutcome {
    Signed {
        signer: String,
        days_waited: u64,
        reminders: u32,
    },
    Lapsed {
        reminders: u32,
    },
}

#[activity]
pub async fn send_for_signature(
    _ctx: ActivityCtx,
    contract: Contract,
) -> Result<String, ActivityError> {
    Ok(format!("envelope-{}", contract.id))
}

#[activity]
pub async fn remind_signer(_ctx: ActivityCtx, input: (String, u32)) -> Result<(), ActivityError> {
    let _ = input;
    Ok(())
}

#[activity]
pub async fn archive_contract(
    _ctx: ActivityCtx,
    input: (String, bool),
) -> Result<(), ActivityError> {
    let _ = input;
    Ok(())
}

fn days_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).unwrap_or_default().as_secs() / DAY.as_secs()
}

#[workflow]
pub async fn contract_signing(
    ctx: WorkflowCtx,
    contract: Contract,
) -> Result<ContractOutcome, WorkflowError> {
    let sent_at = ctx.now();
    let envelope = ctx.activity(send_for_signature, contract.clone()).await?;
    let mut reminders: u32 = 0;
    for day in 1u32..=14 {
        if let Some(signature) = ctx.signal::<Signature>("signed").timeout(DAY).await {
            let signer: String = signature.signer;
            ctx.activity(archive_contract, (envelope.clone(), true))
                .await?;
            let days_waited: u64 = days_between(sent_at, ctx.now());
            return Ok(ContractOutcome::Signed {
                signer,
                days_waited,
                reminders,
            });
        }
        ctx.activity(remind_signer, (contract.counterparty.clone(), day))
            .await?;
        reminders += 1;
    }
    ctx.activity(remind_signer, (contract.counterparty.clone(), 0))
        .await?;
    match ctx.signal::<Signature>("signed").timeout(3 * DAY).await {
        Some(signature) => {
            let signer: String = signature.signer;
            ctx.activity(archive_contract, (envelope, true)).await?;
            Ok(ContractOutcome::Signed {
                signer,
                days_waited: days_between(sent_at, ctx.now()),
                reminders,
            })
        }
        None => {
            ctx.activity(archive_contract, (envelope, false)).await?;
            Ok(ContractOutcome::Lapsed { reminders })
        }
    }
}
