//! An expense report: submit it, wait three days for a manager's decision, escalate to a
//! director for two more days if none came, pay or reject. Covers: approval with a timeout
//! (`.timeout(d).await -> Option<T>`), a `match` on the outcome with awaits in the arms.

use std::time::Duration;

use workflow_rt::prelude::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expense {
    pub employee: String,
    pub cents: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    Approve { approver: String },
    Reject { approver: String, why: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExpenseOutcome {
    Paid { approver: String, transfer: String },
    Rejected { approver: String, why: String },
    Expired,
}

#[activity]
pub async fn submit_expense(_ctx: ActivityCtx, expense: Expense) -> Result<String, ActivityError> {
    Ok(format!("exp-{}-{}", expense.employee, expense.cents))
}

#[activity]
pub async fn notify(_ctx: ActivityCtx, message: (String, String)) -> Result<(), ActivityError> {
    let _ = message;
    Ok(())
}

#[activity]
pub async fn pay_expense(_ctx: ActivityCtx, input: (String, u64)) -> Result<String, ActivityError> {
    Ok(format!("tr-{}-{}", input.0, input.1))
}

#[workflow]
pub async fn expense_approval(
    ctx: WorkflowCtx,
    expense: Expense,
) -> Result<ExpenseOutcome, WorkflowError> {
    let report = ctx.activity(submit_expense, expense.clone()).await?;
    ctx.activity(
        notify,
        ("manager".to_string(), format!("please review {report}")),
    )
    .await?;

    let mut decision: Option<Decision> = ctx.signal::<Decision>("decision").timeout(3 * DAY).await;
    if decision.is_none() {
        ctx.activity(
            notify,
            (
                "director".to_string(),
                format!("{report} waits for a decision"),
            ),
        )
        .await?;
        decision = ctx.signal::<Decision>("decision").timeout(2 * DAY).await;
    }

    match decision {
        Some(Decision::Approve { approver }) => {
            let approver: String = approver;
            let transfer = ctx
                .activity(pay_expense, (report.clone(), expense.cents))
                .await?;
            ctx.activity(notify, (expense.employee, format!("{report} paid")))
                .await?;
            Ok(ExpenseOutcome::Paid { approver, transfer })
        }
        Some(Decision::Reject { approver, why }) => {
            let (approver, why): (String, String) = (approver, why);
            ctx.activity(
                notify,
                (expense.employee, format!("{report} rejected: {why}")),
            )
            .await?;
            Ok(ExpenseOutcome::Rejected { approver, why })
        }
        None => {
            ctx.activity(notify, (expense.employee, format!("{report} expired")))
                .await?;
            Ok(ExpenseOutcome::Expired)
        }
    }
}
