//! Picks an order in a warehouse: walks the aisles, scans each bin, skips the rest of an aisle
//! whose bin is empty, and stops walking as soon as enough units are picked. Covers: nested loops
//! with labeled `break` and `continue`, loop variables over typed `Vec`s, `mut` counters.

use workflow_rt::prelude::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aisle {
    pub name: String,
    pub bins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickList {
    pub sku: String,
    pub needed: u32,
    pub aisles: Vec<Aisle>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickResult {
    pub picked: u32,
    pub bins_visited: Vec<String>,
    pub aisles_skipped: Vec<String>,
}

/// Units in a bin: the number in its name (`"b3"` holds 3); a bin named `"locked"` cannot be read.
#[activity]
pub async fn scan_bin(_ctx: ActivityCtx, bin: String) -> Result<u32, ActivityError> {
    if bin == "locked" {
        return Err(ActivityError::retryable("scanner cannot open the bin"));
    }
    Ok(bin
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0))
}

#[activity]
pub async fn take_from_bin(_ctx: ActivityCtx, input: (String, u32)) -> Result<u32, ActivityError> {
    Ok(input.1)
}

#[workflow]
pub async fn warehouse_picking(
    ctx: WorkflowCtx,
    list: PickList,
) -> Result<PickResult, WorkflowError> {
    let mut picked: u32 = 0;
    let mut bins_visited: Vec<String> = Vec::new();
    let mut aisles_skipped: Vec<String> = Vec::new();
    let aisles: Vec<Aisle> = list.aisles.clone();
    'aisles: for aisle in aisles {
        let bins: Vec<String> = aisle.bins.clone();
        for bin in bins {
            bins_visited.push(bin.clone());
            let units = ctx.activity(scan_bin, bin.clone()).await?;
            if units == 0 {
                aisles_skipped.push(aisle.name.clone());
                continue 'aisles;
            }
            let want: u32 = (list.needed - picked).min(units);
            picked += ctx.activity(take_from_bin, (bin, want)).await?;
            if picked >= list.needed {
                break 'aisles;
            }
        }
    }
    if picked < list.needed {
        return Err(WorkflowError::msg(format!(
            "only {picked} of {} {} found",
            list.needed, list.sku
        )));
    }
    Ok(PickResult {
        picked,
        bins_visited,
        aisles_skipped,
    })
}
