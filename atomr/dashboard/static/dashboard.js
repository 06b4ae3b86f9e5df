// The atomr dashboard page: renders the snapshots the server pushes
// (server-sent events, falling back to polling /api/snapshot).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let filterText = "";
  let last = null;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fmtTime(ts) {
    return new Date(ts * 1000).toLocaleTimeString();
  }

  function setCard(id, value, alert) {
    const v = $(id);
    v.textContent = value;
    v.parentElement.classList.toggle("alert", !!alert);
  }

  function matches(node) {
    if (!filterText) return true;
    if (node.path.toLowerCase().includes(filterText)) return true;
    return node.children.some(matches);
  }

  function renderNode(node) {
    const li = el("li", { "class": "actor-node" });
    const row = el("div", { "class": node.system ? "actor system" : "actor",
                            "data-path": node.path });
    row.appendChild(el("span", { "class": "name" }, node.path.split("/").pop()));
    if (node.system) {
      row.appendChild(el("span", { "class": "badge", "title": "a system actor (under /system)" },
                         "system"));
    }
    row.appendChild(el("span", { "class": "cls" }, node.actor_class || ""));
    const depth = node.mailbox_depth;
    const cls = depth >= 100 ? "depth hot" : depth > 0 ? "depth busy" : "depth";
    row.appendChild(el("span", { "class": cls, "title": "messages queued" }, String(depth)));
    row.title = node.path;
    li.appendChild(row);
    const kids = node.children.filter(matches);
    if (kids.length) {
      const ul = el("ul");
      kids.forEach((k) => ul.appendChild(renderNode(k)));
      li.appendChild(ul);
    }
    return li;
  }

  function renderTree(roots) {
    const tree = $("tree");
    tree.replaceChildren(...roots.filter(matches).map(renderNode));
  }

  function renderChart(samples) {
    const canvas = $("chart");
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 900, h = canvas.clientHeight || 160;
    canvas.width = w * ratio; canvas.height = h * ratio;
    const g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, w, h);
    const values = samples.map((s) => s.messages_per_sec);
    const dead = samples.map((s) => s.dead_letters_per_sec);
    const max = Math.max(1, ...values, ...dead);
    g.strokeStyle = "#2a323c"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = 4 + (h - 24) * i / 4;
      g.beginPath(); g.moveTo(40, y); g.lineTo(w, y); g.stroke();
    }
    g.fillStyle = "#7d8896"; g.font = "11px sans-serif";
    g.fillText(Math.round(max).toLocaleString(), 2, 12);
    g.fillText("0", 2, h - 20);
    function line(series, color) {
      if (series.length < 2) return;
      g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
      series.forEach((v, i) => {
        const x = 40 + (w - 44) * i / (series.length - 1);
        const y = 4 + (h - 24) * (1 - v / max);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    }
    line(values, "#4fb3ff");
    line(dead, "#ff5c5c");
    const now = values.length ? Math.round(values[values.length - 1]) : 0;
    g.fillStyle = "#d8dee6";
    g.fillText(`now ${now.toLocaleString()} msg/s  (red: dead letters/s)`, 44, h - 4);
  }

  function render(snap) {
    last = snap;
    const o = snap.overview;
    $("node").textContent = snap.node;
    $("system").textContent = snap.system ? `system ${snap.system}` : "no system attached";
    setCard("c-actors", o.actor_count);
    setCard("c-depth", o.mailbox_depth_total, o.mailbox_depth_total > 1000);
    setCard("c-dead", o.dead_letter_count, o.dead_letter_count > 0);
    setCard("c-members", o.cluster_member_count);
    setCard("c-unreachable", o.cluster_unreachable_count, o.cluster_unreachable_count > 0);
    setCard("c-assoc", o.remote_association_count);
    setCard("c-ddata", o.ddata_key_count);
    setCard("c-graphs", o.running_graphs);
    renderTree(snap.actors);

    $("dead").replaceChildren(...snap.dead_letters.recent.slice().reverse().map((d) => {
      const tr = el("tr");
      tr.appendChild(el("td", {}, fmtTime(d.timestamp)));
      tr.appendChild(el("td", {}, d.recipient));
      tr.appendChild(el("td", { "title": d.message }, `${d.message_type}: ${d.message}`));
      return tr;
    }));

    const c = snap.cluster;
    $("cluster-empty").hidden = c.members.length > 0;
    $("cluster-table").hidden = c.members.length === 0;
    $("members").replaceChildren(...c.members.map((m) => {
      const tr = el("tr", { "data-member": m.address });
      tr.appendChild(el("td", {}, m.address));
      tr.appendChild(el("td", {}, m.status));
      tr.appendChild(el("td", { "class": m.reachable ? "reachable" : "unreachable" },
        m.reachable ? "reachable" : "UNREACHABLE"));
      tr.appendChild(el("td", {}, m.roles.join(", ")));
      return tr;
    }));
    $("leader").textContent = c.leader ? `leader ${c.leader}` : "";

    const r = snap.remote;
    $("remote-address").textContent = r.address ? r.address : "no remote transport";
    $("associations").replaceChildren(...Object.keys(r.associations).sort().map(
      (a) => el("li", {}, `${a} (uid ${r.associations[a]})`)));

    $("ddata-empty").hidden = snap.ddata.keys.length > 0;
    $("ddata").replaceChildren(...snap.ddata.keys.map((k) => el("li", { "data-key": k }, k)));

    const regions = snap.sharding.details || [];
    $("shards-empty").hidden = regions.length > 0;
    $("shards-table").hidden = regions.length === 0;
    const rows = [];
    regions.forEach((reg) => {
      if (reg.shards.length === 0) {
        const tr = el("tr", { "data-region": reg.region }, "");
        tr.append(el("td", {}, reg.region + (reg.proxy ? " (proxy)" : "")),
          el("td", { class: "muted" }, "none"), el("td", {}, "0"));
        rows.push(tr);
      }
      reg.shards.forEach((sh) => {
        const tr = el("tr", { "data-region": reg.region, "data-shard": sh.id }, "");
        tr.append(el("td", {}, reg.region), el("td", {}, sh.id),
          el("td", { title: sh.entity_ids.join(", ") }, String(sh.entity_count)));
        rows.push(tr);
      });
    });
    $("shards").replaceChildren(...rows);

    const graphs = snap.streams.running_graphs;
    $("graphs-empty").hidden = graphs.length > 0;
    $("graphs").replaceChildren(...graphs.map((gr) => el("li", {}, `#${gr.id} ${gr.name}`)));

    renderChart(snap.throughput);
    $("updated").textContent = fmtTime(snap.generated_at);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  function live(ok) {
    const badge = $("live");
    badge.classList.toggle("stale", !ok);
    badge.textContent = ok ? "live" : "reconnecting";
  }

  let polling = null;
  function poll() {
    if (polling) return;
    polling = setInterval(() => {
      fetch("/api/snapshot").then((r) => r.json()).then((s) => { live(true); render(s); })
        .catch(() => live(false));
    }, 1000);
  }

  function connect() {
    if (!window.EventSource) { poll(); return; }
    const source = new EventSource("/api/events");
    source.addEventListener("snapshot", (e) => {
      live(true);
      render(JSON.parse(e.data));
    });
    source.onerror = () => live(false);
  }

  $("filter").addEventListener("input", (e) => {
    filterText = e.target.value.trim().toLowerCase();
    if (last) renderTree(last.actors);
  });
  connect();
})();
