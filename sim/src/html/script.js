// kafka-sim report: draws the panels from the embedded data and moves the time cursor.
// Every string from the data reaches the page through textContent, never as markup.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const W = 1000; // drawing width in SVG units; every panel shares it, so times line up
  const LEFT = 86; // lane labels
  const RIGHT = 12;
  const LANE = 64; // height of a replica lane
  const MEMBER = 34; // height of a group member lane
  const BAND = 56; // label band above the lanes
  const AXIS = 20;
  const end = Math.max(1, data.end_ms);

  const x = (ms) => LEFT + (Math.min(ms, end) / end) * (W - LEFT - RIGHT);
  const secs = (ms) => (ms / 1000).toFixed(3) + "s";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function tip(node, text) {
    node.appendChild(sv("title", {}, text));
    return node;
  }

  // Labels in the band above the lanes, in rows so they do not overlap: gathered while a
  // panel is drawn, then placed from left to right (`label.place()`).
  function labeler(g, rows) {
    const pending = [];
    const label = (px, text, cls, tooltip) => pending.push({ px, text, cls, tooltip });
    label.place = () => {
      const ends = new Array(rows).fill(-Infinity);
      pending.sort((a, b) => a.px - b.px);
      for (const { px, text, cls, tooltip } of pending) {
        const width = text.length * 6.2 + 8;
        let row = ends.findIndex((e) => e < px);
        if (row < 0) row = ends.indexOf(Math.min(...ends));
        ends[row] = px + width;
        const t = sv("text", { x: px + 4, y: 12 + row * 13, class: cls }, text);
        if (tooltip) tip(t, tooltip);
        g.appendChild(t);
      }
    };
    return label;
  }

  function niceStep(ms) {
    const steps = [100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000];
    return steps.find((s) => ms / s <= 12) || 600000;
  }
  function axis(g, y, top) {
    g.appendChild(sv("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: "axis" }));
    const step = niceStep(end);
    for (let t = 0; t <= end; t += step) {
      g.appendChild(sv("line", { x1: x(t), x2: x(t), y1: top, y2: y + 3, class: "axis", "stroke-opacity": 0.25 }));
      g.appendChild(sv("text", { x: x(t), y: y + 14, "text-anchor": "middle", class: "small" }, step < 1000 ? secs(t) : t / 1000 + "s"));
    }
  }

  const cursors = []; // every cursor line, moved together

  function newPanel(container, height, title) {
    const div = el("div", "panel");
    const s = sv("svg", { viewBox: "0 0 " + W + " " + height, role: "img" });
    s.appendChild(sv("text", { x: 6, y: 14, class: "title" }, title));
    div.appendChild(s);
    container.appendChild(div);
    return s;
  }

  function cursorLine(s, top, bottom) {
    const c = sv("line", { x1: LEFT, x2: LEFT, y1: top, y2: bottom, class: "cursor" });
    s.appendChild(c);
    cursors.push(c);
  }

  function divergence(s, top, bottom, label) {
    if (data.first_divergence_ms === null || data.first_divergence_ms === undefined) return;
    const px = x(data.first_divergence_ms);
    s.appendChild(sv("line", { x1: px, x2: px, y1: top - 6, y2: bottom, class: "divergence" }));
    label(px, "first divergence " + secs(data.first_divergence_ms), "divergence", "the two records first differ here");
  }

  function stepPath(points, pick, y) {
    if (points.length === 0) return "";
    let d = "M" + x(points[0][0]).toFixed(1) + " " + y(pick(points[0])).toFixed(1);
    for (let i = 1; i < points.length; i++) {
      d += "H" + x(points[i][0]).toFixed(1) + "V" + y(pick(points[i])).toFixed(1);
    }
    return d + "H" + x(end).toFixed(1);
  }

  function faultLabel(f) {
    return f.action + (f.to_ms > f.from_ms ? " " + secs(f.from_ms) + "\u2013" + secs(f.to_ms) : " " + secs(f.from_ms));
  }

  function faultTip(f) {
    return f.action + " at " + secs(f.from_ms) + ": " + f.detail + (f.ended_by ? " (until the " + f.ended_by + " at " + secs(f.to_ms) + ")" : "");
  }

  // A client's fault above a partition's lanes: a thin bar, labelled in the band.
  function drawClientFaults(s, faults, y, label) {
    for (const f of faults) {
      const tooltip = faultTip(f);
      const x1 = x(f.from_ms);
      s.appendChild(tip(sv("rect", { x: x1, y: y, width: Math.max(2, x(f.to_ms) - x1), height: 3, class: "fault" }), tooltip));
      label(x1, f.client + " " + f.action, "fault", tooltip);
    }
  }

  // Faults over the lanes they are about: `lanesOf(f)` gives the lane indexes.
  function drawFaults(s, faults, laneTop, lanesOf, laneH, label) {
    for (const f of faults) {
      const lanes = lanesOf(f);
      if (lanes.length === 0) continue;
      const tooltip = faultTip(f);
      const x1 = x(f.from_ms);
      if (f.to_ms <= f.from_ms) {
        const top = laneTop + Math.min(...lanes) * laneH;
        const line = sv("line", { x1: x1, x2: x1, y1: top, y2: laneTop + (Math.max(...lanes) + 1) * laneH, class: "fault-instant" });
        s.appendChild(tip(line, tooltip));
        label(x1, f.action, "fault", tooltip);
        continue;
      }
      const w = Math.max(1.5, x(f.to_ms) - x1);
      for (const i of lanes) {
        const r = sv("rect", { x: x1, y: laneTop + i * laneH + 1, width: w, height: laneH - 2, class: "fault" });
        s.appendChild(tip(r, tooltip));
        s.appendChild(tip(sv("text", { x: x1 + 2, y: laneTop + i * laneH + laneH - 4, class: "fault" }, faultLabel(f)), tooltip));
      }
    }
  }

  function drawPartition(container, run, p) {
    const n = p.lanes.length;
    const laneTop = 18 + BAND;
    const height = laneTop + n * LANE + AXIS + 4;
    const s = newPanel(container, height, p.name + "  replicas [" + p.replicas.join(",") + "]" + (runsCount > 1 ? "  (" + run.label + ")" : ""));
    const band = sv("g", { transform: "translate(0,18)" });
    s.appendChild(band);
    const label = labeler(band, 4);
    const max = Math.max(1, p.max_offset);
    const laneIndex = (b) => p.replicas.indexOf(b);
    const bottom = laneTop + n * LANE;
    axis(s, bottom + 2, laneTop);
    // Lanes and the ISR at the back, faults over them, the LEO and HW lines on top.
    const [back, middle, front] = [sv("g", {}), sv("g", {}), sv("g", {})];
    s.append(back, middle, front);
    p.lanes.forEach((lane, i) => {
      const top = laneTop + i * LANE;
      const y = (o) => top + LANE - 5 - (o / max) * (LANE - 16);
      back.appendChild(sv("rect", { x: LEFT, y: top, width: W - LEFT - RIGHT, height: LANE, class: "lane" }));
      for (const [a, b] of lane.isr_spans) {
        back.appendChild(tip(sv("rect", { x: x(a), y: top + 1, width: Math.max(0.5, x(b) - x(a)), height: LANE - 2, class: "isr" }), "broker " + lane.broker + " in the ISR " + secs(a) + "\u2013" + secs(b)));
      }
      front.appendChild(sv("text", { x: 6, y: top + 16 }, "broker " + lane.broker));
      front.appendChild(sv("text", { x: 6, y: top + 30, class: "small" }, "LEO / HW"));
      for (const l of lane.lead_spans) {
        const r = sv("rect", { x: x(l.from_ms), y: top + 1, width: Math.max(2, x(l.to_ms) - x(l.from_ms)), height: 4, class: "lead" });
        front.appendChild(tip(r, "broker " + lane.broker + " leads in epoch " + l.leader_epoch + " from " + secs(l.from_ms)));
        front.appendChild(sv("text", { x: x(l.from_ms) + 2, y: top + 13, class: "lead" }, "\u2605 e" + l.leader_epoch));
      }
      front.appendChild(sv("path", { d: stepPath(lane.points, (q) => q[2], y), class: "hw" }));
      front.appendChild(sv("path", { d: stepPath(lane.points, (q) => q[1], y), class: "leo" }));
      for (const t of lane.truncations) {
        const px = x(t.at_ms);
        const tooltip = "broker " + lane.broker + " truncates to " + t.to_offset + " (from " + t.from_offset + ") at " + secs(t.at_ms) + ": " + t.reason;
        front.appendChild(tip(sv("line", { x1: px, x2: px, y1: y(t.from_offset), y2: y(t.to_offset), class: "trunc" }), tooltip));
        front.appendChild(tip(sv("path", { d: "M" + (px - 4) + " " + (y(t.to_offset) - 6) + "h8l-4 6z", class: "trunc" }), tooltip));
        front.appendChild(tip(sv("text", { x: px + 5, y: Math.max(top + 22, y(t.to_offset) - 2), class: "trunc" }, "truncated \u2192 " + t.to_offset), tooltip));
      }
      for (const loss of p.losses) {
        const y1 = y(loss.last_offset + 1), y2 = y(loss.first_offset);
        const r = sv("rect", { x: x(loss.first_promised_ms), y: y1, width: Math.max(2, x(loss.at_ms) - x(loss.first_promised_ms)), height: Math.max(2, y2 - y1), class: "lost" });
        front.appendChild(tip(r, loss.count + " acknowledged records at offsets " + loss.first_offset + "\u2013" + loss.last_offset + ", lost at " + secs(loss.at_ms) + ": " + loss.by));
      }
    });
    const all = [...Array(n).keys()];
    drawFaults(middle, run.faults.filter((f) => !f.client), laneTop, (f) => (f.whole ? all : f.brokers.map(laneIndex).filter((i) => i >= 0)), LANE, label);
    drawClientFaults(s, run.faults.filter((f) => f.client), laneTop - 5, label);
    for (const e of p.elections) {
      const px = x(e.at_ms);
      const cls = e.unclean ? "election unclean" : "election";
      const what = e.reason === "offline" ? "offline" : (e.unclean ? "UNCLEAN" : e.reason === "new-partition" ? "first" : "clean") + " e" + e.leader_epoch + " \u2192 " + (e.leader === null ? "none" : e.leader);
      const tooltip = "election at " + secs(e.at_ms) + ": leader " + (e.leader === null ? "none" : e.leader) + ", epoch " + e.leader_epoch + ", ISR [" + e.isr.join(",") + "], " + e.reason + (e.unclean ? ", UNCLEAN" : "");
      s.appendChild(tip(sv("line", { x1: px, x2: px, y1: laneTop - 4, y2: bottom, class: cls }), tooltip));
      label(px, what, cls, tooltip);
    }
    for (const loss of p.losses) {
      const px = x(loss.at_ms);
      const tooltip = loss.count + " acknowledged records lost (offsets " + loss.first_offset + "\u2013" + loss.last_offset + ", acknowledged " + secs(loss.first_promised_ms) + "\u2013" + secs(loss.last_promised_ms) + "): " + loss.by;
      s.appendChild(tip(sv("line", { x1: px, x2: px, y1: laneTop - 6, y2: bottom, class: "lost-line" }), tooltip));
      label(px, "\u2716 " + loss.count + " acked lost", "lost", tooltip);
    }
    divergence(s, laneTop, bottom, label);
    label.place();
    cursorLine(s, 18, bottom);
  }

  function drawGroup(container, run, g) {
    const n = Math.max(1, g.members.length);
    const laneTop = 18 + BAND;
    const height = laneTop + n * MEMBER + AXIS + 4;
    const s = newPanel(container, height, "group " + g.group + (runsCount > 1 ? "  (" + run.label + ")" : ""));
    const band = sv("g", { transform: "translate(0,18)" });
    s.appendChild(band);
    const label = labeler(band, 4);
    const bottom = laneTop + n * MEMBER;
    axis(s, bottom + 2, laneTop);
    g.members.forEach((m, i) => {
      const top = laneTop + i * MEMBER;
      s.appendChild(sv("rect", { x: LEFT, y: top, width: W - LEFT - RIGHT, height: MEMBER, class: "lane" }));
      s.appendChild(sv("text", { x: 6, y: top + 20 }, m.consumer.length > 14 ? m.consumer.slice(0, 13) + "\u2026" : m.consumer));
      for (const o of m.spans) {
        const w = Math.max(1, x(o.to_ms) - x(o.from_ms));
        const tooltip = m.consumer + " owns " + o.partitions.join(", ") + " (generation " + o.generation + ") " + secs(o.from_ms) + "\u2013" + secs(o.to_ms);
        s.appendChild(tip(sv("rect", { x: x(o.from_ms), y: top + 4, width: w, height: MEMBER - 14, class: "owned" }), tooltip));
        const text = o.partitions.join(",");
        if (w > text.length * 5.5 + 4) s.appendChild(tip(sv("text", { x: x(o.from_ms) + 2, y: top + 17, class: "small" }, text), tooltip));
      }
      for (const c of m.commits) {
        const tooltip = (c.commits > 1 ? c.commits + " commits, the last " : "commit ") + "at " + secs(c.at_ms) + ": " + c.offsets.map((o) => o[0] + "=" + o[1]).join(", ");
        s.appendChild(tip(sv("circle", { cx: x(c.at_ms), cy: top + MEMBER - 5, r: 2.5, class: "commit" }), tooltip));
      }
    });
    if (g.members.length === 0) s.appendChild(sv("text", { x: LEFT + 4, y: laneTop + 20, class: "small" }, "no member process in the scenario"));
    for (const t of g.rebalances) s.appendChild(tip(sv("line", { x1: x(t), x2: x(t), y1: laneTop, y2: laneTop + 4, class: "rebalance" }), "rebalance starts at " + secs(t)));
    for (const gen of g.generations) {
      const px = x(gen.at_ms);
      s.appendChild(sv("line", { x1: px, x2: px, y1: laneTop - 4, y2: bottom, class: "generation" }));
      label(px, "gen " + gen.generation, "small", "generation " + gen.generation + " with " + gen.members + " member(s) at " + secs(gen.at_ms));
    }
    const all = [...Array(n).keys()];
    const memberLane = (f) => g.members.findIndex((m) => f.client === "consumer " + m.consumer);
    drawFaults(s, run.faults.filter((f) => f.whole && (!f.client || memberLane(f) >= 0)), laneTop, (f) => (f.client ? [memberLane(f)] : all), MEMBER, label);
    drawClientFaults(s, run.faults.filter((f) => f.client && memberLane(f) < 0), laneTop - 5, label);
    divergence(s, laneTop, bottom, label);
    label.place();
    cursorLine(s, 18, bottom);
  }

  // ---- the summary, the violations and the timeline of one run ----

  function summaryOf(run, section) {
    const r = run.summary;
    const box = el("div", "summary");
    const item = (label, value, bad) => {
      const span = el("span");
      span.appendChild(el("span", bad ? "n bad" : "n", value));
      span.appendChild(document.createTextNode(" " + label));
      box.appendChild(span);
    };
    item("sent", r.sent);
    item("acknowledged", r.acked);
    item("acknowledged but lost (" + r.acked_lost_acks1 + " acks=1, " + r.acked_lost_acks_all + " acks=all)", r.acked_lost, r.acked_lost > 0);
    item("committed but lost", r.committed_lost, r.committed_lost > 0);
    if (r.lost_acks0 > 0) item("sent with acks=0 and lost", r.lost_acks0);
    if (r.duplicated > 0) item("duplicated", r.duplicated);
    item("consumed", r.consumed);
    item("clean elections", r.clean_elections);
    item("unclean elections", r.unclean_elections, r.unclean_elections > 0);
    item("ISR shrinks", r.isr_shrinks);
    item("ISR expands", r.isr_expands);
    section.appendChild(box);
    const verdict = el("p", "verdict");
    verdict.appendChild(el("span", r.expect_ok ? "ok" : "bad", r.expect_ok ? "[expect] held" : "[expect] FAILED"));
    section.appendChild(verdict);
    if (r.expect_failures.length) {
      const ul = el("ul");
      for (const f of r.expect_failures) ul.appendChild(el("li", "bad", f));
      section.appendChild(ul);
    }
    for (const w of r.warnings) section.appendChild(el("p", "warn", "warning: " + w));
  }

  function violationsOf(run, section) {
    section.appendChild(el("h3", null, run.violations.length ? "Invariants broken (click to move the cursor there)" : "Invariants: none broke"));
    if (!run.violations.length) return;
    const ul = el("ul", "violations");
    for (const v of run.violations) {
      const li = el("li");
      const a = el("a", null, "t=" + secs(v.at_ms) + " " + v.invariant + (v.partition ? " on " + v.partition : ""));
      a.setAttribute("role", "link");
      a.tabIndex = 0;
      a.addEventListener("click", () => setTime(v.at_ms));
      li.appendChild(a);
      li.appendChild(document.createTextNode(": " + v.detail));
      ul.appendChild(li);
    }
    for (const [inv, more] of run.unlisted_violations) ul.appendChild(el("li", null, "\u2026 and " + more + " more " + inv));
    section.appendChild(ul);
  }

  // ---- the cursor ----

  const runsCount = data.runs.length;
  // One step per narrated line, of every run, in time order.
  const steps = [];
  data.runs.forEach((run, r) => run.timeline.forEach((line, i) => steps.push({ run: r, line: i, at_ms: line.at_ms })));
  steps.sort((a, b) => a.at_ms - b.at_ms || a.run - b.run || a.line - b.line);
  const views = []; // per run: its timeline items and describe box
  let current = { step: 0, at_ms: 0 };

  function lastAtOrBefore(list, at, key) {
    let lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (key(list[mid]) <= at) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  function describe(run, view, at) {
    const box = view.describe;
    box.textContent = "";
    const i = lastAtOrBefore(run.samples, at, (s) => s.at_ms);
    box.appendChild(el("div", "at", (runsCount > 1 ? run.label + ": " : "") + "kafka-topics.sh --describe at t=" + secs(at)));
    if (i < 0) return;
    const sample = run.samples[i];
    const table = el("table");
    const head = el("tr");
    for (const h of ["Topic", "Partition", "Leader", "Epoch", "Replicas", "Isr", "LEO / HW per replica"]) head.appendChild(el("th", null, h));
    table.appendChild(head);
    run.partitions.forEach((p, k) => {
      const row = sample.rows[k];
      const tr = el("tr");
      for (const c of [p.topic, p.partition, row.leader === null ? "none" : row.leader, row.leader_epoch, p.replicas.join(","), row.isr.join(",")]) tr.appendChild(el("td", null, c));
      const offsets = el("td");
      row.replicas.forEach((o, j) => {
        offsets.appendChild(el("div", o[2] ? null : "down", p.replicas[j] + ": " + o[0] + " / " + o[1] + (o[2] ? "" : " (down)")));
      });
      tr.appendChild(offsets);
      table.appendChild(tr);
    });
    box.appendChild(table);
    for (const [topic, count] of run.internal_hidden) box.appendChild(el("div", "note", "(" + topic + ", " + count + " partitions, not shown)"));
    if (run.quiet_hidden) box.appendChild(el("div", "note", "(" + run.quiet_hidden + " more partitions with less happening, not shown)"));
    run.groups.forEach((g, k) => {
      const row = sample.groups[k];
      if (!row) return;
      const gt = el("table");
      const h = el("tr");
      for (const c of ["Group " + g.group, "Member", "Owns"]) h.appendChild(el("th", null, c));
      gt.appendChild(h);
      g.members.forEach((m, j) => {
        const tr = el("tr");
        for (const c of ["", m.consumer, row.owned[j].length ? row.owned[j].join(",") : "-"]) tr.appendChild(el("td", null, c));
        gt.appendChild(tr);
      });
      const tr = el("tr");
      tr.appendChild(el("td", null, ""));
      tr.appendChild(el("td", null, "committed"));
      tr.appendChild(el("td", null, row.committed.length ? row.committed.map((c) => c[0] + "=" + c[1]).join(" ") : "-"));
      gt.appendChild(tr);
      box.appendChild(gt);
    });
  }

  function render() {
    const at = current.at_ms;
    const px = x(at);
    for (const c of cursors) { c.setAttribute("x1", px); c.setAttribute("x2", px); }
    const step = steps[current.step];
    data.runs.forEach((run, r) => {
      const view = views[r];
      let line;
      if (current.exact && step && step.run === r) line = step.line;
      else line = lastAtOrBefore(run.timeline, at, (l) => l.at_ms);
      view.items.forEach((li, i) => { li.className = i <= line ? "past" : "future"; });
      if (line >= 0 && view.items[line]) {
        view.items[line].classList.add("current");
        const list = view.list, item = view.items[line];
        list.scrollTop = Math.max(0, item.offsetTop - list.offsetTop - list.clientHeight / 3);
      }
      describe(run, view, at);
    });
    const slider = document.getElementById("slider");
    slider.value = String(current.step);
    document.getElementById("now").textContent = "line " + (current.step + 1) + " of " + steps.length + "  t=" + secs(at);
  }

  function setStep(i) {
    if (!steps.length) return;
    const k = Math.max(0, Math.min(steps.length - 1, i));
    current = { step: k, at_ms: steps[k].at_ms, exact: true };
    render();
  }
  function setTime(at) {
    const k = Math.max(0, lastAtOrBefore(steps, at, (s) => s.at_ms));
    current = { step: k, at_ms: at, exact: false };
    render();
  }

  // ---- the page ----

  function build() {
    document.title = data.title;
    document.getElementById("title").textContent = data.title;
    const changes = document.getElementById("changes");
    if (data.changes.length) {
      changes.appendChild(document.createTextNode("what if: "));
      for (const c of data.changes) changes.appendChild(el("code", null, c.key + "=" + c.value));
    }
    const first = data.runs[0];
    document.getElementById("description").textContent = first ? first.description : "";
    if (!first || !first.description) document.getElementById("about").hidden = true;
    const main = document.getElementById("runs");
    data.runs.forEach((run, r) => {
      const section = el("section", "run");
      const heading = el("h2", null, runsCount > 1 ? run.label + ": " : "");
      heading.appendChild(el("span", "scenario-name", run.scenario));
      heading.appendChild(document.createTextNode(" (seed " + run.seed + "), simulated " + secs(run.sim_time_ms) + ", " + run.events + " events, trace hash " + run.trace_hash));
      section.appendChild(heading);
      summaryOf(run, section);
      const grid = el("div", "grid");
      const panels = el("div", "panels");
      for (const p of run.partitions) drawPartition(panels, run, p);
      for (const g of run.groups) drawGroup(panels, run, g);
      if (run.quiet_hidden) panels.appendChild(el("p", "note", "Not drawn: " + run.quiet_hidden + " more partitions. A page draws at most " + run.partitions.length + ": those with the most happening (broken invariants, unclean elections, truncations, offline spells, elections, ISR changes)."));
      if (run.internal_hidden.length) panels.appendChild(el("p", "note", "Not drawn: " + run.internal_hidden.map((h) => h[0] + " (" + h[1] + " partitions)").join(", ") + ", Kafka's internal topics."));
      violationsOf(run, panels);
      const aside = el("aside");
      const desc = el("div", "describe");
      const list = el("ol", "timeline");
      const items = run.timeline.map((line, i) => {
        const li = el("li", null, line.text);
        li.addEventListener("click", () => {
          const k = steps.findIndex((s) => s.run === r && s.line === i);
          if (k >= 0) setStep(k);
        });
        list.appendChild(li);
        return li;
      });
      aside.appendChild(desc);
      aside.appendChild(list);
      grid.appendChild(panels);
      grid.appendChild(aside);
      section.appendChild(grid);
      main.appendChild(section);
      views.push({ describe: desc, list: list, items: items });
    });
    const slider = document.getElementById("slider");
    slider.max = String(Math.max(0, steps.length - 1));
    slider.addEventListener("input", () => setStep(Number(slider.value)));
    document.getElementById("back").addEventListener("click", () => setStep(current.step - 1));
    document.getElementById("forward").addEventListener("click", () => setStep(current.step + 1));
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
      ev.preventDefault();
      setStep(current.step + (ev.key === "ArrowRight" ? 1 : -1));
    });
    const m = /^#step=(\d+)$/.exec(window.location.hash);
    setStep(m ? Number(m[1]) : 0);
  }

  build();
  document.documentElement.dataset.drawn = "yes";
})();
