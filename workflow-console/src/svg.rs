//! The state machine of a workflow as an SVG image, drawn on the server from its
//! [`Description`].
//!
//! States are boxes from top to bottom in source order (`Start`, one per await, `Returned`,
//! `Poisoned`), each with its name and its await's operation. A transition to the next state
//! is an arrow straight down; one that skips states goes down on the right; one that goes back
//! (a loop) or stays (an await in a loop of its own) goes up on the left. Each side arrow runs
//! in a lane of its own where it would overlap another. The drawing depends on nothing but the
//! description and the current state: the same input gives the same bytes.

use std::fmt::Write as _;

use workflow_rt::Description;

use crate::html::Esc;

/// Width of a state's box.
const BOX_W: u32 = 400;
/// Height of a state's box.
const BOX_H: u32 = 46;
/// Vertical space between two boxes (where the straight arrows run).
const GAP: u32 = 26;
/// Space between two side lanes.
const LANE: u32 = 14;
/// Space between a box and its first side lane, and around the drawing.
const MARGIN: u32 = 18;
/// How many characters of an operation fit on a box's second line.
const OPERATION_CHARS: usize = 58;

/// Which side of the boxes a transition is drawn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Forward over skipped states.
    Right,
    /// Back to an earlier state, or to the same one.
    Left,
}

/// A transition drawn beside the boxes.
#[derive(Debug)]
struct SideEdge {
    from: usize,
    to: usize,
    side: Side,
    lane: u32,
}

/// Renders `description` as an SVG image; the state named `current` (where a run is:
/// [`workflow_rt::WorkflowState::current_state`]) is filled with the highlight colour and has
/// the class `current`.
///
/// Every state is a `<g class="state" data-index="i" data-state="name">` holding its box and
/// its text, so that a page can move the highlight without drawing again. Every text is
/// escaped; the image names no external resource.
///
/// ```
/// use workflow_rt::prelude::*;
///
/// #[workflow]
/// async fn approval(ctx: WorkflowCtx, id: u64) -> bool {
///     ctx.signal::<bool>("approve").await
/// }
///
/// let description = approval::description();
/// assert_eq!(description.states[1].name, "Await1SignalApprove");
/// let svg = workflow_console::state_machine_svg(description, Some("Await1SignalApprove"));
/// assert!(svg.starts_with("<svg "));
/// assert!(svg.contains(r#"<g class="state current" data-index="1" data-state="Await1SignalApprove">"#));
/// ```
pub fn state_machine_svg(description: &Description, current: Option<&str>) -> String {
    let states = description.states;
    let edges = side_edges(description);
    let lanes = |side| {
        edges
            .iter()
            .filter(|e| e.side == side)
            .map(|e| e.lane + 1)
            .max()
            .unwrap_or(0)
    };
    let (left_lanes, right_lanes) = (lanes(Side::Left), lanes(Side::Right));
    let side_width = |n: u32| {
        if n == 0 {
            MARGIN
        } else {
            MARGIN * 2 + LANE * n
        }
    };
    let x0 = side_width(left_lanes);
    let width = x0 + BOX_W + side_width(right_lanes);
    let count = u32::try_from(states.len()).unwrap_or(u32::MAX);
    let height = MARGIN * 2 + count * BOX_H + count.saturating_sub(1) * GAP;
    let top = |i: usize| MARGIN + u32::try_from(i).unwrap_or(u32::MAX) * (BOX_H + GAP);

    let mut out = String::with_capacity(1024 + states.len() * 512);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="machine" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="state machine of {name} v{version}">"##,
        name = Esc(description.workflow),
        version = description.version,
    );
    let _ = write!(
        out,
        "<title>{} v{}</title>",
        Esc(description.workflow),
        description.version
    );
    out.push_str(concat!(
        "<style>",
        ".state rect{fill:#ffffff;stroke:#94a3b8;stroke-width:1.2}",
        ".state.final rect{stroke-dasharray:4 3}",
        ".state.current rect{fill:#fde68a;stroke:#b45309;stroke-width:2.4}",
        ".state .name{font:600 13px system-ui,-apple-system,'Segoe UI',sans-serif;fill:#0f172a}",
        ".state .op{font:11px ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace;fill:#475569}",
        ".edge{fill:none;stroke:#64748b;stroke-width:1.3}",
        "</style>",
        r##"<defs><marker id="wf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#64748b"/></marker></defs>"##,
    ));

    for &(from, to) in description.transitions {
        let (from, to) = (usize::from(from), usize::from(to));
        if from < states.len() && to == from + 1 {
            let x = x0 + BOX_W / 2;
            let _ = write!(
                out,
                r##"<path class="edge" d="M{x} {y1}V{y2}" marker-end="url(#wf-arrow)"/>"##,
                y1 = top(from) + BOX_H,
                y2 = top(to),
            );
        }
    }
    for e in &edges {
        // Leave a box low on its side and enter the other high, so that an arrow out of a box
        // and one into it do not meet.
        let y1 = top(e.from) + BOX_H * 2 / 3;
        let y2 = top(e.to) + BOX_H / 3;
        let d = match e.side {
            Side::Left => {
                let x = x0 - MARGIN - LANE * e.lane;
                format!("M{x0} {y1}H{x}V{y2}H{x0}")
            }
            Side::Right => {
                let right = x0 + BOX_W;
                let x = right + MARGIN + LANE * e.lane;
                format!("M{right} {y1}H{x}V{y2}H{right}")
            }
        };
        let _ = write!(
            out,
            r##"<path class="edge" d="{d}" marker-end="url(#wf-arrow)"/>"##
        );
    }

    for (i, st) in states.iter().enumerate() {
        let y = top(i);
        let mut class = String::from("state");
        if st.awaits.is_none() && i > 0 {
            class.push_str(" final");
        }
        if current == Some(st.name) {
            class.push_str(" current");
        }
        let _ = write!(
            out,
            r#"<g class="{class}" data-index="{i}" data-state="{}">"#,
            Esc(st.name)
        );
        let mut tip = format!("[{i}] {}", st.name);
        if let Some(a) = &st.awaits {
            let _ = write!(tip, " at line {}: {} `{}`", a.line, a.kind, a.operation);
        }
        for (n, t) in st.vars {
            let _ = write!(tip, "\n{n}: {t}");
        }
        let _ = write!(out, "<title>{}</title>", Esc(&tip));
        let _ = write!(
            out,
            r#"<rect x="{x0}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="7"/>"#
        );
        let text_x = x0 + 12;
        match &st.awaits {
            Some(a) => {
                let _ = write!(
                    out,
                    r#"<text class="name" x="{text_x}" y="{}">{}</text>"#,
                    y + 19,
                    Esc(st.name)
                );
                let op = shorten(&format!("{}: {}", a.kind, a.operation), OPERATION_CHARS);
                let _ = write!(
                    out,
                    r#"<text class="op" x="{text_x}" y="{}">{}</text>"#,
                    y + 36,
                    Esc(&op)
                );
            }
            None => {
                let _ = write!(
                    out,
                    r#"<text class="name" x="{text_x}" y="{}">{}</text>"#,
                    y + 28,
                    Esc(st.name)
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// The transitions drawn beside the boxes, each in the innermost lane of its side where it
/// overlaps no other (shorter spans first, so they stay close to the boxes).
fn side_edges(description: &Description) -> Vec<SideEdge> {
    let n = description.states.len();
    let mut wanted: Vec<(usize, usize)> = description
        .transitions
        .iter()
        .map(|&(a, b)| (usize::from(a), usize::from(b)))
        .filter(|&(a, b)| a < n && b < n && b != a + 1)
        .collect();
    wanted.sort_by_key(|&(a, b)| (a.abs_diff(b), a.min(b), a, b));
    wanted.dedup();
    let mut edges: Vec<SideEdge> = Vec::with_capacity(wanted.len());
    for (from, to) in wanted {
        let side = if to > from { Side::Right } else { Side::Left };
        let (lo, hi) = (from.min(to), from.max(to));
        let lane = (0..)
            .find(|&lane| {
                !edges.iter().any(|e| {
                    e.side == side
                        && e.lane == lane
                        && e.from.min(e.to) <= hi
                        && lo <= e.from.max(e.to)
                })
            })
            .unwrap_or(0);
        edges.push(SideEdge {
            from,
            to,
            side,
            lane,
        });
    }
    edges
}

/// `text` cut to at most `max` characters, the cut marked with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use workflow_rt::{AwaitDesc, CommandDesc, Layout, StateDesc};

    use super::*;

    /// A loop around a signal whose name needs escaping, then an activity.
    fn description() -> Description {
        static STATES: [StateDesc; 5] = [
            StateDesc {
                name: "Start",
                awaits: None,
                vars: &[("tries", "u32")],
            },
            StateDesc {
                name: "Await1SignalAsk",
                awaits: Some(AwaitDesc {
                    kind: "signal",
                    operation: r#"ctx.signal::<Vec<u8>>("a&b \"c\"")"#,
                    line: 4,
                    waits_for: CommandDesc::Signal(None),
                }),
                vars: &[("tries", "u32")],
            },
            StateDesc {
                name: "Await2Charge",
                awaits: Some(AwaitDesc {
                    kind: "activity",
                    operation: "ctx.activity(charge, tries)",
                    line: 9,
                    waits_for: CommandDesc::Activity("charge"),
                }),
                vars: &[],
            },
            StateDesc {
                name: "Returned",
                awaits: None,
                vars: &[],
            },
            StateDesc {
                name: "Poisoned",
                awaits: None,
                vars: &[],
            },
        ];
        Description {
            workflow: "pay<&>",
            version: 2,
            states: &STATES,
            transitions: &[(0, 1), (1, 1), (1, 2), (2, 1), (2, 3), (0, 3)],
            layout: || {
                static LAYOUT: Layout = Layout::fixed(1);
                &LAYOUT
            },
        }
    }

    #[test]
    fn one_box_per_state_and_the_current_one_highlighted() {
        let svg = state_machine_svg(&description(), Some("Await2Charge"));
        assert_eq!(svg.matches(r#"<g class="state"#).count(), 5);
        assert_eq!(svg.matches("<rect ").count(), 5);
        assert_eq!(svg.matches(" current\"").count(), 1);
        assert!(svg.contains(
            r#"<g class="state current" data-index="2" data-state="Await2Charge"><title>[2] Await2Charge"#
        ));
        assert!(svg.contains(r#"<g class="state" data-index="1" data-state="Await1SignalAsk">"#));
        // Returned and Poisoned are drawn dashed, Start is not.
        assert!(svg.contains(r#"<g class="state" data-index="0" data-state="Start">"#));
        assert!(svg.contains(r#"<g class="state final" data-index="3" data-state="Returned">"#));
        assert!(svg.contains(r#"<g class="state final" data-index="4" data-state="Poisoned">"#));
        // Six transitions: three straight down, one skipping on the right, two on the left (a
        // self-loop, and a back edge in a lane of its own since they overlap).
        assert_eq!(svg.matches(r#"<path class="edge""#).count(), 6);
        let none = state_machine_svg(&description(), None);
        assert!(!none.contains("current\""));
    }

    #[test]
    fn every_text_is_escaped() {
        let svg = state_machine_svg(&description(), Some("Await1SignalAsk"));
        assert!(svg.contains(
            "signal: ctx.signal::&lt;Vec&lt;u8&gt;&gt;(&quot;a&amp;b \\&quot;c\\&quot;&quot;)"
        ));
        assert!(svg.contains("<title>pay&lt;&amp;&gt; v2</title>"));
        assert!(svg.contains(r#"aria-label="state machine of pay&lt;&amp;&gt; v2""#));
        assert!(!svg.contains("a&b"));
        assert!(!svg.contains("<Vec"));
    }

    #[test]
    fn the_same_description_draws_the_same_bytes() {
        assert_eq!(
            state_machine_svg(&description(), Some("Returned")),
            state_machine_svg(&description(), Some("Returned"))
        );
    }

    #[test]
    fn overlapping_side_arrows_get_lanes_of_their_own() {
        let edges = side_edges(&description());
        let lanes: Vec<(usize, usize, Side, u32)> = edges
            .iter()
            .map(|e| (e.from, e.to, e.side, e.lane))
            .collect();
        assert_eq!(
            lanes,
            [
                (1, 1, Side::Left, 0),
                (2, 1, Side::Left, 1),
                (0, 3, Side::Right, 0),
            ]
        );
    }

    #[test]
    fn long_operations_are_cut() {
        static LONG: [StateDesc; 3] = [
            StateDesc {
                name: "Start",
                awaits: None,
                vars: &[],
            },
            StateDesc {
                name: "Await1Join",
                awaits: Some(AwaitDesc {
                    kind: "join",
                    operation: "ctx.join((ctx.activity(first, a.clone()), ctx.activity(second, b.clone()), ctx.sleep(d)))",
                    line: 3,
                    waits_for: CommandDesc::Unknown,
                }),
                vars: &[],
            },
            StateDesc {
                name: "Returned",
                awaits: None,
                vars: &[],
            },
        ];
        let d = Description {
            states: &LONG,
            transitions: &[(0, 1), (1, 2)],
            ..description()
        };
        let svg = state_machine_svg(&d, None);
        assert!(svg.contains("join: ctx.join((ctx.activity(first, a.clone()), ctx.activ…</text>"));
        // The whole operation stays in the box's tooltip.
        assert!(svg.contains("ctx.sleep(d)))`</title>"));
    }
}
