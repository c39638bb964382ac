/* probescan report: renders the records from the JSON blob, a page at a time.
   Every value from the records reaches the page through textContent, createTextNode,
   option.textContent or input.value: never innerHTML, never an attribute that runs code. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("probescan-data").textContent);
  var ROWS = DATA.records;
  var PAGE = DATA.page_size || 200;
  var PRINT_ALL = 2000;  // printing shows every filtered row up to this many, else the page
  var CERT_STEP = 100;
  var UNKNOWN_STEP = 50;
  var COLS = 10;

  var st = { query: "", terms: [], state: "", service: "", sort: "host", dir: 1, page: 0, view: ROWS };

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function lc(s) { return s === null || s === undefined ? "" : String(s).toLowerCase(); }

  // ---- derived fields, once -------------------------------------------------------------
  // Control and bidi characters shown as \xNN / \u{NNNN}, as the server side does, so a
  // banner can neither hide text nor reorder it.
  var UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  function hex(n, w) { var h = n.toString(16); while (h.length < w) h = "0" + h; return h; }
  function vis(s) {
    if (typeof s !== "string") return s;
    return s.replace(UNPRINTABLE, function (c) {
      var n = c.charCodeAt(0);
      return n < 256 ? "\\x" + hex(n, 2) : "\\u{" + hex(n, 4) + "}";
    });
  }
  function visAll(o) {
    for (var k in o) {
      var v = o[k];
      if (typeof v === "string") o[k] = vis(v);
      else if (v !== null && typeof v === "object") visAll(v);
    }
  }

  ROWS.forEach(function (r, i) {
    visAll(r);
    r.ord = i;
    var parts = [r.ip, r.hostname, r.port + "/" + r.transport, r.state, r.service, r.product,
                 r.version, r.info, r.host, r.os, r.device, r.method, r.error, r.origin];
    parts = parts.concat(r.cpe, r.anomalies, r.tls_problems);
    if (r.tls) parts.push(r.tls.version, r.tls.cipher, r.tls.alpn, r.tls.subject, r.tls.issuer,
                          r.tls.sha256, r.tls.sans.join(" "));
    r.evidence.concat(r.unmatched).forEach(function (e) { parts.push(e.probe, e.fingerprint, e.source, e.raw); });
    r.search = lc(parts.filter(function (p) { return p !== null && p !== undefined; }).join("\n"));
    r.prodkey = lc((r.product || "") + " " + (r.version || "")).trim();
    r.tlskey = r.tls ? (r.tls_problems.length ? "0" + r.tls_problems.join(",") : "1" + lc(r.tls.version)) : "2";
  });

  // ---- query: plain words (substring) and field:value terms, all must match ---------------
  var FIELD_EQ = { state: "state", service: "service", transport: "transport", method: "method",
                   proto: "transport" };
  function parseQuery(q) {
    var terms = [], m, re = /([a-z-]+):("[^"]*"?|\S+)|"([^"]*)"?|(\S+)/gi;
    while ((m = re.exec(q)) !== null) {
      if (m[1]) {
        var v = m[2].replace(/^"|"$/g, "");
        terms.push({ field: m[1].toLowerCase(), value: v.toLowerCase(), raw: m[0].toLowerCase() });
      } else {
        var w = m[3] !== undefined ? m[3] : m[4];
        if (w) terms.push({ field: "", value: w.toLowerCase() });
      }
    }
    return terms;
  }

  function is(r, what) {
    switch (what) {
      case "unknown": return r.unknown;
      case "identified": return r.state === "open" && !!r.service && !r.unknown;
      case "tls": return !!r.tls;
      case "expired": case "expiring": case "self-signed": return r.tls_problems.indexOf(what) >= 0;
      case "tls-problem": return r.tls_problems.length > 0;
      case "error": return !!r.error;
      case "anomaly": return r.anomalies.length > 0;
      case "open": return r.state === "open";
      default: return false;
    }
  }

  function matchTerm(r, t) {
    if (!t.field) return r.search.indexOf(t.value) >= 0;
    if (t.field === "port") return String(r.port) === t.value;
    if (t.field === "is") return is(r, t.value);
    if (t.field === "product") return lc(r.product).indexOf(t.value) >= 0;
    if (t.field === "ip" || t.field === "host") return lc(r.ip) === t.value || lc(r.hostname) === t.value;
    if (FIELD_EQ[t.field]) return lc(r[FIELD_EQ[t.field]]) === t.value;
    return r.search.indexOf(t.raw) >= 0;  // not a field we know: plain text
  }

  function keep(r) {
    if (st.state && r.state !== st.state) return false;
    if (st.service && r.service !== st.service) return false;
    for (var i = 0; i < st.terms.length; i++) if (!matchTerm(r, st.terms[i])) return false;
    return true;
  }

  // ---- sorting ------------------------------------------------------------------------------
  var KEYS = {
    host: function (r) { return r.ord; },
    port: function (r) { return r.port; },
    transport: function (r) { return r.transport; },
    state: function (r) { return r.state; },
    service: function (r) { return lc(r.service) || "\uffff"; },
    product: function (r) { return r.prodkey || "\uffff"; },
    tls: function (r) { return r.tlskey; },
    confidence: function (r) { return -r.confidence; },
    method: function (r) { return r.method; }
  };

  function refresh(keepPage) {
    var view = ROWS.filter(keep);
    if (st.sort !== "host" || st.dir !== 1) {
      var key = KEYS[st.sort], dir = st.dir;
      var keyed = view.map(function (r) { return [key(r), r.ord, r]; });
      keyed.sort(function (a, b) {
        if (a[0] < b[0]) return -dir;
        if (a[0] > b[0]) return dir;
        return a[1] - b[1];
      });
      view = keyed.map(function (k) { return k[2]; });
    }
    st.view = view;
    if (!keepPage) st.page = 0;
    render();
  }

  // ---- the services table ---------------------------------------------------------------------
  function tag(text, cls) { return el("span", "tag " + cls, text); }

  function kv(dl, key, value) {
    if (value === null || value === undefined || value === "" ||
        (Array.isArray(value) && value.length === 0)) return;
    dl.appendChild(el("dt", null, key));
    dl.appendChild(el("dd", "mono", Array.isArray(value) ? value.join(", ") : value));
  }

  function evidenceCell(r) {
    var td = el("td");
    td.colSpan = COLS;
    r.evidence.forEach(function (e, i) {
      td.appendChild(el("h4", null, r.evidence.length > 1 ? "Evidence " + (i + 1) : "Evidence"));
      var dl = el("dl", "kv");
      kv(dl, "probe", e.probe); kv(dl, "fingerprint", e.fingerprint); kv(dl, "source", e.source);
      kv(dl, "tunnel", e.tunnel);
      td.appendChild(dl);
      td.appendChild(el("pre", "raw", e.raw || "(no bytes)"));
    });
    if (r.unmatched.length) {
      td.appendChild(el("h4", null, "Replies that matched no fingerprint"));
      r.unmatched.forEach(function (e) {
        var dl = el("dl", "kv");
        kv(dl, "probe", e.probe); kv(dl, "tunnel", e.tunnel);
        td.appendChild(dl);
        td.appendChild(el("pre", "raw", e.raw || "(no bytes)"));
      });
    }
    if (!r.evidence.length && !r.unmatched.length)
      td.appendChild(el("p", "meta", "No evidence recorded (method: " + r.method + ")."));
    var dl = el("dl", "kv");
    kv(dl, "info", r.info); kv(dl, "host", r.host); kv(dl, "os", r.os); kv(dl, "device", r.device);
    kv(dl, "cpe", r.cpe); kv(dl, "error", r.error); kv(dl, "anomalies", r.anomalies);
    kv(dl, "record", r.origin);
    if (r.tls) {
      var t = r.tls;
      kv(dl, "tls", [t.version, t.cipher, t.alpn ? "alpn " + t.alpn : null].filter(Boolean).join(" "));
      kv(dl, "subject", t.subject); kv(dl, "issuer", t.issuer); kv(dl, "sans", t.sans);
      kv(dl, "valid", (t.not_before || "?") + " .. " + (t.not_after || "?"));
      kv(dl, "serial", t.serial); kv(dl, "sha256", t.sha256);
      kv(dl, "self-signed", t.self_signed === null ? null : String(t.self_signed));
    }
    td.appendChild(el("h4", null, "Details"));
    td.appendChild(dl);
    return td;
  }

  var STATE_CLASS = { "open": "st-open", "closed": "st-closed", "filtered": "st-closed" };
  var PROBLEM_CLASS = { "expired": "bad", "expiring": "warn", "self-signed": "warn" };

  function dataRow(r) {
    var tr = el("tr", "rec");
    var id = "ev-" + r.ord;
    var td = el("td");
    var b = el("button", "tog", "+");
    b.type = "button";
    b.setAttribute("aria-expanded", "false");
    b.setAttribute("aria-controls", id);
    b.title = "evidence";
    td.appendChild(b);
    tr.appendChild(td);

    td = el("td", "mono nw", r.ip);
    if (r.hostname) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "meta", r.hostname)); }
    tr.appendChild(td);
    tr.appendChild(el("td", "num nw", r.port));
    tr.appendChild(el("td", "nw", r.transport));
    tr.appendChild(el("td", "nw " + (STATE_CLASS[r.state] || ""), r.state));
    td = el("td", null, r.service || "");
    if (r.unknown) { td.textContent = ""; td.appendChild(tag(r.service || "unknown", "warn")); }
    if (r.tunnel) { td.appendChild(document.createTextNode(" ")); td.appendChild(tag(r.tunnel, "ok")); }
    tr.appendChild(td);
    td = el("td", null, [r.product, r.version].filter(Boolean).join(" "));
    if (r.info) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "meta", r.info)); }
    tr.appendChild(td);
    td = el("td");
    if (r.tls) {
      td.appendChild(document.createTextNode((r.tls.version || "tls") + " "));
      r.tls_problems.forEach(function (p) { td.appendChild(tag(p, PROBLEM_CLASS[p] || "warn")); });
    }
    tr.appendChild(td);
    tr.appendChild(el("td", "num nw", r.confidence));
    td = el("td", "nw", r.method);
    if (r.anomalies.length) { td.appendChild(document.createTextNode(" ")); td.appendChild(tag("anomaly", "warn")); }
    if (r.error) { td.appendChild(document.createTextNode(" ")); td.appendChild(tag("error", "warn")); }
    tr.appendChild(td);

    var ev = el("tr", "ev");
    ev.id = id;
    ev.hidden = true;
    ev.appendChild(evidenceCell(r));
    return [tr, ev];
  }

  function hostRow(r, n) {
    var tr = el("tr", "hosthdr");
    var th = el("th", "mono", r.ip);
    th.colSpan = COLS;
    th.scope = "rowgroup";
    var meta = el("span", "meta", (r.hostname ? r.hostname + " \u00b7 " : "") + n + (n === 1 ? " port" : " ports"));
    th.appendChild(document.createTextNode(" "));
    th.appendChild(meta);
    tr.appendChild(th);
    return tr;
  }

  function fmt(n) { return n.toLocaleString("en-US"); }

  var renders = 0;

  function render() {
    var view = st.view, pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (st.page >= pages) st.page = pages - 1;
    var start = st.page * PAGE, slice = view.slice(start, start + PAGE);
    var grouped = st.sort === "host";
    var perHost = null;
    if (grouped) {
      perHost = Object.create(null);
      view.forEach(function (r) { perHost[r.ip] = (perHost[r.ip] || 0) + 1; });
    }
    var frag = document.createDocumentFragment(), last = null;
    slice.forEach(function (r) {
      if (grouped && r.ip !== last) { frag.appendChild(hostRow(r, perHost[r.ip])); last = r.ip; }
      var pair = dataRow(r);
      frag.appendChild(pair[0]);
      frag.appendChild(pair[1]);
    });
    if (!slice.length) {
      var tr = el("tr", "empty"), td = el("td", null, ROWS.length ? "No record matches." : "No records.");
      td.colSpan = COLS;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    var tbody = $("rows");
    tbody.textContent = "";
    tbody.appendChild(frag);
    tbody.setAttribute("data-renders", String(++renders));
    $("count").textContent = fmt(view.length) + " of " + fmt(ROWS.length) + " records";
    var info = view.length
      ? "page " + (st.page + 1) + " of " + pages + " (rows " + fmt(start + 1) + "\u2013" + fmt(start + slice.length) + ")"
      : "";
    Array.prototype.forEach.call(document.querySelectorAll(".pager"), function (p) {
      p.querySelector(".pageinfo").textContent = info;
      p.querySelector(".prev").disabled = st.page === 0;
      p.querySelector(".next").disabled = st.page >= pages - 1;
      p.hidden = pages <= 1;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#svc th[data-sort]"), function (th) {
      var k = th.getAttribute("data-sort");
      if (k === st.sort) th.setAttribute("aria-sort", st.dir === 1 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }

  // ---- lists shown a step at a time: certificates, unknown services --------------------------
  function stepList(items, step, container, button, counter, make) {
    var shown = 0;
    function more() {
      var frag = document.createDocumentFragment();
      items.slice(shown, shown + step).forEach(function (r) { frag.appendChild(make(r)); });
      container.appendChild(frag);
      shown = Math.min(items.length, shown + step);
      button.hidden = shown >= items.length;
      counter.textContent = items.length ? "showing " + fmt(shown) + " of " + fmt(items.length) : "none";
    }
    button.addEventListener("click", more);
    more();
    return function showAll() { if (items.length <= PRINT_ALL) while (shown < items.length) more(); };
  }

  function endpoint(r) { return (r.ip.indexOf(":") >= 0 ? "[" + r.ip + "]" : r.ip) + ":" + r.port + "/" + r.transport; }

  function certRow(r) {
    var tr = el("tr");
    var td = el("td", "mono nw", endpoint(r));
    tr.appendChild(td);
    td = el("td");
    r.tls_problems.forEach(function (p) { td.appendChild(tag(p, PROBLEM_CLASS[p] || "warn")); });
    tr.appendChild(td);
    tr.appendChild(el("td", null, r.tls.subject));
    tr.appendChild(el("td", null, r.tls.issuer));
    tr.appendChild(el("td", "mono", r.tls.not_after));
    tr.appendChild(el("td", "mono", r.tls.sha256 ? r.tls.sha256.slice(0, 16) + "\u2026" : ""));
    return tr;
  }

  function unknownBlock(r) {
    var div = el("div", "unk");
    var h = el("h3", "mono", endpoint(r));
    var extra = [r.hostname, r.tunnel ? "inside " + r.tunnel : null, r.error].filter(Boolean).join(" \u00b7 ");
    if (extra) { h.appendChild(document.createTextNode(" ")); h.appendChild(el("span", "meta", extra)); }
    div.appendChild(h);
    if (!r.unmatched.length) div.appendChild(el("p", "meta", "No reply: not a byte came back to any probe."));
    r.unmatched.forEach(function (e) {
      div.appendChild(el("div", "meta", "probe " + e.probe + (e.tunnel ? " (inside " + e.tunnel + ")" : "")));
      div.appendChild(el("pre", "raw", e.raw || "(no bytes)"));
    });
    return div;
  }

  // ---- wiring ---------------------------------------------------------------------------------
  function fillSelect(select, values) {
    values.forEach(function (v) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = v;
      select.appendChild(o);
    });
  }
  function distinct(f) {
    var seen = Object.create(null), out = [];
    ROWS.forEach(function (r) { var v = f(r); if (v && !seen[v]) { seen[v] = 1; out.push(v); } });
    return out.sort();
  }
  fillSelect($("f-state"), distinct(function (r) { return r.state; }));
  fillSelect($("f-service"), distinct(function (r) { return r.service; }));

  var timer = null;
  $("q").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { st.terms = parseQuery($("q").value); refresh(); }, 80);
  });
  $("f-state").addEventListener("change", function () { st.state = this.value; refresh(); });
  $("f-service").addEventListener("change", function () { st.service = this.value; refresh(); });
  $("clear").addEventListener("click", function () {
    $("q").value = ""; $("f-state").value = ""; $("f-service").value = "";
    st.terms = []; st.state = ""; st.service = ""; st.sort = "host"; st.dir = 1;
    refresh();
  });
  Array.prototype.forEach.call(document.querySelectorAll("#svc th[data-sort] button"), function (b) {
    b.addEventListener("click", function () {
      var k = b.parentNode.getAttribute("data-sort");
      if (st.sort === k) st.dir = -st.dir; else { st.sort = k; st.dir = 1; }
      refresh();
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".pager"), function (p) {
    p.querySelector(".prev").addEventListener("click", function () { st.page--; render(); });
    p.querySelector(".next").addEventListener("click", function () { st.page++; render(); });
  });
  $("rows").addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button.tog") : null;
    if (!b) return;
    var row = $(b.getAttribute("aria-controls"));
    var open = row.hidden;
    row.hidden = !open;
    b.setAttribute("aria-expanded", open ? "true" : "false");
    b.textContent = open ? "\u2212" : "+";
  });
  function applyQuery(q) {
    $("q").value = q;
    $("f-state").value = ""; $("f-service").value = ""; st.state = ""; st.service = "";
    st.terms = parseQuery(q);
    refresh();
    $("services").scrollIntoView();
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-query]"), function (node) {
    node.addEventListener("click", function () { applyQuery(node.getAttribute("data-query")); });
    node.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && node.tagName.toLowerCase() === "g") applyQuery(node.getAttribute("data-query"));
    });
  });

  refresh();
  var allCerts = stepList(ROWS.filter(function (r) { return r.tls_problems.length > 0; }), CERT_STEP,
                          $("cert-rows"), $("certs-more"), $("certs-count"), certRow);
  var allUnknown = stepList(ROWS.filter(function (r) { return r.unknown; }), UNKNOWN_STEP,
                            $("unknown-list"), $("unknown-more"), $("unknown-count"), unknownBlock);

  // Printing: the whole filtered table (when not huge) with its evidence, every list entry.
  var screenPage = PAGE, screenIndex = 0;
  window.addEventListener("beforeprint", function () {
    allCerts(); allUnknown();
    if (st.view.length > PAGE && st.view.length <= PRINT_ALL) {
      screenPage = PAGE; screenIndex = st.page;
      PAGE = st.view.length; st.page = 0;
      render();
    }
  });
  window.addEventListener("afterprint", function () {
    if (PAGE !== screenPage) { PAGE = screenPage; st.page = screenIndex; render(); }
  });
  document.documentElement.setAttribute("data-ready", "1");
  window.probescanReadyMs = performance.now();
})();
