//! The pieces every page is made of: escaping, links, times, status badges and the page frame.
//!
//! Pages are built as strings with `write!`; every piece of text that comes from a run (ids,
//! names, JSON, history details, park reasons) goes through [`Esc`] or [`PathSegment`], and
//! nothing else is interpolated.

use std::fmt::{self, Write as _};

use workflow_rt::WorkflowStatus;

/// The console's stylesheet, inlined into every page.
const CSS: &str = include_str!("console.css");
/// The console's script (live updates, actions without a reload), inlined into every page.
const JS: &str = include_str!("console.js");

/// Text escaped for HTML (element content and quoted attribute values) and SVG.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// Text percent-encoded as one path segment or one query value: everything but the unreserved
/// characters of RFC 3986 is encoded, so a run id with `/`, `?`, `#` or spaces stays one
/// segment. The result is plain ASCII that needs no further HTML escaping.
pub(crate) struct PathSegment<'a>(pub(crate) &'a str);

impl fmt::Display for PathSegment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// A time in milliseconds since the Unix epoch, in UTC, as `2024-01-01T00:00:00.000Z` (what
/// JavaScript's `Date.toISOString` writes, so that live updates show times alike).
pub(crate) struct Time(pub(crate) u64);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let secs = self.0 / 1000;
        let (days, day_secs) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            day_secs / 3600,
            day_secs % 3600 / 60,
            day_secs % 60
        )
    }
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The lower-case name of a status, as the pages and their CSS classes use it.
pub(crate) fn status_name(status: WorkflowStatus) -> &'static str {
    match status {
        WorkflowStatus::Running => "running",
        WorkflowStatus::Completed => "completed",
        WorkflowStatus::Failed => "failed",
        WorkflowStatus::Parked => "parked",
        WorkflowStatus::Cancelled => "cancelled",
    }
}

/// A status as a coloured badge.
pub(crate) fn status_badge(out: &mut String, status: WorkflowStatus) {
    let s = status_name(status);
    let _ = write!(out, r#"<span class="status status-{s}">{s}</span>"#);
}

/// A JSON value, pretty-printed, in a `<pre>`; `data-json` names it for live updates.
pub(crate) fn json_block(out: &mut String, name: &str, value: Option<&serde_json::Value>) {
    let text = value
        .map(|v| serde_json::to_string_pretty(v).unwrap_or_else(|e| e.to_string()))
        .unwrap_or_default();
    let _ = write!(
        out,
        r#"<pre class="json" data-json="{name}"{hidden}>{text}</pre>"#,
        name = Esc(name),
        hidden = if value.is_none() { " hidden" } else { "" },
        text = Esc(&text),
    );
}

/// A whole page: the frame around `body`, with the console's CSS and script inlined.
///
/// `base` is where the console is mounted (empty at the root), `page` names the page for the
/// script (`runs` or `run`).
pub(crate) fn page(base: &str, title: &str, page: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + JS.len() + 1024);
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · workflow console</title>
<style>{CSS}</style>
</head>
<body data-base="{base}" data-page="{page}">
<header class="top"><a class="brand" href="{base}/">workflow console</a><nav><a href="{base}/">Runs</a><a href="{base}/schedules">Schedules</a><a href="{base}/metrics">Metrics</a></nav></header>
<main>
{body}
</main>
<script>{JS}</script>
</body>
</html>
"#,
        title = Esc(title),
        base = Esc(base),
        page = Esc(page),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            Esc(r#"<a href="x">&'b'</a>"#).to_string(),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;b&#39;&lt;/a&gt;"
        );
        assert_eq!(Esc("plain é").to_string(), "plain é");
    }

    #[test]
    fn encodes_a_path_segment() {
        assert_eq!(PathSegment("a-b_c.d~1").to_string(), "a-b_c.d~1");
        assert_eq!(PathSegment("a/b c?#é").to_string(), "a%2Fb%20c%3F%23%C3%A9");
    }

    #[test]
    fn formats_times_as_javascript_does() {
        assert_eq!(Time(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Time(1_704_067_200_000).to_string(),
            "2024-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Time(1_709_210_096_789).to_string(),
            "2024-02-29T12:34:56.789Z"
        );
        assert_eq!(
            Time(4_102_444_799_999).to_string(),
            "2099-12-31T23:59:59.999Z"
        );
    }
}
