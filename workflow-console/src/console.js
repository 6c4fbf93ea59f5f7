// The console's script: live updates of the pages from the JSON API, and the run page's
// actions without a reload. Every text goes in through textContent, never as HTML.
(() => {
  "use strict";
  const body = document.body;
  const base = body.dataset.base || "";
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const time = (ms) => new Date(ms).toISOString();
  const statusName = (s) => String(s).toLowerCase();
  const badge = (s) => el("span", "status status-" + statusName(s), statusName(s));
  const getJson = async (url) => {
    const r = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || r.status + " " + r.statusText);
    return data;
  };
  const live = document.querySelector("[data-live]");
  const setLive = (ok) => {
    if (!live) return;
    live.classList.toggle("on", ok);
    live.classList.toggle("stale", !ok);
    live.title = ok ? "updated live" : "updates failed; retrying";
  };

  // The list page.
  const runsTable = document.querySelector("[data-runs]");
  if (body.dataset.page === "runs" && runsTable) {
    const query = document.querySelector("[data-runs-query]").dataset.runsQuery;
    // The page as served may already be behind: the first answer is always drawn.
    let last = "";
    const render = (data) => {
      const rows = data.runs.map((run) => {
        const tr = el("tr");
        const id = el("td", "id");
        const a = el("a", null, run.id);
        a.href = base + "/runs/" + encodeURIComponent(run.id);
        id.append(a);
        const status = el("td");
        status.append(badge(run.status));
        tr.append(id, el("td", null, run.name), status,
          el("td", "time", time(run.created_at_ms)), el("td", "time", time(run.updated_at_ms)),
          el("td", "reason", run.park_reason || ""));
        return tr;
      });
      runsTable.replaceChildren(...rows);
      document.querySelector("[data-runs-empty]").hidden = rows.length > 0;
      let total = 0;
      for (const [name, n] of Object.entries(data.counts)) {
        total += n;
        const c = document.querySelector('[data-count="' + name + '"]');
        if (c) c.textContent = n;
      }
      const all = document.querySelector('[data-count="all"]');
      if (all) all.textContent = total;
    };
    const poll = async () => {
      try {
        const data = await getJson(base + "/api/runs" + query);
        const text = JSON.stringify(data);
        if (text !== last) render(data);
        last = text;
      } catch (e) {
        // Keep what is shown; try again at the next tick.
      }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 2000);
  }

  // The run page.
  const run = document.querySelector("[data-run]");
  if (body.dataset.page === "run" && run) {
    const id = run.dataset.run;
    const api = base + "/api/runs/" + encodeURIComponent(id);
    let version = run.dataset.version;
    let historyLength = run.dataset.history;
    let timer = null;
    const field = (name) => run.querySelector('[data-field="' + name + '"]');
    // The JSON as the server wrote it (`shown`): parsed here and written again, a number past
    // 2^53 would be shown changed.
    const json = (name, text) => {
      const pre = run.querySelector('[data-json="' + name + '"]');
      const heading = run.querySelector('[data-heading="' + name + '"]');
      const shown = text !== null && text !== undefined;
      pre.hidden = !shown;
      if (heading) heading.hidden = !shown;
      pre.textContent = shown ? text : "";
    };
    const render = (data) => {
      const r = data.run;
      field("status").replaceChildren(badge(r.status));
      field("state_name").textContent = r.current_state || "?";
      field("step").textContent = r.step;
      field("version").textContent = r.version;
      field("updated").textContent = time(r.updated_at_ms);
      field("park_reason").textContent = r.park_reason || "";
      run.querySelector('[data-row="park_reason"]').hidden = !r.park_reason;
      field("state_error").textContent = r.state_error || "";
      field("state_error").hidden = !r.state_error;
      json("state", data.shown.state);
      json("published", data.shown.published);
      json("commands", data.shown.commands);
      json("output", data.shown.output);
      for (const g of run.querySelectorAll("[data-machine] g.state")) {
        g.classList.toggle("current", g.dataset.state === r.current_state);
      }
      const rows = data.history.map((h) => {
        const tr = el("tr");
        const kind = el("td");
        const k = h.kind;
        kind.append(el("span", "kind kind-" + k, k));
        tr.append(el("td", "time", time(h.at_ms)), kind, el("td", "detail", h.detail));
        return tr;
      });
      run.querySelector("[data-history]").replaceChildren(...rows);
      const note = run.querySelector("[data-history-note]");
      if (note) {
        note.hidden = data.history_total <= data.history.length;
        note.querySelector("[data-history-shown]").textContent = String(data.history.length);
        note.querySelector("[data-history-total]").textContent = String(data.history_total);
      }
      run.dataset.finished = String(data.finished);
      const status = statusName(r.status);
      for (const e of document.querySelectorAll("[data-when]")) {
        const when = e.dataset.when;
        e.hidden = !(when === "parked" ? status === "parked"
          : when === "finished" ? data.finished : !data.finished);
      }
    };
    const refresh = async () => {
      clearTimeout(timer);
      try {
        const data = await getJson(api);
        setLive(true);
        if (String(data.run.version) !== version || String(data.history_total) !== historyLength) {
          render(data);
          version = String(data.run.version);
          historyLength = String(data.history_total);
        }
        if (data.finished) return;
      } catch (e) {
        setLive(false);
      }
      timer = setTimeout(refresh, 1000);
    };
    if (run.dataset.finished !== "true") {
      setLive(true);
      timer = setTimeout(refresh, 1000);
    }

    const form = run.querySelector("form.actions-form");
    const result = run.querySelector("[data-result]");
    const say = (ok, text) => {
      result.className = "result " + (ok ? "ok" : "err");
      result.textContent = text;
    };
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const action = (event.submitter && event.submitter.dataset.action) || "signal";
        const token = form.elements.token.value;
        if (!token) {
          say(false, "enter the console's token first");
          return;
        }
        // The payload as typed, once checked to be JSON: parsed and written again, a number
        // past 2^53 (an id, say) would be sent changed.
        let payload = "null";
        if (action === "signal") {
          if (!form.elements.name.value.trim()) {
            say(false, "a signal needs a name");
            return;
          }
          const text = form.elements.payload.value.trim();
          try {
            if (text !== "") JSON.parse(text);
          } catch (e) {
            say(false, "the payload is not JSON: " + e.message);
            return;
          }
          if (text !== "") payload = text;
        }
        if (action === "cancel" && !window.confirm("Cancel run " + id + "?")) return;
        if (
          action === "terminate" &&
          !window.confirm("Terminate run " + id + "? Its code is not told, and it cannot be undone.")
        )
          return;
        const init = {
          method: "POST",
          headers: { Accept: "application/json", Authorization: "Bearer " + token },
        };
        if (action === "signal") {
          init.headers["Content-Type"] = "application/json";
          init.body =
            '{"name":' + JSON.stringify(form.elements.name.value.trim()) + ',"payload":' + payload + "}";
        }
        say(true, "…");
        try {
          const r = await fetch(api + "/" + action, init);
          const data = await r.json().catch(() => ({}));
          if (r.ok) say(true, data.message || "done");
          else say(false, data.error || r.status + " " + r.statusText);
        } catch (e) {
          say(false, "the console did not answer: " + e.message);
        }
        refresh();
      });
    }
  }
})();
