//! The two pages: the list of runs, and one run.

use std::fmt::Write as _;

use workflow_rt::schedule::ScheduleInfo;
use workflow_rt::store::HistoryEntry;
use workflow_rt::{
    CommandDesc, Description, PendingCommand, RunPage, WorkflowState, WorkflowStatus,
};

use crate::html::{Esc, PathSegment, Time, json_block, page, status_badge, status_name};
use crate::svg::state_machine_svg;

/// The filters of the list page, as given in its query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filters {
    /// Only runs with this status.
    pub(crate) status: Option<WorkflowStatus>,
    /// Only runs of this workflow.
    pub(crate) name: Option<String>,
    /// Only runs whose id starts with this.
    pub(crate) id_prefix: Option<String>,
    /// The cursor: the page after this id.
    pub(crate) after: Option<String>,
    /// Runs per page (0: the store's default).
    pub(crate) limit: usize,
}

impl Filters {
    /// The query string of these filters with the cursor `after`, `?` included.
    pub(crate) fn query_string(&self, after: Option<&str>) -> String {
        let mut q = String::new();
        let mut add = |k: &str, v: &str| {
            q.push(if q.is_empty() { '?' } else { '&' });
            let _ = write!(q, "{k}={}", PathSegment(v));
        };
        if let Some(s) = self.status {
            add("status", status_name(s));
        }
        if let Some(n) = &self.name {
            add("name", n);
        }
        if let Some(p) = &self.id_prefix {
            add("id_prefix", p);
        }
        if self.limit != 0 {
            add("limit", &self.limit.to_string());
        }
        if let Some(a) = after {
            add("after", a);
        }
        q
    }
}

/// The list page: counts by status, the filter form, a page of runs and the link to the next.
pub(crate) fn runs_page(
    base: &str,
    filters: &Filters,
    runs: &RunPage,
    counts: &[(WorkflowStatus, u64)],
) -> String {
    let mut b = String::with_capacity(4096 + runs.runs.len() * 400);
    b.push_str(r#"<div class="title"><h1>Runs</h1></div>"#);

    b.push_str(r#"<nav class="counts" data-counts>"#);
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let all = Filters {
        status: None,
        after: None,
        ..filters.clone()
    };
    let _ = write!(
        b,
        r#"<a class="count{sel}" href="{base}/{q}"><span class="label">all</span> <span class="n" data-count="all">{total}</span></a>"#,
        sel = if filters.status.is_none() {
            " selected"
        } else {
            ""
        },
        base = Esc(base),
        q = Esc(&all.query_string(None)),
    );
    for status in WorkflowStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let f = Filters {
            status: Some(status),
            ..all.clone()
        };
        let s = status_name(status);
        let _ = write!(
            b,
            r#"<a class="count status-{s}{sel}" href="{base}/{q}"><span class="label">{s}</span> <span class="n" data-count="{s}">{n}</span></a>"#,
            sel = if filters.status == Some(status) {
                " selected"
            } else {
                ""
            },
            base = Esc(base),
            q = Esc(&f.query_string(None)),
        );
    }
    b.push_str("</nav>");

    let _ = write!(
        b,
        r#"<form class="filters card" method="get" action="{base}/"><label>Status <select name="status"><option value="">any</option>"#,
        base = Esc(base)
    );
    for status in WorkflowStatus::ALL {
        let s = status_name(status);
        let _ = write!(
            b,
            r#"<option value="{s}"{sel}>{s}</option>"#,
            sel = if filters.status == Some(status) {
                " selected"
            } else {
                ""
            }
        );
    }
    let _ = write!(
        b,
        r#"</select></label><label>Workflow <input name="name" value="{name}" placeholder="name, exactly"></label><label>Id prefix <input name="id_prefix" value="{prefix}" placeholder="order-"></label><button type="submit">Filter</button><a class="reset" href="{base}/">Reset</a></form>"#,
        name = Esc(filters.name.as_deref().unwrap_or("")),
        prefix = Esc(filters.id_prefix.as_deref().unwrap_or("")),
        base = Esc(base),
    );

    let _ = write!(
        b,
        r#"<section class="card"><table class="runs" data-runs-query="{q}"><thead><tr><th>Id</th><th>Workflow</th><th>Status</th><th>Created</th><th>Updated</th><th>Park reason</th></tr></thead><tbody data-runs>"#,
        q = Esc(&filters.query_string(filters.after.as_deref())),
    );
    for run in &runs.runs {
        let _ = write!(
            b,
            r#"<tr><td class="id"><a href="{base}/runs/{seg}">{id}</a></td><td>{name}</td><td>"#,
            base = Esc(base),
            seg = PathSegment(&run.id),
            id = Esc(&run.id),
            name = Esc(&run.name),
        );
        status_badge(&mut b, run.status);
        let _ = write!(
            b,
            r#"</td><td class="time">{}</td><td class="time">{}</td><td class="reason">{}</td></tr>"#,
            Time(run.created_at_ms),
            Time(run.updated_at_ms),
            Esc(run.park_reason.as_deref().unwrap_or("")),
        );
    }
    b.push_str("</tbody></table>");
    let _ = write!(
        b,
        r#"<p class="empty" data-runs-empty{}>No run matches.</p>"#,
        if runs.runs.is_empty() { "" } else { " hidden" }
    );
    b.push_str(r#"<nav class="pages">"#);
    if filters.after.is_some() {
        let _ = write!(
            b,
            r#"<a href="{base}/{q}">« First page</a>"#,
            base = Esc(base),
            q = Esc(&filters.query_string(None)),
        );
    }
    if let Some(next) = &runs.next {
        let _ = write!(
            b,
            r#"<a class="next" href="{base}/{q}">Next page »</a>"#,
            base = Esc(base),
            q = Esc(&filters.query_string(Some(next))),
        );
    }
    b.push_str("</nav></section>");
    page(base, "Runs", "runs", &b)
}

/// The schedules page: one row per schedule (its spec, policy, state, next fire time, last
/// run and counts) with its actions (trigger now, pause or resume) behind the token.
pub(crate) fn schedules_page(base: &str, all: &[ScheduleInfo], actions: bool) -> String {
    let mut b = String::with_capacity(2048 + all.len() * 800);
    b.push_str(r#"<div class="title"><h1>Schedules</h1></div>"#);
    if !actions {
        b.push_str(r#"<p class="note" data-actions-off>Actions are disabled: this console was started without a token. Enable them with <code>Console::new(client).token(secret)</code>; trigger, pause and resume then ask for it.</p>"#);
    }
    b.push_str(r#"<section class="card"><table class="schedules"><thead><tr><th>Name</th><th>Workflow</th><th>Spec</th><th>Overlap</th><th>State</th><th>Next fire</th><th>Last run</th><th>Started / skipped / missed</th><th>Actions</th></tr></thead><tbody data-schedules>"#);
    for s in all {
        let seg = PathSegment(&s.name);
        let _ = write!(
            b,
            r#"<tr data-schedule="{name}"><td class="id">{name}</td><td>{workflow}</td><td>{spec}</td><td>{overlap}</td><td>"#,
            name = Esc(&s.name),
            workflow = Esc(&s.workflow),
            spec = Esc(&s.spec.to_string()),
            overlap = Esc(&s.overlap.to_string()),
        );
        let _ = write!(
            b,
            r#"<span class="status status-{state}" data-state>{state}</span>"#,
            state = if s.paused { "paused" } else { "active" }
        );
        if let Some(note) = &s.note {
            let _ = write!(b, r#"<div class="reason">{}</div>"#, Esc(note));
        }
        b.push_str(r#"</td><td class="time">"#);
        match s.next_fire_times_ms.first() {
            Some(&t) => {
                let _ = write!(b, "{}", Time(t));
            }
            None => b.push('-'),
        }
        b.push_str(r#"</td><td class="id">"#);
        match &s.last_run_id {
            Some(id) => {
                let _ = write!(
                    b,
                    r#"<a href="{base}/runs/{seg}">{id}</a>"#,
                    base = Esc(base),
                    seg = PathSegment(id),
                    id = Esc(id),
                );
            }
            None => b.push('-'),
        }
        let _ = write!(
            b,
            r#"</td><td>{} / {} / {}</td><td><form class="schedule-actions" method="post" action="{base}/schedules/{seg}/trigger"><fieldset{disabled}><label>Token <input type="password" name="token" autocomplete="off" required></label><button type="submit" data-action="trigger">Trigger now</button>"#,
            s.started,
            s.skipped,
            s.missed,
            base = Esc(base),
            disabled = if actions { "" } else { " disabled" },
        );
        let (action, label) = if s.paused {
            ("resume", "Resume")
        } else {
            ("pause", "Pause")
        };
        let _ = write!(
            b,
            r#"<button type="submit" formaction="{base}/schedules/{seg}/{action}" data-action="{action}">{label}</button></fieldset></form></td></tr>"#,
            base = Esc(base),
        );
    }
    b.push_str("</tbody></table>");
    let _ = write!(
        b,
        r#"<p class="empty"{}>No schedule. Create one with <code>client.schedule(..)</code>.</p>"#,
        if all.is_empty() { "" } else { " hidden" }
    );
    b.push_str("</section>");
    page(base, "Schedules", "schedules", &b)
}

/// The signal names a run's workflow waits for somewhere (for the signal form's suggestions),
/// the ones its current wait expects first.
fn signal_names(run: &WorkflowState, description: Option<&Description>) -> Vec<String> {
    fn command(c: &CommandDesc, out: &mut Vec<String>) {
        match c {
            CommandDesc::Signal(Some(name)) => out.push((*name).to_string()),
            CommandDesc::Join(cs) | CommandDesc::Select(cs) => {
                cs.iter().for_each(|c| command(c, out))
            }
            CommandDesc::Many(c) => command(c, out),
            CommandDesc::Signal(None)
            | CommandDesc::Activity(_)
            | CommandDesc::Timer
            | CommandDesc::Child(_)
            | CommandDesc::Unknown => {}
        }
    }
    let mut names: Vec<String> = run
        .commands
        .iter()
        .filter_map(|c| match c {
            PendingCommand::Signal { name, .. } => Some(name.clone()),
            PendingCommand::Activity { .. }
            | PendingCommand::Timer { .. }
            | PendingCommand::Child { .. }
            | PendingCommand::Promise { .. } => None,
        })
        .collect();
    for st in description.map_or(&[][..], |d| d.states) {
        if let Some(a) = &st.awaits {
            command(&a.waits_for, &mut names);
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// What a run page shows besides the run itself.
pub(crate) struct RunPageParts<'a> {
    /// Where the console is mounted.
    pub(crate) base: &'a str,
    /// The run's state machine, when its workflow is registered with the client.
    pub(crate) description: Option<&'a Description>,
    /// The newest entries of the run's history (at most [`HISTORY_SHOWN`]), oldest first.
    pub(crate) history: &'a [HistoryEntry],
    /// How many entries the run's history has in all.
    pub(crate) history_total: usize,
    /// Whether the console has a token (actions are on).
    pub(crate) actions: bool,
}

/// The most history entries a run's page and `GET /api/runs/{id}` hold: the newest. A run that
/// loops for months has millions, and the page asks again every second while it runs.
pub(crate) const HISTORY_SHOWN: usize = 500;

/// The page of one run.
pub(crate) fn run_page(run: &WorkflowState, parts: &RunPageParts<'_>) -> String {
    let RunPageParts {
        base,
        description,
        history,
        history_total,
        actions,
    } = *parts;
    let mut b = String::with_capacity(16 * 1024);
    let id_seg = PathSegment(&run.id).to_string();
    let _ = write!(
        b,
        r#"<div class="run" data-run="{id}" data-version="{version}" data-history="{len}" data-finished="{finished}">"#,
        id = Esc(&run.id),
        version = run.version,
        len = history_total,
        finished = run.status.is_finished(),
    );
    let _ = write!(
        b,
        r#"<div class="title"><a class="back" href="{base}/">Runs</a><span class="sep">/</span><h1><code>{id}</code></h1><span data-field="status">"#,
        base = Esc(base),
        id = Esc(&run.id),
    );
    status_badge(&mut b, run.status);
    let _ = write!(
        b,
        r#"</span><span class="live" data-live data-when="open"{} title="updated live">live</span></div>"#,
        shown_when("open", run.status)
    );

    // Summary and actions.
    b.push_str(r#"<div class="grid">"#);
    b.push_str(r#"<section class="card summary"><h2>Summary</h2><table class="kv">"#);
    let version = run
        .workflow_version
        .map(|v| format!(" v{v}"))
        .unwrap_or_default();
    let _ = write!(
        b,
        "<tr><th>Workflow</th><td>{}{}</td></tr>",
        Esc(&run.name),
        version
    );
    let _ = write!(
        b,
        r#"<tr><th>State</th><td><code data-field="state_name">{}</code></td></tr>"#,
        Esc(run.current_state.as_deref().unwrap_or("?"))
    );
    let _ = write!(
        b,
        r#"<tr><th>Steps</th><td data-field="step">{}</td></tr><tr><th>Commits</th><td data-field="version">{}</td></tr>"#,
        run.step, run.version
    );
    let _ = write!(
        b,
        r#"<tr><th>Created</th><td class="time">{}</td></tr><tr><th>Updated</th><td class="time" data-field="updated">{}</td></tr>"#,
        Time(run.created_at_ms),
        Time(run.updated_at_ms),
    );
    if let Some(t) = run.timeout_at_ms {
        let _ = write!(
            b,
            r#"<tr data-row="timeout"><th>Times out</th><td class="time">{}</td></tr>"#,
            Time(t)
        );
    }
    let _ = write!(
        b,
        r#"<tr data-row="park_reason"{hidden}><th>Park reason</th><td class="reason" data-field="park_reason">{reason}</td></tr>"#,
        hidden = if run.park_reason.is_none() {
            " hidden"
        } else {
            ""
        },
        reason = Esc(run.park_reason.as_deref().unwrap_or("")),
    );
    b.push_str("</table></section>");
    actions_card(&mut b, base, &id_seg, run, description, actions);
    b.push_str("</div>");

    // The state machine and the state.
    b.push_str(r#"<div class="grid">"#);
    b.push_str(r#"<section class="card machine-card"><h2>State machine</h2>"#);
    match description {
        Some(d) => {
            let _ = write!(
                b,
                r#"<div class="machine-wrap" data-machine>{}</div>"#,
                state_machine_svg(d, run.current_state.as_deref())
            );
        }
        None => b.push_str(
            r#"<p class="note">The workflow of this run is not registered with the console's client: register it (<code>Client::new(store).workflow(..)</code>, or use <code>runtime.client()</code>) to see its state machine and its state.</p>"#,
        ),
    }
    b.push_str("</section>");
    b.push_str(r#"<section class="card"><h2>State</h2>"#);
    json_block(&mut b, "state", run.state.as_ref());
    let published = published_json(run);
    let _ = write!(
        b,
        r#"<h3 data-heading="published"{}>Published</h3>"#,
        if published.is_none() { " hidden" } else { "" }
    );
    json_block(&mut b, "published", published.as_ref());
    let _ = write!(
        b,
        r#"<p class="note" data-field="state_error"{hidden}>{text}</p>"#,
        hidden = if run.state_error.is_none() {
            " hidden"
        } else {
            ""
        },
        text = Esc(run.state_error.as_deref().unwrap_or("")),
    );
    let waiting = (!run.commands.is_empty())
        .then(|| serde_json::to_value(&run.commands).ok())
        .flatten();
    let _ = write!(
        b,
        r#"<h3 data-heading="commands"{}>Waiting on</h3>"#,
        if waiting.is_none() { " hidden" } else { "" }
    );
    json_block(&mut b, "commands", waiting.as_ref());
    let _ = write!(
        b,
        r#"<h3 data-heading="output"{}>Output</h3>"#,
        if run.output.is_none() { " hidden" } else { "" }
    );
    json_block(&mut b, "output", run.output.as_ref());
    b.push_str("</section></div>");

    // The history.
    b.push_str(r#"<section class="card"><h2>History</h2>"#);
    let _ = write!(
        b,
        r#"<p class="note" data-history-note{}>The newest <span data-history-shown>{}</span> of <span data-history-total>{}</span> entries: <code>workflow-admin history</code> shows them all.</p>"#,
        if history_total > history.len() {
            ""
        } else {
            " hidden"
        },
        history.len(),
        history_total,
    );
    b.push_str(r#"<table class="history"><thead><tr><th>Time</th><th>Event</th><th>Detail</th></tr></thead><tbody data-history>"#);
    for h in history {
        let kind = h.kind.as_str();
        let _ = write!(
            b,
            r#"<tr><td class="time">{}</td><td><span class="kind kind-{k}">{k}</span></td><td class="detail">{}</td></tr>"#,
            Time(h.at_ms),
            Esc(&h.detail),
            k = Esc(kind),
        );
    }
    b.push_str("</tbody></table></section></div>");
    page(base, &run.id, "run", &b)
}

/// ` hidden` unless a run in `status` is `when`: `open` (running or parked: it takes signals
/// and can be cancelled), `parked`, or `finished`. The script applies the same rule as the
/// status changes.
fn shown_when(when: &str, status: WorkflowStatus) -> &'static str {
    let shown = match when {
        "parked" => status == WorkflowStatus::Parked,
        "finished" => status.is_finished(),
        _ => !status.is_finished(),
    };
    if shown { "" } else { " hidden" }
}

/// The signal, unpark and cancel forms: one form, one token field, a button per action; each
/// part shown only while the run's status allows it.
fn actions_card(
    b: &mut String,
    base: &str,
    id_seg: &str,
    run: &WorkflowState,
    description: Option<&Description>,
    actions: bool,
) {
    b.push_str(r#"<section class="card actions"><h2>Actions</h2>"#);
    if !actions {
        b.push_str(r#"<p class="note" data-actions-off>Actions are disabled: this console was started without a token. Enable them with <code>Console::new(client).token(secret)</code>; signal, cancel and unpark then ask for it.</p>"#);
    }
    let names = signal_names(run, description);
    let _ = write!(
        b,
        r#"<form class="actions-form" method="post" action="{base}/runs/{id_seg}/signal"><fieldset{disabled}>"#,
        base = Esc(base),
        disabled = if actions { "" } else { " disabled" },
    );
    let _ = write!(
        b,
        r#"<p class="note" data-when="finished"{}>This run has finished: nothing more can be done to it.</p>"#,
        shown_when("finished", run.status)
    );
    let _ = write!(
        b,
        r#"<label data-when="open"{}>Token <input type="password" name="token" autocomplete="off" required></label>"#,
        shown_when("open", run.status)
    );
    let _ = write!(
        b,
        r#"<div class="signal" data-when="open"{}><label>Signal <input name="name" list="signal-names" required"#,
        shown_when("open", run.status)
    );
    if let Some(first) = names.first() {
        let _ = write!(b, r#" value="{}""#, Esc(first));
    }
    b.push_str(r#"></label><datalist id="signal-names">"#);
    for n in &names {
        let _ = write!(b, r#"<option value="{}">"#, Esc(n));
    }
    b.push_str(r#"</datalist><label>Payload (JSON) <textarea name="payload" rows="3" spellcheck="false">null</textarea></label>"#);
    b.push_str(r#"<button type="submit" data-action="signal">Send signal</button></div>"#);
    let _ = write!(
        b,
        r#"<div class="buttons"><button type="submit" formaction="{base}/runs/{id_seg}/unpark" formnovalidate data-action="unpark" data-when="parked"{parked}>Unpark</button><button type="submit" class="danger" formaction="{base}/runs/{id_seg}/cancel" formnovalidate data-action="cancel" data-when="open"{open}>Cancel run</button><button type="submit" class="danger" formaction="{base}/runs/{id_seg}/terminate" formnovalidate data-action="terminate" data-when="open"{open}>Terminate</button></div>"#,
        base = Esc(base),
        parked = shown_when("parked", run.status),
        open = shown_when("open", run.status),
    );
    b.push_str(r#"</fieldset></form><p class="result" data-result role="status"></p></section>"#);
}

/// The values `run` published, as one JSON object, or `None` if it published none.
pub(crate) fn published_json(run: &WorkflowState) -> Option<serde_json::Value> {
    (!run.published.is_empty()).then(|| {
        serde_json::Value::Object(
            run.published
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    })
}
