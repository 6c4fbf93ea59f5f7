//! Imports a customer account from a legacy system, where every step can fail. Covers: `?` in
//! every position: on a `let`, inside a function argument, before a field access, inside a
//! struct literal, in an `if` condition, in a `match` scrutinee, in a `return`, on a non-durable
//! `Result` between awaits, and inside a loop.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyAccount {
    pub id: String,
    pub balance: String,
    pub contacts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub tier: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    pub account: String,
    pub name: String,
    pub balance: i64,
    pub contacts: u32,
    pub vip: bool,
}

#[activity]
pub async fn load_profile(_ctx: ActivityCtx, id: String) -> Result<Profile, ActivityError> {
    if id.is_empty() {
        return Err(ActivityError::non_retryable("empty id"));
    }
    Ok(Profile {
        name: id.to_uppercase(),
        tier: id.len() as u8,
    })
}

#[activity]
pub async fn create_account(_ctx: ActivityCtx, name: String) -> Result<String, ActivityError> {
    Ok(format!("acct-{name}"))
}

#[activity]
pub async fn is_sanctioned(_ctx: ActivityCtx, name: String) -> Result<bool, ActivityError> {
    Ok(name.contains("EVIL"))
}

#[activity]
pub async fn add_contact(_ctx: ActivityCtx, input: (String, String)) -> Result<u32, ActivityError> {
    if !input.1.contains('@') {
        return Err(ActivityError::non_retryable(format!(
            "bad address {}",
            input.1
        )));
    }
    Ok(1)
}

#[activity]
pub async fn credit_tier(_ctx: ActivityCtx, tier: u8) -> Result<u8, ActivityError> {
    Ok(tier.min(3))
}

fn opening_balance(cents: i64, account: String) -> (String, i64) {
    (account, cents)
}

#[workflow]
pub async fn account_import(
    ctx: WorkflowCtx,
    legacy: LegacyAccount,
) -> Result<Imported, WorkflowError> {
    // A non-durable `?`: a balance that does not parse ends the import.
    let cents: i64 = legacy.balance.parse::<i64>()?;
    // `?` before a field access.
    let name: String = ctx.activity(load_profile, legacy.id.clone()).await?.name;
    // `?` in an `if` condition.
    if ctx.activity(is_sanctioned, name.clone()).await? {
        return Err(WorkflowError::msg(format!("{name} is sanctioned")));
    }
    if legacy.contacts.is_empty() {
        // `?` in a `return`: an account without contacts is opened as is.
        return Ok(Imported {
            account: ctx.activity(create_account, name.clone()).await?,
            name,
            balance: cents,
            contacts: 0,
            vip: false,
        });
    }
    // `?` inside a function argument.
    let (account, balance): (String, i64) =
        opening_balance(cents, ctx.activity(create_account, name.clone()).await?);
    // `?` inside a loop.
    let mut contacts: u32 = 0;
    for contact in legacy.contacts.clone() {
        contacts += ctx
            .activity(add_contact, (account.clone(), contact))
            .await?;
    }
    // `?` in a `match` scrutinee.
    let vip: bool = ctx.activity(credit_tier, legacy.id.len() as u8).await? == 3;
    // `?` inside a struct literal in the returned value.
    Ok(Imported {
        account,
        name: ctx.activity(load_profile, legacy.id).await?.name,
        balance,
        contacts,
        vip,
    })
}
