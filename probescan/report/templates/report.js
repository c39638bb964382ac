/* probescan report: renders the records from the JSON blob, a page at a time.
   Every value from the records reaches the page through textContent, createTextNode,
   option.textContent or input.value: never innerHTML, never an attribute that runs code. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("probescan-data").textContent);
  var ROWS = DATA.records;
  var FLOWS = DATA.flows || [];
  var PAGE = DATA.page_size || 200;
  var PRINT_ALL = 2000;  // printing shows every filtered row up to this many, else the page
  var CERT_STEP = 100;
  var UNKNOWN_STEP = 50;

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function lc(s) { return s === null || s === undefined ? "" : String(s).toLowerCase(); }
  function each(list, f) { Array.prototype.forEach.call(list, f); }
  function fmt(n) { return n.toLocaleString("en-US"); }
  function present(p) { return p !== null && p !== undefined && p !== ""; }
  // Lookup tables without a prototype: a field or fact named "constructor" finds nothing.
  function table(o) { var m = Object.create(null); for (var k in o) m[k] = o[k]; return m; }

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

  // Text of an endpoint record for the search box (also used for a flow's probes).
  function endpointText(r, parts) {
    parts.push(r.ip, r.hostname, r.port + "/" + r.transport, r.state, r.service, r.product,
               r.version, r.info, r.host, r.os, r.device, r.method, r.error, r.origin);
    Array.prototype.push.apply(parts, r.cpe);
    Array.prototype.push.apply(parts, r.anomalies);
    if (r.tls) parts.push(r.tls.version, r.tls.cipher, r.tls.alpn, r.tls.subject, r.tls.issuer,
                          r.tls.sha256, r.tls.jarm, r.tls.sans.join(" "));
    r.evidence.concat(r.unmatched).forEach(function (e) { parts.push(e.probe, e.fingerprint, e.source, e.raw); });
    return parts;
  }
  function searchText(parts) { return lc(parts.filter(present).join("\n")); }

  ROWS.forEach(function (r, i) {
    visAll(r);
    r.ord = i;
    r.search = searchText(endpointText(r, r.tls_problems.slice()));
    r.prodkey = lc((r.product || "") + " " + (r.version || "")).trim();
    r.tlskey = r.tls ? (r.tls_problems.length ? "0" + r.tls_problems.join(",") : "1" + lc(r.tls.version)) : "2";
  });

  function addr(a) { return (a.ip.indexOf(":") >= 0 ? "[" + a.ip + "]" : a.ip) + ":" + a.port; }
  function utc(t) {  // seconds since 1970 -> "2026-06-01 12:00:03"
    if (t === null || t === undefined) return "";
    return new Date(t * 1000).toISOString().slice(0, 19).replace("T", " ");
  }
  function factValues(facts) {
    var out = [];
    for (var k in facts) {
      var v = facts[k];
      if (Array.isArray(v)) out.push(v.join(" ")); else if (present(v)) out.push(v);
    }
    return out;
  }

  FLOWS.forEach(function (f, i) {
    visAll(f);
    f.ord = i;
    f.caddr = addr(f.client);
    f.saddr = addr(f.server);
    f.first = utc(f.first_seen);
    var p = f.passive;
    var parts = [f.first, f.caddr, f.saddr, f.transport, f.service, f.product, f.version, f.info,
                 f.method, f.origin, p.fingerprint, p.source, p.as_reply_to, p.protocol,
                 p.client_raw, p.server_raw];
    parts = parts.concat(f.cpe, f.anomalies, f.conflicts, factValues(p.client), factValues(p.server));
    if (f.probes.server) endpointText(f.probes.server, parts);
    if (f.probes.client) endpointText(f.probes.client, parts);
    f.search = searchText(parts);
    f.prodkey = lc((f.product || "") + " " + (f.version || "")).trim();
  });

  // ---- query: plain words (substring) and field:value terms, all must match ---------------
  function parseQuery(q) {
    var terms = [], m, re = /([a-z0-9-]+):("[^"]*"?|\S+)|"([^"]*)"?|(\S+)/gi;
    while ((m = re.exec(q)) !== null) {
      if (m[1]) {
        var v = m[2].replace(/^"|"$/g, "");
        terms.push({ field: m[1].toLowerCase(), value: v.toLowerCase(), raw: m[0].toLowerCase(), orig: v });
      } else {
        var w = m[3] !== undefined ? m[3] : m[4];
        if (w) terms.push({ field: "", value: w.toLowerCase() });
      }
    }
    return terms;
  }

  // Services: port:, ip:/host:, product:, state: service: transport: method:, is:...
  var FIELD_EQ = table({ state: "state", service: "service", transport: "transport",
                         method: "method", proto: "transport" });

  function isEndpoint(r, what) {
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

  function matchEndpoint(r, t) {
    if (!t.field) return r.search.indexOf(t.value) >= 0;
    if (t.field === "port") return String(r.port) === t.value;
    if (t.field === "is") return isEndpoint(r, t.value);
    if (t.field === "product") return lc(r.product).indexOf(t.value) >= 0;
    if (t.field === "ip" || t.field === "host") return lc(r.ip) === t.value || lc(r.hostname) === t.value;
    if (FIELD_EQ[t.field]) return lc(r[FIELD_EQ[t.field]]) === t.value;
    return r.search.indexOf(t.raw) >= 0;  // not a field we know: plain text
  }

  // Flows: client:/server:/ip: (address, or address:port), port: (server port), sni: ua:
  // host: (contains), ja3: ja4: hassh: fingerprint: protocol: (exact), from: to: (UTC time).
  var FLOW_EQ = table({ service: "service", transport: "transport", proto: "transport", method: "method" });
  var FACT_EQ = table({ ja3: ["ja3"], ja4: ["ja4"], hassh: ["hassh", "hassh_server"], ja3s: ["ja3s"] });

  function isFlow(f, what) {
    switch (what) {
      case "unknown": return f.unknown;
      case "identified": return !f.unknown;
      case "anomaly": return f.anomalies.length > 0;
      case "conflict": return f.conflicts.length > 0;
      case "probed": return !!(f.probes.server || f.probes.client);
      case "midstream": return f.midstream === true;
      case "tls": return f.passive.protocol === "tls" || f.service === "tls" || !!f.passive.client.tls_sni;
      default: return false;
    }
  }

  function side(a, v) { return lc(a.ip) === v || lc(addr(a)) === v; }
  function when(t) {  // a from:/to: value -> milliseconds, NaN when it is not a time
    var s = t.orig.toUpperCase();
    if (/^\d{4}-\d\d-\d\d$/.test(s)) s += "T00:00:00Z";
    else if (/^\d{4}-\d\d-\d\dT[\d:.]+$/.test(s)) s += "Z";
    return Date.parse(s);
  }

  function matchFlow(f, t) {
    if (!t.field) return f.search.indexOf(t.value) >= 0;
    var c = f.passive.client;
    switch (t.field) {
      case "port": return String(f.server.port) === t.value;
      case "is": return isFlow(f, t.value);
      case "client": return side(f.client, t.value);
      case "server": return side(f.server, t.value);
      case "ip": return side(f.client, t.value) || side(f.server, t.value);
      case "product": return lc(f.product).indexOf(t.value) >= 0;
      case "sni": return lc(c.tls_sni).indexOf(t.value) >= 0;
      case "ua": return lc(c.http_user_agent).indexOf(t.value) >= 0;
      case "host": return lc(c.http_host).indexOf(t.value) >= 0 || lc(c.tls_sni).indexOf(t.value) >= 0;
      case "protocol": return lc(f.passive.protocol) === t.value;
      case "fingerprint": return lc(f.passive.fingerprint) === t.value;
      case "from": return f.first_seen !== null && f.first_seen * 1000 >= when(t);
      case "to": return f.first_seen !== null && f.first_seen * 1000 < when(t);
    }
    if (FLOW_EQ[t.field]) return lc(f[FLOW_EQ[t.field]]) === t.value;
    if (FACT_EQ[t.field]) {
      return FACT_EQ[t.field].some(function (k) {
        return lc(c[k]) === t.value || lc(f.passive.server[k]) === t.value;
      });
    }
    return f.search.indexOf(t.raw) >= 0;  // not a field we know: plain text
  }

  // ---- shared pieces of rows and evidence ----------------------------------------------------
  function tag(text, cls) { return el("span", "tag " + cls, text); }

  function kv(dl, key, value) {
    if (value === null || value === undefined || value === "" ||
        (Array.isArray(value) && value.length === 0)) return;
    dl.appendChild(el("dt", null, key));
    dl.appendChild(el("dd", "mono", Array.isArray(value) ? value.join(", ") : value));
  }

  function toggle(id) {
    var b = el("button", "tog", "+");
    b.type = "button";
    b.setAttribute("aria-expanded", "false");
    b.setAttribute("aria-controls", id);
    b.title = "evidence";
    return b;
  }

  function evidenceRow(id, cols, cell) {
    var ev = el("tr", "ev");
    ev.id = id;
    ev.hidden = true;
    cell.colSpan = cols;
    ev.appendChild(cell);
    return ev;
  }

  // The evidence of an endpoint record, appended to `box` (a services row, a flow's probe).
  function endpointEvidence(box, r) {
    r.evidence.forEach(function (e, i) {
      box.appendChild(el("h4", null, r.evidence.length > 1 ? "Evidence " + (i + 1) : "Evidence"));
      var dl = el("dl", "kv");
      kv(dl, "probe", e.probe); kv(dl, "fingerprint", e.fingerprint); kv(dl, "source", e.source);
      kv(dl, "tunnel", e.tunnel);
      box.appendChild(dl);
      box.appendChild(el("pre", "raw", e.raw || "(no bytes)"));
    });
    if (r.unmatched.length) {
      box.appendChild(el("h4", null, "Replies that matched no fingerprint"));
      r.unmatched.forEach(function (e) {
        var dl = el("dl", "kv");
        kv(dl, "probe", e.probe); kv(dl, "tunnel", e.tunnel);
        box.appendChild(dl);
        box.appendChild(el("pre", "raw", e.raw || "(no bytes)"));
      });
    }
    if (!r.evidence.length && !r.unmatched.length)
      box.appendChild(el("p", "meta", "No evidence recorded (method: " + r.method + ")."));
    var dl = el("dl", "kv");
    kv(dl, "info", r.info); kv(dl, "host", r.host); kv(dl, "os", r.os); kv(dl, "device", r.device);
    kv(dl, "cpe", r.cpe); kv(dl, "error", r.error); kv(dl, "anomalies", r.anomalies);
    kv(dl, "record", r.origin);
    if (r.tls) {
      var t = r.tls;
      kv(dl, "tls", [t.version, t.cipher, t.alpn ? "alpn " + t.alpn : null].filter(Boolean).join(" "));
      kv(dl, "subject", t.subject); kv(dl, "issuer", t.issuer); kv(dl, "sans", t.sans);
      kv(dl, "valid", (t.not_before || "?") + " .. " + (t.not_after || "?"));
      kv(dl, "serial", t.serial); kv(dl, "sha256", t.sha256); kv(dl, "JARM", t.jarm);
      kv(dl, "self-signed", t.self_signed === null ? null : String(t.self_signed));
    }
    box.appendChild(el("h4", null, "Details"));
    box.appendChild(dl);
  }

  var STATE_CLASS = table({ "open": "st-open", "closed": "st-closed", "filtered": "st-closed" });
  var PROBLEM_CLASS = table({ "expired": "bad", "expiring": "warn", "self-signed": "warn" });

  // ---- a paged, filtered, sorted table ---------------------------------------------------------
  // cfg: rows, section, table, tbody, count, noun, cols, keys (sort keys), first (the sort the
  // rows come in), selects ({id: field}), match (row, term), row (record -> [tr, evidence tr]),
  // group (optional: {on: sort key, key: record -> group, row: (record, n) -> tr}).
  function Table(cfg) {
    this.cfg = cfg;
    this.terms = [];
    this.sel = {};
    this.sort = cfg.first;
    this.dir = 1;
    this.page = 0;
    this.size = PAGE;
    this.view = cfg.rows;
    this.renders = 0;
    this.pagers = $(cfg.section).querySelectorAll(".pager");
    this.heads = $(cfg.table).querySelectorAll("th[data-sort]");
    this.query = $(cfg.query);
  }

  Table.prototype.keep = function (r) {
    var sel = this.sel, terms = this.terms, match = this.cfg.match;
    for (var f in sel) if (sel[f] && r[f] !== sel[f]) return false;
    for (var i = 0; i < terms.length; i++) if (!match(r, terms[i])) return false;
    return true;
  };

  Table.prototype.refresh = function (keepPage) {
    var self = this;
    var view = this.cfg.rows.filter(function (r) { return self.keep(r); });
    if (this.sort !== this.cfg.first || this.dir !== 1) {
      var key = this.cfg.keys[this.sort], dir = this.dir;
      var keyed = view.map(function (r) { return [key(r), r.ord, r]; });
      keyed.sort(function (a, b) {
        if (a[0] < b[0]) return -dir;
        if (a[0] > b[0]) return dir;
        return a[1] - b[1];
      });
      view = keyed.map(function (k) { return k[2]; });
    }
    this.view = view;
    if (!keepPage) this.page = 0;
    this.render();
  };

  Table.prototype.render = function () {
    var cfg = this.cfg, view = this.view, size = this.size;
    var pages = Math.max(1, Math.ceil(view.length / size));
    if (this.page >= pages) this.page = pages - 1;
    var start = this.page * size, slice = view.slice(start, start + size);
    var group = cfg.group && this.sort === cfg.group.on ? cfg.group : null;
    var perGroup = null;
    if (group) {
      perGroup = Object.create(null);
      view.forEach(function (r) { var k = group.key(r); perGroup[k] = (perGroup[k] || 0) + 1; });
    }
    var frag = document.createDocumentFragment(), last = null;
    slice.forEach(function (r) {
      if (group && group.key(r) !== last) { last = group.key(r); frag.appendChild(group.row(r, perGroup[last])); }
      var pair = cfg.row(r);
      frag.appendChild(pair[0]);
      frag.appendChild(pair[1]);
    });
    if (!slice.length) {
      var tr = el("tr", "empty"), td = el("td", null, cfg.rows.length ? "No " + cfg.noun + " match." : "No " + cfg.noun + ".");
      td.colSpan = cfg.cols;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    var tbody = $(cfg.tbody);
    tbody.textContent = "";
    tbody.appendChild(frag);
    tbody.setAttribute("data-renders", String(++this.renders));
    $(cfg.count).textContent = fmt(view.length) + " of " + fmt(cfg.rows.length) + " " + cfg.noun;
    var info = view.length
      ? "page " + (this.page + 1) + " of " + pages + " (rows " + fmt(start + 1) + "\u2013" + fmt(start + slice.length) + ")"
      : "";
    var page = this.page;
    each(this.pagers, function (p) {
      p.querySelector(".pageinfo").textContent = info;
      p.querySelector(".prev").disabled = page === 0;
      p.querySelector(".next").disabled = page >= pages - 1;
      p.hidden = pages <= 1;
    });
    var sort = this.sort, dir = this.dir;
    each(this.heads, function (th) {
      if (th.getAttribute("data-sort") === sort) th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  };

  Table.prototype.wire = function () {
    var self = this, cfg = this.cfg, timer = null;
    this.query.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.terms = parseQuery(self.query.value); self.refresh(); }, 80);
    });
    Object.keys(cfg.selects).forEach(function (id) {
      var select = $(id), field = cfg.selects[id];
      fillSelect(select, distinct(cfg.rows, function (r) { return r[field]; }));
      select.addEventListener("change", function () { self.sel[field] = this.value; self.refresh(); });
    });
    $(cfg.clear).addEventListener("click", function () { self.set(""); self.sort = cfg.first; self.dir = 1; self.refresh(); });
    each(this.heads, function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var k = th.getAttribute("data-sort");
        if (self.sort === k) self.dir = -self.dir; else { self.sort = k; self.dir = 1; }
        self.refresh();
      });
    });
    each(this.pagers, function (p) {
      p.querySelector(".prev").addEventListener("click", function () { self.page--; self.render(); });
      p.querySelector(".next").addEventListener("click", function () { self.page++; self.render(); });
    });
    $(cfg.tbody).addEventListener("click", function (ev) {
      var b = ev.target.closest ? ev.target.closest("button.tog") : null;
      if (!b) return;
      var row = $(b.getAttribute("aria-controls"));
      var open = row.hidden;
      row.hidden = !open;
      b.setAttribute("aria-expanded", open ? "true" : "false");
      b.textContent = open ? "\u2212" : "+";
    });
    this.refresh();
  };

  // Search for `q`, with no select set (the sort stays).
  Table.prototype.set = function (q) {
    var self = this;
    this.query.value = q;
    Object.keys(this.cfg.selects).forEach(function (id) { $(id).value = ""; self.sel[self.cfg.selects[id]] = ""; });
    this.terms = parseQuery(q);
  };

  // Printing: the whole filtered table (when not huge) with its evidence.
  Table.prototype.printAll = function () {
    if (this.view.length > this.size && this.view.length <= PRINT_ALL) {
      this.screen = [this.size, this.page];
      this.size = this.view.length;
      this.page = 0;
      this.render();
    }
  };
  Table.prototype.printDone = function () {
    if (this.screen) { this.size = this.screen[0]; this.page = this.screen[1]; this.screen = null; this.render(); }
  };

  function fillSelect(select, values) {
    values.forEach(function (v) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = v;
      select.appendChild(o);
    });
  }
  function distinct(rows, f) {
    var seen = Object.create(null), out = [];
    rows.forEach(function (r) { var v = f(r); if (v && !seen[v]) { seen[v] = 1; out.push(v); } });
    return out.sort();
  }

  // ---- the services table ---------------------------------------------------------------------
  var COLS = 10;

  function serviceRow(r) {
    var tr = el("tr", "rec");
    var id = "ev-" + r.ord;
    var td = el("td");
    td.appendChild(toggle(id));
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

    var cell = el("td");
    endpointEvidence(cell, r);
    return [tr, evidenceRow(id, COLS, cell)];
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

  var services = new Table({
    rows: ROWS, section: "services", table: "svc", tbody: "rows", count: "count", query: "q",
    clear: "clear", noun: "records", cols: COLS, first: "host",
    selects: { "f-state": "state", "f-service": "service" },
    match: matchEndpoint, row: serviceRow,
    group: { on: "host", key: function (r) { return r.ip; }, row: hostRow },
    keys: table({
      host: function (r) { return r.ord; },
      port: function (r) { return r.port; },
      transport: function (r) { return r.transport; },
      state: function (r) { return r.state; },
      service: function (r) { return lc(r.service) || "\uffff"; },
      product: function (r) { return r.prodkey || "\uffff"; },
      tls: function (r) { return r.tlskey; },
      confidence: function (r) { return -r.confidence; },
      method: function (r) { return r.method; }
    })
  });
  services.wire();

  // ---- the flows table ------------------------------------------------------------------------
  var FCOLS = 11;
  var FACT_NAMES = table({
    tls_sni: "SNI", tls_alpn: "ALPN", ja3: "JA3", ja4: "JA4", http_method: "HTTP method",
    http_target: "HTTP target", http_host: "HTTP host", http_user_agent: "User-Agent",
    ssh_ident: "SSH ident", hassh: "HASSH", hassh_server: "HASSH (server)", dns_query: "DNS query",
    dns_type: "DNS type", dns_rcode: "DNS rcode", tls_version: "TLS version", ja3s: "JA3S",
    tls_alpn_selected: "ALPN selected", cert_subject: "certificate subject",
    cert_issuer: "certificate issuer", cert_sans: "certificate names",
    cert_not_after: "certificate not after", cert_sha256: "certificate sha256",
    cert_self_signed: "self-signed", http_status: "HTTP status", http_server: "HTTP Server"
  });

  function factList(box, title, facts) {
    var dl = el("dl", "kv"), n = 0;
    for (var k in facts) {
      var v = facts[k];
      if (!present(v) || (Array.isArray(v) && !v.length)) continue;
      kv(dl, FACT_NAMES[k] || k, v);
      n++;
    }
    if (!n) return;
    box.appendChild(el("h4", null, title));
    box.appendChild(dl);
  }

  function count(c) {
    return c.c2s === null && c.s2c === null ? null
      : (c.c2s === null ? "?" : fmt(c.c2s)) + " client\u2192server, " + (c.s2c === null ? "?" : fmt(c.s2c)) + " server\u2192client";
  }

  function probeBox(box, title, r) {
    var div = el("div", "probe");
    div.appendChild(el("h4", null, title + ": " + r.ip + ":" + r.port + "/" + r.transport));
    var label = [r.state, r.service, r.product, r.version].filter(Boolean).join(" ");
    div.appendChild(el("p", null, label + " \u00b7 confidence " + r.confidence + " \u00b7 " + r.method));
    endpointEvidence(div, r);
    box.appendChild(div);
  }

  // ---- a flow's behaviour (probescan/classify): its sizes beside its profile's ---------------
  // SIZE_BINS of probescan/classify/features.py: lower edges of the size histograms
  var SIZE_LABELS = ["0", "32", "64", "128", "256", "512", "1024", "1400+"];
  // the SVG namespace (a name, never fetched), spelt so that no URL appears in the page
  var SVG = ["http:", "", "www.w3.org", "2000", "svg"].join("/");

  function svgEl(name, attrs) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function shares(counts) {
    var total = 0;
    (counts || []).forEach(function (n) { total += n; });
    return SIZE_LABELS.map(function (_, i) { return total ? (counts[i] || 0) / total : 0; });
  }

  // One direction: the flow's share of packets per size bin (dark) beside the profile's
  // (light), with a title on each bar that says both.
  function sizeChart(title, flow, profile, name) {
    var W = 300, H = 90, B = SIZE_LABELS.length, bw = (W - 10) / B;
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + (H + 30), width: W, height: H + 30,
                             role: "img", "aria-label": title });
    var f = shares(flow), pr = profile ? shares(profile) : null;
    for (var i = 0; i < B; i++) {
      var x = 5 + i * bw;
      var g = svgEl("g", {});
      var t = svgEl("title", {});
      t.textContent = SIZE_LABELS[i] + " bytes: this flow " + Math.round(100 * f[i]) + "%" +
        (pr ? ", " + name + " profile " + Math.round(100 * pr[i]) + "%" : "");
      g.appendChild(t);
      var h = f[i] * H;
      g.appendChild(svgEl("rect", { x: x + 2, y: H - h, width: pr ? bw / 2 - 2 : bw - 4,
                                    height: Math.max(h, 0.5), "class": "flowbar" }));
      if (pr) {
        var h2 = pr[i] * H;
        g.appendChild(svgEl("rect", { x: x + bw / 2, y: H - h2, width: bw / 2 - 2,
                                      height: Math.max(h2, 0.5), "class": "profbar" }));
      }
      var lab = svgEl("text", { x: x + bw / 2, y: H + 12, "text-anchor": "middle" });
      lab.textContent = SIZE_LABELS[i];
      g.appendChild(lab);
      svg.appendChild(g);
    }
    var cap = svgEl("text", { x: 5, y: H + 27 });
    cap.textContent = title;
    svg.appendChild(cap);
    return svg;
  }

  function behaviourBox(td, f) {
    var b = f.behaviour, s = b.statistical, sig = b.signature;
    if (!b["class"] && !b.sizes.length && !sig) return;
    td.appendChild(el("h4", null, "Behaviour"));
    var dl = el("dl", "kv");
    kv(dl, "class", b["class"]);
    kv(dl, "first payload sizes", b.sizes.length ? b.sizes.map(function (n) {
      return (n > 0 ? "+" : "") + n; }).join(" ") + "  (+ client, \u2212 server)" : null);
    if (sig) {
      kv(dl, "behaviour signature", sig.name + ": " + sig.service + " (confidence " +
         sig.confidence + ")");
      kv(dl, "from the specification", sig.spec);
    }
    if (s) {
      var pct = function (x) { return Math.round(100 * x) + "%"; };
      kv(dl, "profile voted", s.profile + (s.named ? " (names the flow)" : " (names nothing: " + s.why + ")"));
      kv(dl, "votes", pct(s.score) + " of the profiles' trees (" + pct(s.min_score) + " needed); " +
         pct(s.other_score) + " for protocols without a profile" +
         (s.pooled ? "; pooled with " + s.pooled + " earlier flow(s) of this server endpoint" : ""));
      kv(dl, "runner-up", s.runner_up === null ? null : s.runner_up + " " + pct(s.runner_up_score));
      kv(dl, "beyond its profile's ranges", s.outside.length ?
         s.outside.join(", ") + " (" + s.beyond + " in all)" : null);
      kv(dl, "profile", s.profile_flows + " flow(s) from " + s.profile_captures + " capture(s); like " +
         s.example.map(function (n) { return (n > 0 ? "+" : "") + n; }).join(" "));
    }
    td.appendChild(dl);
    if (!b.sizes.length) return;
    var charts = el("div", "sizes");
    charts.appendChild(sizeChart("client \u2192 server sizes", b.c2s, s && s.c2s, s && s.profile));
    charts.appendChild(sizeChart("server \u2192 client sizes", b.s2c, s && s.s2c, s && s.profile));
    if (s) {
      var key = el("p", "meta");
      key.appendChild(el("span", "swatch flowbar-key", "\u25a0"));
      key.appendChild(document.createTextNode(" this flow  "));
      key.appendChild(el("span", "swatch profbar-key", "\u25a0"));
      key.appendChild(document.createTextNode(" profile of " + s.profile));
      charts.appendChild(key);
    }
    td.appendChild(charts);
  }

  function flowEvidence(f) {
    var td = el("td"), p = f.passive;
    td.appendChild(el("h4", null, "Passive evidence"));
    var dl = el("dl", "kv");
    kv(dl, "fingerprint", p.fingerprint); kv(dl, "source", p.source);
    kv(dl, "as reply to", p.as_reply_to); kv(dl, "protocol", p.protocol);
    if (!dl.childNodes.length) td.appendChild(el("p", "meta", "Nothing recognised in the bytes on the wire."));
    td.appendChild(dl);
    behaviourBox(td, f);
    factList(td, "Client facts", p.client);
    factList(td, "Server facts", p.server);
    td.appendChild(el("h4", null, "Client's first bytes"));
    td.appendChild(el("pre", "raw", p.client_raw || "(no bytes)"));
    td.appendChild(el("h4", null, "Server's first bytes"));
    td.appendChild(el("pre", "raw", p.server_raw || "(no bytes)"));
    if (f.probes.server) probeBox(td, "Probe of the server", f.probes.server);
    if (f.probes.client) probeBox(td, "Probe of the client", f.probes.client);
    if (!f.probes.server && !f.probes.client)
      td.appendChild(el("p", "meta", f.probes.queued.length ? "Probe queued (" + f.probes.queued.join(", ") + "), no result recorded." : "Not probed."));
    dl = el("dl", "kv");
    kv(dl, "flow", f.id === null ? null : "#" + f.id);
    kv(dl, "first seen", f.first ? f.first + " UTC" : null);
    kv(dl, "last seen", f.last_seen === null ? null : utc(f.last_seen) + " UTC");
    kv(dl, "roles", f.roles === null ? null : f.roles + (f.midstream ? " (seen mid-stream)" : ""));
    kv(dl, "vlan", f.vlan === null ? null : String(f.vlan));
    kv(dl, "packets", count(f.packets)); kv(dl, "bytes", count(f.bytes));
    kv(dl, "info", f.info); kv(dl, "cpe", f.cpe);
    kv(dl, "decided by", f.decided_by);
    kv(dl, "anomalies", f.anomalies); kv(dl, "conflicts", f.conflicts);
    kv(dl, "record", f.origin);
    td.appendChild(el("h4", null, "Flow"));
    td.appendChild(dl);
    return td;
  }

  function notes(list) {
    var td = el("td");
    list.forEach(function (text) { td.appendChild(el("span", "note", text)); });
    return td;
  }

  function flowRow(f) {
    var tr = el("tr", "rec");
    var id = "fev-" + f.ord;
    var td = el("td");
    td.appendChild(toggle(id));
    tr.appendChild(td);
    tr.appendChild(el("td", "mono nw", f.first));
    tr.appendChild(el("td", "mono nw", f.caddr));
    tr.appendChild(el("td", "mono nw", f.saddr));
    tr.appendChild(el("td", "nw", f.transport));
    td = el("td", null, f.service || "");
    if (f.unknown) { td.textContent = ""; td.appendChild(tag(f.service || "unknown", "warn")); }
    if (f.passive.protocol && f.passive.protocol !== f.service) {
      td.appendChild(document.createTextNode(" "));
      td.appendChild(tag(f.passive.protocol, "ok"));
    }
    tr.appendChild(td);
    td = el("td", null, [f.product, f.version].filter(Boolean).join(" "));
    if (f.info) { td.appendChild(document.createTextNode(" ")); td.appendChild(el("span", "meta", f.info)); }
    tr.appendChild(td);
    tr.appendChild(el("td", "num nw", f.confidence));
    var byBehaviour = f.method === "statistical" || f.method === "signature";
    td = el("td", "nw", byBehaviour ? "" : f.method);
    // a name from sizes, timing or addresses only: never as sure as one read in the payload
    if (byBehaviour) td.appendChild(tag(f.method, "stat"));
    tr.appendChild(td);
    tr.appendChild(notes(f.anomalies));
    tr.appendChild(notes(f.conflicts));
    return [tr, evidenceRow(id, FCOLS, flowEvidence(f))];
  }

  var flows = null;
  if (FLOWS.length && $("flows")) {
    flows = new Table({
      rows: FLOWS, section: "flows", table: "flw", tbody: "flow-rows", count: "fcount", query: "fq",
      clear: "fclear", noun: "flows", cols: FCOLS, first: "first",
      selects: { "f-fservice": "service", "f-fmethod": "method" },
      match: matchFlow, row: flowRow,
      keys: table({
        first: function (f) { return f.ord; },
        client: function (f) { return f.cord; },
        server: function (f) { return f.sord; },
        transport: function (f) { return f.transport; },
        service: function (f) { return lc(f.service) || "\uffff"; },
        product: function (f) { return f.prodkey || "\uffff"; },
        confidence: function (f) { return -f.confidence; },
        method: function (f) { return f.method; },
        anomalies: function (f) { return -f.anomalies.length; },
        conflicts: function (f) { return -f.conflicts.length; }
      })
    });
    flows.wire();
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

  // ---- cards, chart bars, timeline bars, legend entries: set a search -------------------------
  function applyQuery(q, target) {
    var scrollTo = "services";
    if (target === "flows" && flows) {
      flows.set(q); flows.refresh(); scrollTo = "flows";
    } else if (target === "both") {
      services.set(q); services.refresh();
      if (flows) {
        flows.set(q); flows.refresh();
        if (!services.view.length && flows.view.length) scrollTo = "flows";
      }
    } else {
      services.set(q); services.refresh();
    }
    $(scrollTo).scrollIntoView();
  }
  each(document.querySelectorAll("[data-query]"), function (node) {
    function go() { applyQuery(node.getAttribute("data-query"), node.getAttribute("data-target")); }
    node.addEventListener("click", go);
    node.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && node.tagName.toLowerCase() === "g") go();
    });
  });

  var allCerts = stepList(ROWS.filter(function (r) { return r.tls_problems.length > 0; }), CERT_STEP,
                          $("cert-rows"), $("certs-more"), $("certs-count"), certRow);
  var allUnknown = stepList(ROWS.filter(function (r) { return r.unknown; }), UNKNOWN_STEP,
                            $("unknown-list"), $("unknown-more"), $("unknown-count"), unknownBlock);

  // Printing: the whole filtered tables (when not huge) with their evidence, every list entry.
  window.addEventListener("beforeprint", function () {
    allCerts(); allUnknown();
    services.printAll();
    if (flows) flows.printAll();
  });
  window.addEventListener("afterprint", function () {
    services.printDone();
    if (flows) flows.printDone();
  });
  document.documentElement.setAttribute("data-ready", "1");
  window.probescanReadyMs = performance.now();
})();
