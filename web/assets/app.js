// provaudit dashboard: one page, vanilla JS, no build step.
// Every string that came off the wire is put into the page as a text node
// (el() children, textContent) or a setAttribute value we built; never as HTML;
// and its invisible characters (bidi overrides, zero-width...) shown, marked.
'use strict';

(() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const CLASSES = ['individualized', 'generic', 'none', 'unknown'];
  const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  const POLL_MS = 3000;
  const view = document.getElementById('view');
  const live = document.getElementById('live');
  const liveText = document.getElementById('live-text');
  let lastChange = null;
  let leftOut = 0; // sightings left out by --max-sightings, from /api/change (a change re-renders)
  let catalogue = null; // finding code -> {title, meaning, action}
  let renderSeq = 0;
  let lastPage = null;

  // ---- DOM helpers --------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (k === 'title' || k === 'aria-label') node.setAttribute(k, escapeInvisible(String(v)));
      else node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      if (c instanceof Node) node.appendChild(c);
      else if (node.namespaceURI === SVG_NS) node.appendChild(document.createTextNode(escapeInvisible(String(c))));
      else append(node, markInvisible(String(c)));
    }
  }

  // Characters that change how the text around them reads without being seen themselves:
  // bidi embeddings, overrides and isolates (U+202A–202E, U+2066–2069: "\u202Egnp.lave" reads
  // "eval.png"), bidi marks (U+200E, U+200F, U+061C), zero-width characters (U+200B–200D, U+2060,
  // U+FEFF) and the other format characters (\p{Cf}: soft hyphen, tags…), controls, line and
  // paragraph separators, fillers and variation selectors. A device chooses its text: every string
  // put into the page shows each of them as a marked <U+XXXX> (as Wireshark shows \u202e), so what
  // is read is what was sent. The page's own strings hold none.
  const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u3164\uFE00-\uFE0F\uFFA0\u{E0100}-\u{E01EF}]/u;
  const INVISIBLE_ALL = new RegExp(INVISIBLE.source, 'gu');
  const INVISIBLE_NAMES = {
    0x200B: 'zero width space', 0x200C: 'zero width non-joiner', 0x200D: 'zero width joiner',
    0x200E: 'left-to-right mark', 0x200F: 'right-to-left mark', 0x061C: 'Arabic letter mark',
    0x202A: 'left-to-right embedding', 0x202B: 'right-to-left embedding', 0x202C: 'pop directional formatting',
    0x202D: 'left-to-right override', 0x202E: 'right-to-left override', 0x2060: 'word joiner',
    0x2066: 'left-to-right isolate', 0x2067: 'right-to-left isolate', 0x2068: 'first strong isolate',
    0x2069: 'pop directional isolate', 0xFEFF: 'zero width no-break space (BOM)', 0x00AD: 'soft hyphen',
  };
  const codePoint = (ch) => 'U+' + ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
  // For attributes, option labels and SVG text: the escape as plain text.
  const escapeInvisible = (text) => text.replace(INVISIBLE_ALL, (ch) => `<${codePoint(ch)}>`);
  // For the page: text nodes, each invisible character a marked span between them.
  function markInvisible(text) {
    if (!INVISIBLE.test(text)) return [document.createTextNode(text)];
    const out = [];
    let at = 0;
    for (const m of text.matchAll(INVISIBLE_ALL)) {
      if (m.index > at) out.push(document.createTextNode(text.slice(at, m.index)));
      const name = INVISIBLE_NAMES[m[0].codePointAt(0)];
      out.push(el('span', { class: 'invisible', 'data-invisible': codePoint(m[0]), title: `${codePoint(m[0])}${name ? ' ' + name : ''}: an invisible character in the text as sent` }, `<${codePoint(m[0])}>`));
      at = m.index + m[0].length;
    }
    if (at < text.length) out.push(document.createTextNode(text.slice(at)));
    return out;
  }
  const fmt = new Intl.NumberFormat();
  const num = (n) => fmt.format(Number(n || 0));
  // "1 device", "2 devices": a count and its noun, plural unless exactly one.
  const count = (n, noun) => `${num(n)} ${noun}${Number(n) === 1 ? '' : 's'}`;

  // What an anomaly means for the audit, by name (the first pattern that
  // matches). `lost`: evidence may be missing because of it, so a device can
  // be unknown, or absent, for reasons the capture holds.
  const ANOMALY_MEANINGS = [
    [/^snaplen_truncated$/, true, "packets cut short by the capture's snap length: handshakes and requests in them are read as gaps (capture with tcpdump -s 0)"],
    [/^tcp_gap_in_handshake$/, true, 'bytes of a TLS handshake were not captured (loss at the mirror port or the sensor, or the snap length): its device is unknown, reason handshake-gap'],
    [/^tls_handshake_start_not_captured$/, true, 'a connection picked up in the middle of its handshake (the sensor started, or the capture file began, after its ClientHello): what came after was read, marked as a gap'],
    [/^tcp_(buffer|buffer_total|out_of_order)_limit$/, true, 'out-of-order data past the reassembly limits: the flow went on after the first hole, read as a gap'],
    [/^tcp_overlap_conflict$/, false, 'a retransmission whose bytes differ from the first copy: the first copy was kept'],
    [/^tcp_rst_out_of_window$/, false, "a RST whose sequence number lies outside the connection's window (stray, or a blind reset attempt): ignored, the connection read on"],
    [/^tcp_connection_captured_twice$/, false, 'a connection captured a second time after it ended (two capture points, e.g. both sides of a router): read as copies of the first, not as a second connection'],
    [/^tcp_swap_sides_ignored$/, false, 'a flow seen from its SYN could not also be the other way round: the SYN was believed'],
    [/^flow_table_full_evict$/, true, 'the flow table was full: the flow idle longest was closed early (its handshake, if unfinished, as it stood)'],
    [/^flow_handler_memory_limit$/, true, 'the analysers together held too much: the flows holding most were closed early'],
    [/^client_hello_from_server_side$/, true, 'a ClientHello from the side that answered the SYN: the flow was not read'],
    [/^tls_handshake_too_large$/, true, 'a TLS handshake message over 256 KiB: that handshake was not read further'],
    [/^tls_handshake_truncated$/, true, 'a TLS handshake message that never completed: its fields are unknown'],
    [/^tls_handshake_wrong_direction$/, false, 'a TLS handshake message from the side that does not send it: ignored'],
    [/^x509_unparseable_certificate$/, true, 'a certificate that did not decode: its device is unknown, reason unparseable-cert'],
    [/^tls(13)?_.*_malformed$/, true, 'a TLS message that did not parse: what that handshake said from there on is unknown'],
    [/^tls_(record_malformed|record_too_large)$/, true, 'a TLS record that did not parse: that handshake was not read further'],
    [/^tls_too_many_alerts$/, false, 'more TLS alerts than are kept for one flow: the rest were counted only'],
    [/^decrypt_resumed_session_unknown$/, false, 'a resumed TLS session (an abbreviated handshake, no key exchange to decrypt) whose full handshake was not decrypted earlier in the capture: it ran before the capture began, comes later in the files, or was forgotten (decrypt_session_cache_evict); it stays encrypted'],
    [/^decrypt_session_cache_evict$/, false, 'more decrypted TLS sessions than are kept for resumption (65,536 session IDs and tickets): the one stored first was forgotten, a connection that resumes it stays encrypted'],
    [/^decrypt_early_data_no_key$/, true, "a TLS 1.3 client's early data (0-RTT, sent before the server's answer) without its key in the key log (CLIENT_EARLY_TRAFFIC_SECRET): a request in it was not read; the handshake and the requests after it were"],
    [/^tls_decrypt_|^decrypt_/, false, 'a session the keys given could not decrypt (or stopped decrypting): what it hides stays hidden'],
    [/^http_(request_malformed|header_malformed|header_too_large|too_many_headers|gap_in_request|resync_failed|request_incomplete)$/, true, "an HTTP request whose line or headers did not parse whole: its User-Agent or URL may be missing"],
    [/^http2_table_size_over_limit$/, true, "an HTTP/2 client using a header compression table larger than provaudit follows (64 KiB; its server allowed it): that connection's requests from there on were not read"],
    [/^http2_(malformed|hpack_error|header_block_too_large|gap)$/, true, "an HTTP/2 connection whose frames or HPACK header compression could not be followed: its requests from there on were not read"],
    [/^http2_(request_malformed|request_incomplete)$/, true, "an HTTP/2 header block that is no whole request (no :method or :path, or cut by the end of the capture): its User-Agent or URL may be missing"],
    [/^http2_header_list_too_large$/, false, "an HTTP/2 request whose fields outgrew 16 KiB: the fields before the limit are kept"],
    [/^http_flow_request_limit$/, false, 'requests past the first 256 of one connection, with the User-Agent the last one reported had: counted, not stored as sightings'],
    [/^http_tunnel_answer_too_large$/, true, "a proxy's answer to CONNECT longer than 16 KiB: the tunnel behind it was not read"],
    [/^http_/, false, "an HTTP request body that could not be framed or was cut: the request's headers are kept"],
    [/^ipv[46]_fragment_duplicate$/, false, 'an IP fragment received again with the same bytes (a duplicate on the path, or a second capture point): read once'],
    [/^ipv[46]_fragment_overlap$/, true, 'IP fragments that overlap with different bytes (damage, or an attempt to show one thing to provaudit and another to the server): the bytes that came first were read'],
    [/^ipv[46]_fragment_|^ipv6_ext_header_chain_too_long$/, true, 'IP fragments that could not be reassembled: the packet was skipped'],
    [/^(truncated_|bad_|ipv4_zero_|ipv6_zero_)/, true, 'a packet whose headers ended or lied before its payload: the packet was skipped'],
    [/^(unsupported_|tunnel_depth_exceeded$|vlan_stack_too_deep$|mpls_stack_too_deep$)/, true, 'an encapsulation or link type not read: the packet was skipped'],
    [/^capture_secrets_damaged$/, true, "a capture file's block of decryption secrets was damaged: the keys in it were lost, the sessions they open stayed encrypted"],
    [/^capture_secrets_unsupported$/, false, "decryption secrets in a capture file of a kind provaudit does not use (SSH, WireGuard...): skipped; only TLS key logs are used"],
    [/^capture_block_damaged$/, true, 'a packet block of a capture file was damaged (its length sound): that packet was skipped, the packets after it read'],
    [/^packet_time_unknown$/, false, "a packet without a usable time (a pcapng Simple Packet Block, a time past 2262 or an interface resolution that cannot be used) or dated 1970 or before: certificates it carried were not judged expired or not yet valid"],
    [/^packet_time_leap_ignored$/, false, "a packet whose time leapt past the flows' idle timeout, alone (a corrupt record time): the flows open did not close on it"],
    [/^evidence_/, false, 'a packet not kept in the evidence file (-w): the audit itself still saw it'],
    [/^audit_sightings_over_limit$/, true, 'sightings stored but not audited (--max-sightings): a run with a higher limit audits them'],
    [/^store_sighting_undecodable$/, true, 'a stored sighting that did not decode: left out of the audit'],
  ];
  // Whether a server asks for client certificates: yes, no, or (null in the
  // report) not visible: TLS 1.3 encrypts the request, a cut handshake loses it.
  const serverCertRequest = (r, yes, no, plain = no) => {
    if (r.requests_client_cert) return el('span', { class: 'yes' }, yes);
    if (r.requests_client_cert === null) return el('span', { class: 'muted', title: 'TLS 1.3 encrypts the request; or its handshakes were not seen whole' }, 'not visible');
    return el('span', { class: 'no' }, (r.tls_versions || []).length ? no : plain);
  };
  const anomalyMeaning = (name) => {
    const hit = ANOMALY_MEANINGS.find(([re]) => re.test(name));
    return hit ? { lost: hit[1], text: hit[2] } : null;
  };
  function bytes(n) {
    n = Number(n || 0);
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }
  function when(iso) {
    if (!iso) return '';
    return String(iso).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  // To the millisecond, where a device's events come within one second of each other (a
  // handshake and the requests after it): sightings and handshakes.
  function whenFine(iso) {
    if (!iso) return '';
    return String(iso).replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z');
  }
  // A long text cut for a table cell, whole in its title.
  function clipped(text, max, attrs) {
    const chars = Array.from(String(text || ''));
    return el('span', { ...attrs, title: chars.length > max ? text : null }, chars.length > max ? chars.slice(0, max).join('') + '…' : text);
  }
  function duration(sec) {
    sec = Number(sec || 0);
    if (sec < 60) return sec.toFixed(1) + ' s';
    if (sec < 3600) return (sec / 60).toFixed(1) + ' min';
    if (sec < 86400) return (sec / 3600).toFixed(1) + ' h';
    return (sec / 86400).toFixed(1) + ' days';
  }
  const clsBadge = (c) => el('span', { class: 'badge cls-' + (CLASSES.includes(c) ? c : 'unknown') }, c || 'unknown');
  const sevBadge = (s) => el('span', { class: 'sev sev-' + (SEVERITIES.includes(s) ? s : 'info') }, s || '');
  const codeChip = (code) => el('a', { class: 'code-chip', href: link('findings', { code }), title: codeTitle(code) }, code);
  const codeTitle = (code) => (catalogue && catalogue[code] ? catalogue[code].title : '');

  // ---- Routing: all state in the hash (#/devices?class=generic&sort=mac) --
  function link(page, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
    const s = q.toString();
    return '#/' + page + (s ? '?' + s : '');
  }
  const deviceLink = (id) => '#/device/' + encodeURIComponent(id);
  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const qi = h.indexOf('?');
    const path = qi < 0 ? h : h.slice(0, qi);
    const params = Object.fromEntries(new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1)));
    const parts = path.split('/');
    let arg = '';
    // A link cut or mistyped (#/device/%E0%A4%A): no argument, and the page says the link is broken.
    try { arg = parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : ''; } catch (e) { arg = null; }
    return { page: parts[0] || 'overview', arg, params };
  }
  function go(page, params) { location.hash = link(page, params); }
  // Typing refines one search: each pause replaces the history entry the previous pause made
  // (Back leaves the search, not each prefix of it). A new search (not extending or shortening the
  // last), or one after any other navigation, adds an entry.
  let searchHash = null; // the hash the search box last navigated to
  function goSearch(page, params) {
    const before = parseHash().params.q || '', q = params.q || '';
    const refines = location.hash === searchHash && before !== '' && q !== '' && (q.startsWith(before) || before.startsWith(q));
    if (refines) location.replace(link(page, params));
    else go(page, params);
    searchHash = location.hash;
  }

  // ---- API ----------------------------------------------------------------
  // A session that ended (expired, signed out elsewhere): sign in again and come back to this
  // view. The login page keeps it as its own hash and returns to it (login.js); only "#/…".
  // Once: every request in flight answers 401 when the session ends, and a
  // second navigation would abort the first.
  let signingIn = false;
  const signIn = () => {
    if (signingIn) return;
    signingIn = true;
    location.href = '/login' + (location.hash.startsWith('#/') ? location.hash : '');
  };
  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
    const res = await fetch('/api/' + path + (q.toString() ? '?' + q : ''), { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (res.status === 401) { signIn(); throw new Error('sign-in required'); }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }
  async function ensureCatalogue() {
    if (catalogue) return;
    const s = await api('findings/summary');
    catalogue = {};
    for (const c of s.catalogue) catalogue[c.code] = c;
    catalogue.__summary = s.items;
  }

  // ---- Shared building blocks --------------------------------------------
  function pageHead(title, sub, ...right) {
    return el('div', { class: 'page-head' }, el('div', null, el('h1', null, title), sub ? el('div', { class: 'sub' }, sub) : null), el('div', { class: 'toolbar' }, right));
  }
  function select(name, value, options, label) {
    const s = el('select', { name, 'aria-label': label, 'data-filter': name });
    for (const [v, text] of options) {
      const o = el('option', { value: v }, text);
      if (String(v) === String(value || '')) o.selected = true;
      s.appendChild(o);
    }
    return s;
  }
  // A sortable table: columns [{key, label, sort?, num?, render(row)}].
  function table(columns, rows, state, onSort, rowHref) {
    const thead = el('thead', null, el('tr', null, columns.map((c) => {
      const active = c.sort && state.sort === c.sort;
      const th = el('th', { class: c.num ? 'num' : (c.narrow ? 'hide-narrow' : null), scope: 'col', 'aria-sort': active ? (state.desc ? 'descending' : 'ascending') : null });
      if (!c.sort) { th.textContent = c.label; return th; }
      th.appendChild(el('button', { class: 'sort', type: 'button', onclick: () => onSort(c.sort) }, c.label, el('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (state.desc ? '▼' : '▲') : '↕')));
      return th;
    })));
    const tbody = el('tbody');
    for (const r of rows) {
      const tr = el('tr', rowHref ? { class: 'clickable', 'data-href': rowHref(r), tabindex: '-1' } : null,
        columns.map((c) => {
          const td = el('td', { class: [c.num ? 'num' : '', c.mono ? 'mono' : '', c.clip ? 'clip' : '', c.narrow ? 'hide-narrow' : ''].join(' ').trim() || null });
          append(td, [c.render(r)]);
          return td;
        }));
      if (rowHref) tr.addEventListener('click', (e) => { if (!e.target.closest('a')) location.hash = rowHref(r); });
      tbody.appendChild(tr);
    }
    if (!rows.length) tbody.appendChild(el('tr', null, el('td', { colspan: columns.length, class: 'empty' }, 'Nothing matches these filters.')));
    return el('div', { class: 'table-wrap' }, el('table', null, thead, tbody));
  }
  // `state` is the order shown (a page's default when the link names none): the first click on
  // the column already shown turns it round. A new order starts again from the first page.
  function toggleSort(params, state, key, page, defaultDesc) {
    const p = { ...params, sort: key };
    p.dir = state.sort === key ? (state.desc ? 'asc' : 'desc') : (defaultDesc ? 'desc' : 'asc');
    for (const k of PAGING_PARAMS) delete p[k];
    go(page, p);
  }
  // Where a list stands: any change of filter or order goes back to its first page.
  const PAGING_PARAMS = ['after', 'before', 'pos', 'offset'];
  const firstPage = (params) => { const p = { ...params }; for (const k of PAGING_PARAMS) delete p[k]; return p; };
  // One pending search at a time, whichever box it was typed in: render() hands a box being typed
  // in over to its replacement, with the text as it is now and this timer restarted there.
  let searchTimer = null;
  function searchBox(value, placeholder, onChange) {
    const input = el('input', { type: 'search', name: 'q', value: value || '', placeholder, 'aria-label': placeholder, autocomplete: 'off', spellcheck: 'false', 'data-search': '1' });
    const submit = () => {
      clearTimeout(searchTimer);
      searchTimer = null;
      if (input.isConnected) onChange(input.value.trim());
    };
    input.addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(submit, 250); });
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') submit(); });
    return input;
  }
  // A list's total; the server stops counting where an exact count would be
  // slow ("total_exact": false): then it is a lower bound, shown as "10,000+".
  const totalText = (list) => num(list.total) + (list.total_exact === false ? '+' : '');
  const exactlyOne = (list) => list.total === 1 && list.total_exact !== false;
  function offsetPager(params, page, list, limit) {
    const offset = Number(params.offset || 0);
    const total = list.total;
    const first = list.items.length ? offset + 1 : 0;
    const last = offset + list.items.length;
    const more = list.total_exact === false ? list.items.length >= limit : last < total;
    return el('div', { class: 'pager', 'data-pager': 'list' },
      el('span', null, `${num(first)}–${num(last)} of ${totalText(list)}`),
      el('button', { type: 'button', 'data-page': 'prev', disabled: offset <= 0, onclick: () => turnPage(page, { ...params, offset: Math.max(0, offset - limit) || '' }) }, '‹ Prev'),
      el('button', { type: 'button', 'data-page': 'next', disabled: !more, onclick: () => turnPage(page, { ...params, offset: offset + limit }) }, 'Next ›'));
  }
  // A page turned by a pager: render() keeps the focus on the control and shows the new page from its top.
  let pageTurn = null; // the hash a pager went to
  function turnPage(page, params) {
    go(page, params);
    pageTurn = location.hash;
  }

  // ---- Charts (inline SVG) -----------------------------------------------
  function donut(counts, total) {
    const size = 180, r = 70, w = 26, c = size / 2;
    const root = svg('svg', { viewBox: `0 0 ${size} ${size}`, class: 'chart', role: 'img', 'aria-label': 'Devices by identity class' });
    let angle = -Math.PI / 2;
    if (!total) root.appendChild(svg('circle', { cx: c, cy: c, r, fill: 'none', stroke: 'currentColor', 'stroke-opacity': '0.15', 'stroke-width': w }));
    for (const cls of CLASSES) {
      const n = counts[cls] || 0;
      if (!n) continue;
      const frac = n / total;
      const a2 = angle + frac * Math.PI * 2 - (frac === 1 ? 0.0001 : 0);
      const large = frac > 0.5 ? 1 : 0;
      const p = (a, rad) => `${c + rad * Math.cos(a)} ${c + rad * Math.sin(a)}`;
      const d = `M ${p(angle, r + w / 2)} A ${r + w / 2} ${r + w / 2} 0 ${large} 1 ${p(a2, r + w / 2)} L ${p(a2, r - w / 2)} A ${r - w / 2} ${r - w / 2} 0 ${large} 0 ${p(angle, r - w / 2)} Z`;
      const a = svg('a', { href: link('devices', { class: cls }), 'aria-label': `${cls}: ${n}` }, svg('path', { d, class: 'fill-' + cls }, svg('title', null, `${cls}: ${n}`)));
      root.appendChild(a);
      angle = a2;
    }
    root.appendChild(svg('text', { x: c, y: c + 2, 'text-anchor': 'middle', class: 'donut-center' }, num(total)));
    root.appendChild(svg('text', { x: c, y: c + 20, 'text-anchor': 'middle' }, 'devices'));
    return root;
  }
  // Horizontal bars: items [{label, value, cls, href}]
  function hbars(items, label) {
    const rowH = 24, labelW = 70, width = 360, max = Math.max(1, ...items.map((i) => i.value));
    const root = svg('svg', { viewBox: `0 0 ${width} ${items.length * rowH + 4}`, class: 'chart', role: 'img', 'aria-label': label });
    items.forEach((it, i) => {
      const y = i * rowH + 4;
      const bw = Math.max(it.value ? 2 : 0, (width - labelW - 60) * it.value / max);
      const g = svg('a', { href: it.href, 'aria-label': `${it.label}: ${it.value}` },
        svg('text', { x: 0, y: y + 14 }, it.label),
        svg('rect', { x: labelW, y: y + 2, width: bw, height: rowH - 10, rx: 2, class: 'fill-' + it.cls }, svg('title', null, `${it.label}: ${it.value}`)),
        svg('text', { x: labelW + bw + 6, y: y + 14 }, num(it.value)));
      root.appendChild(g);
    });
    return root;
  }
  // Bars stand where their time is: a stretch without sightings (a sensor
  // down, a night) shows as a gap, not as the next bar moved up.
  function timelineChart(data) {
    const buckets = data.buckets || [];
    const width = 900, height = 180, padL = 40, padB = 34, padT = 8;
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': 'Sightings over time' });
    if (!buckets.length) { root.appendChild(svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle' }, 'No sightings yet')); return root; }
    const max = Math.ceil(Math.max(1, ...buckets.map((b) => b.count)) / 4) * 4; // integer grid labels
    const plotW = width - padL - 8, plotH = height - padB - padT;
    const bucketMs = Math.max(1, data.bucket_seconds) * 1000;
    const t0 = Date.parse(buckets[0].start);
    const span = Math.max(bucketMs, Date.parse(buckets[buckets.length - 1].start) + bucketMs - t0);
    const xOf = (t) => padL + (plotW * (t - t0)) / span;
    const bw = Math.max(1, (plotW * bucketMs) / span - 2);
    for (let i = 0; i <= 4; i++) {
      const y = padT + plotH - (plotH * i) / 4;
      root.appendChild(svg('line', { x1: padL, x2: width - 8, y1: y, y2: y, class: 'grid-line' }));
      root.appendChild(svg('text', { x: padL - 6, y: y + 4, 'text-anchor': 'end' }, num(Math.round((max * i) / 4))));
    }
    buckets.forEach((b) => {
      const x = xOf(Date.parse(b.start)) + 1;
      const hTls = (plotH * b.tls) / max, hHttp = (plotH * b.http) / max;
      const title = `${when(b.start)}: ${b.count} sightings (${b.tls} TLS, ${b.http} HTTP)`;
      root.appendChild(svg('rect', { x, y: padT + plotH - hTls, width: bw, height: hTls, class: 'fill-tls', 'data-start': b.start }, svg('title', null, title)));
      root.appendChild(svg('rect', { x, y: padT + plotH - hTls - hHttp, width: bw, height: hHttp, class: 'fill-http', 'data-start': b.start }, svg('title', null, title)));
    });
    // Six ticks along the time axis: the date where it changes, else the time of day, to the
    // minute (to the second only when the buckets are shorter than a minute).
    let lastDay = '';
    const clockEnd = data.bucket_seconds < 60 ? 19 : 16;
    for (let k = 0; k <= 5; k++) {
      const t = t0 + (span * k) / 5;
      const iso = when(new Date(t).toISOString());
      const day = iso.slice(0, 10);
      const label = data.bucket_seconds >= 86400 ? day : day !== lastDay ? iso.slice(0, clockEnd) : iso.slice(11, clockEnd);
      lastDay = day;
      root.appendChild(svg('text', { x: xOf(t), y: height - 16, 'text-anchor': k === 0 ? 'start' : k === 5 ? 'end' : 'middle', 'data-tick': k }, label));
    }
    root.appendChild(svg('line', { x1: padL, x2: width - 8, y1: padT + plotH, y2: padT + plotH, class: 'axis' }));
    root.appendChild(svg('text', { x: padL, y: height - 2, 'data-axis-unit': 'UTC' }, 'times in UTC (packet timestamps)'));
    return root;
  }

  // ---- Overview -----------------------------------------------------------
  async function renderOverview() {
    const [s, t, top] = await Promise.all([api('stats'), api('timeline', { bucket: 'auto' }), api('servers', { sort: 'devices', dir: 'desc', limit: 6 }), ensureCatalogue()]);
    const d = s.devices, byc = d.by_identity, f = s.findings, cov = s.coverage;
    const pct = (n) => (d.total ? Math.round((100 * n) / d.total) + '%' : '–');
    const kpi = (label, value, note, cls, href) => el(href ? 'a' : 'div', { class: 'kpi' + (cls ? ' c-' + cls : ''), href, 'data-kpi': label.toLowerCase() }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value), note ? el('div', { class: 'note' }, note) : null);
    const kpis = el('div', { class: 'kpis' },
      kpi('Devices', num(d.total), count(s.servers ? s.servers.total : 0, 'server'), null, '#/devices'),
      CLASSES.map((c) => kpi(c[0].toUpperCase() + c.slice(1), num(byc[c]), pct(byc[c]) + ' of devices', c, link('devices', { class: c }))),
      kpi('Findings', num(f.total), `${num(f.by_severity.critical)} critical · ${num(f.by_severity.high)} high`, null, '#/findings'),
      kpi('Packets', num(cov.packets), bytes(cov.bytes), null, null));

    const classPanel = el('section', { class: 'panel' }, el('h2', null, 'Devices by identity class'),
      el('div', { class: 'donut-wrap' }, donut(byc, d.total),
        el('div', { class: 'legend', style: null }, CLASSES.map((c) => el('a', { href: link('devices', { class: c }) }, el('span', { class: 'swatch ' + c }), `${c} `, el('b', null, num(byc[c])))))));
    const sevPanel = el('section', { class: 'panel' }, el('h2', null, 'Findings by severity'),
      hbars(SEVERITIES.map((sv) => ({ label: sv, value: f.by_severity[sv] || 0, cls: sv, href: link('findings', { severity: sv }) })), 'Findings by severity'),
      el('h3', null, 'Most frequent'),
      topCodes());
    function topCodes() {
      const rows = (catalogue.__summary || []).slice().sort((a, b) => b.count - a.count).slice(0, 6);
      if (!rows.length) return el('p', { class: 'muted' }, 'No findings.');
      return el('div', null, rows.map((r) => el('div', null, sevBadge(r.severity), ' ', codeChip(r.code), ' ', el('span', { class: 'muted' }, `${num(r.count)} on ${count(r.subjects, r.kind)}`))));
    }
    const srv = s.servers || { total: 0, requesting_client_cert: 0, not_requesting: 0 };
    const serverPanel = el('section', { class: 'panel' }, el('h2', null, 'Provisioning servers'),
      el('dl', { class: 'kv' },
        el('dt', null, 'Servers'), el('dd', null, el('a', { href: '#/servers' }, num(srv.total))),
        el('dt', null, 'Request client certificates'), el('dd', null, el('a', { href: link('servers', { cert_request: 'yes' }) }, num(srv.requesting_client_cert))),
        el('dt', null, 'Never request one'), el('dd', null, el('a', { href: link('servers', { cert_request: 'no' }) }, num(srv.not_requesting))),
        srv.request_not_visible ? el('dt', null, 'Request not visible') : null,
        srv.request_not_visible ? el('dd', { 'data-request-not-visible': '1' }, el('a', { href: link('servers', { cert_request: 'unknown' }) }, num(srv.request_not_visible)),
          el('span', { class: 'muted' }, ' · TLS 1.3 or handshakes not seen whole')) : null),
      el('h3', null, 'Busiest'),
      top.items.map((r) => el('div', { 'data-busiest': r.id }, el('a', { class: 'mono', href: link('devices', { server: r.id }) }, r.id), ' ',
        serverCertRequest(r, 'mTLS', 'no client certs', 'plain HTTP'),
        el('span', { class: 'muted' }, ` · ${count(r.devices, 'device')}`))));
    const counters = s.counters || {};
    // How full the audit's evidence is (--max-sightings): past its first part only new sightings join.
    const ev = s.evidence || { held: 0, limit: 0, in_order: 0 };
    const evidence = el('dd', { 'data-evidence': '1' },
      ev.limit ? `${num(ev.held)} of ${num(ev.limit)} sightings (--max-sightings)` : `${num(ev.held)} sightings (no limit)`,
      ev.limit && ev.held >= ev.in_order ? el('span', { class: 'no' }, ` · past the first ${num(ev.in_order)}, only new sightings join`) : null,
      // Large sightings (long User-Agents, big certificates) reach the size the limit allows before its count.
      ev.bytes_limit && ev.held < ev.in_order && ev.bytes * 5 >= ev.bytes_limit * 4
        ? el('span', { class: 'no', 'data-evidence-bytes': '1' }, ` · its sightings are large: ${bytes(ev.bytes)} of the ${bytes(ev.bytes_limit)} the limit allows; ${ev.bytes >= ev.bytes_limit ? 'no more join' : 'only new sightings join'}`)
        : null,
      // A limit whose evidence may need more memory than the writer may use: killed before it is full.
      ev.memory_limit && ev.memory_need > ev.memory_limit
        ? el('span', { class: 'no', 'data-evidence-memory': '1' }, ` · may need up to ${bytes(ev.memory_need)} of memory, more than the ${bytes(ev.memory_limit)} this writer may use: lower --max-sightings or raise its memory limit`)
        : null);
    const covPanel = el('section', { class: 'panel' }, el('h2', null, 'Capture coverage'),
      el('dl', { class: 'kv' },
        el('dt', null, 'Sources'), el('dd', null, `${count(cov.files, 'file')}, ${count(cov.interfaces, 'interface')}`, cov.errors ? el('span', { class: 'no' }, ` · ${num(cov.errors)} with errors`) : null),
        el('dt', null, 'Time span'), el('dd', null, cov.first ? `${when(cov.first)} → ${when(cov.last)} (${duration(cov.span_seconds)})` : '–'),
        el('dt', null, 'Packets'), el('dd', null, `${num(cov.packets)} (${bytes(cov.bytes)})`),
        el('dt', null, 'Flows'), el('dd', null, `${num(counters.flows)} (${num(counters.flows_bypassed)} bypassed, ${num(counters.flows_evicted)} evicted)`),
        el('dt', null, 'Handshakes / requests'), el('dd', null, `${num(counters.tls_handshakes)} TLS (${num(counters.client_certificates)} client certs) · ${num(counters.http_requests)} HTTP`),
        el('dt', null, 'Drops'), el('dd', { 'data-drops': '1' }, num(s.drops)),
        el('dt', null, 'Anomalies'), el('dd', null, num(s.anomalies.total)),
        el('dt', null, 'Audit evidence'), evidence),
      s.anomalies.list.length ? el('div', null, el('h3', null, 'Anomalies'), el('ul', { class: 'anomalies' }, s.anomalies.list.map((a) => {
        const meaning = anomalyMeaning(a.name);
        return el('li', { 'data-anomaly': a.name },
          el('span', { class: 'mono' }, `${a.name}: ${num(a.count)}`),
          meaning ? el('span', { class: meaning.lost ? 'meaning lost' : 'meaning muted' }, ` · ${meaning.text}`) : null);
      }))) : null);
    const timeline = el('section', { class: 'panel' }, el('h2', null, `Sightings over time`, el('span', { class: 'muted' }, ` · per ${duration(t.bucket_seconds)}`)),
      timelineChart(t), el('div', { class: 'legend' }, el('span', null, el('span', { class: 'swatch tls' }), 'TLS handshakes'), el('span', null, el('span', { class: 'swatch http' }), 'HTTP requests')));
    const sources = el('section', { class: 'panel flush' }, el('h2', null, 'Capture sources'),
      table([
        { label: 'Source', render: (r) => el('span', { class: 'mono', title: r.name }, r.name.split('/').pop()) },
        { label: 'Kind', render: (r) => r.kind },
        { label: 'Packets from', mono: true, narrow: true, render: (r) => when(r.first) },
        { label: 'to', mono: true, narrow: true, render: (r) => when(r.last).slice(11) },
        { label: 'Packets', num: true, render: (r) => num(r.packets) },
        { label: 'Bytes', num: true, render: (r) => bytes(r.bytes) },
        { label: 'Status', render: (r) => r.status === 'error' ? el('span', { class: 'no', title: r.error }, 'error: ', r.error) : el('span', { class: 'yes' }, r.status) },
      ], cov.list, {}, null, null));
    return [pageHead('Overview', `Audit of ${count(d.total, 'device')} from ${count(cov.sources, 'capture source')}`), kpis,
      el('div', { class: 'grid cols-3' }, classPanel, sevPanel, serverPanel), el('div', { class: 'grid' }, timeline),
      el('div', { class: 'grid cols-1-2' }, covPanel, sources)];
  }

  // ---- Devices ------------------------------------------------------------
  const DEVICE_FILTERS = ['q', 'class', 'vendor', 'finding', 'severity', 'server'];
  async function renderDevices(params) {
    const [s, list] = await Promise.all([api('stats'), api('devices', { ...params, limit: 50 }), ensureCatalogue()]);
    const state = { sort: params.sort || 'id', desc: params.dir === 'desc' };
    const setFilter = (k, v) => (k === 'q' ? goSearch : go)('devices', firstPage({ ...params, [k]: v }));
    const codes = Object.keys(catalogue).filter((k) => k !== '__summary').sort();
    const filters = {};
    for (const k of DEVICE_FILTERS) if (params[k]) filters[k] = params[k];
    const exportLink = (format) => '/api/export?' + new URLSearchParams({ format, ...filters, ...(params.sort ? { sort: params.sort, dir: params.dir || 'asc' } : {}) });
    const toolbar = el('div', { class: 'toolbar' },
      searchBox(params.q, 'Search MAC, IP, serial, model, subject…', (v) => setFilter('q', v)),
      select('class', params.class, [['', 'All classes'], ...CLASSES.map((c) => [c, c])], 'Identity class'),
      select('vendor', params.vendor, [['', 'All vendors'], ...(s.vendors || []).map((v) => [v.vendor === null ? '-' : v.vendor, `${v.vendor === null ? '(none)' : v.vendor} (${v.devices})`])], 'Vendor'),
      select('finding', params.finding, [['', 'Any finding'], ...codes.map((c) => [c, c])], 'Finding code'),
      select('severity', params.severity, [['', 'Any severity'], ...SEVERITIES.map((c) => [c, 'worst: ' + c])], 'Worst severity'),
      params.server ? el('span', { class: 'code-chip' }, 'server ' + params.server, ' ', el('a', { href: link('devices', firstPage({ ...params, server: '' })), 'aria-label': 'clear server filter' }, '×')) : null,
      Object.keys(filters).length ? el('a', { class: 'btn', href: '#/devices' }, 'Clear') : null,
      el('span', { class: 'spacer' }),
      el('span', { class: 'btn-label' }, 'Export'),
      el('span', { class: 'btn-group' }, ['csv', 'json', 'html'].map((f) => el('a', { class: 'btn', href: exportLink(f), 'data-export': f, download: '' }, f.toUpperCase()))));
    toolbar.querySelectorAll('select').forEach((sel) => sel.addEventListener('change', () => setFilter(sel.name, sel.value)));
    const columns = [
      { label: 'Device', sort: 'mac', render: (r) => el('div', null, el('a', { href: deviceLink(r.id), class: 'mono' }, r.mac || r.id), r.mac ? null : el('div', { class: 'sub' }, 'no host MAC')) },
      { label: 'IPs', sort: 'ips', mono: true, render: (r) => r.ips.join(', ') },
      { label: 'Identity', sort: 'identity', render: (r) => el('div', null, clsBadge(r.identity), el('div', { class: 'sub' }, r.identity_reason)) },
      { label: 'Vendor', sort: 'vendor', render: (r) => r.vendor || '' },
      { label: 'Model', sort: 'model', render: (r) => r.model || '' },
      { label: 'Firmware', sort: 'firmware', narrow: true, render: (r) => r.firmware || '' },
      { label: 'Serial', sort: 'serial', mono: true, render: (r) => r.serial || '' },
      { label: 'Certificate subject', clip: true, narrow: true, render: (r) => r.cert_subject ? el('div', null, el('span', { class: 'mono' }, r.cert_subject), r.cert_chain ? el('div', { class: 'sub' }, 'chain ' + r.cert_chain) : null) : el('span', { class: 'muted' }, '—') },
      { label: 'Findings', sort: 'severity', render: (r) => el('div', null, r.severity ? sevBadge(r.severity) : null, ' ', r.findings.map(codeChip)) },
      { label: 'Last seen', sort: 'last_seen', mono: true, narrow: true, render: (r) => when(r.last_seen) },
      { label: 'Sessions', sort: 'sessions', num: true, render: (r) => num(r.sessions) },
    ];
    const pos = Number(params.pos || 0);
    const first = list.items.length ? pos + 1 : 0;
    const last = pos + list.items.length;
    const pager = el('div', { class: 'pager', 'data-pager': 'list' },
      el('span', { 'data-range': '1' }, `${num(first)}–${num(last)} of ${totalText(list)}`),
      el('button', { type: 'button', 'data-page': 'prev', disabled: !list.prev, onclick: () => { const p = { ...params, before: list.prev, pos: Math.max(0, pos - 50) }; delete p.after; turnPage('devices', p); } }, '‹ Prev'),
      el('button', { type: 'button', 'data-page': 'next', disabled: !list.next, onclick: () => { const p = { ...params, after: list.next, pos: pos + list.items.length }; delete p.before; turnPage('devices', p); } }, 'Next ›'));
    return [pageHead('Devices', `${totalText(list)} ${exactlyOne(list) ? 'device matches' : 'devices match'}`), toolbar,
      table(columns, list.items, state, (k) => toggleSort(params, state, k, 'devices', k === 'last_seen' || k === 'severity' || k === 'sessions'), (r) => deviceLink(r.id)), pager];
  }

  // ---- Device page --------------------------------------------------------
  async function renderDevice(id, params) {
    const [data] = await Promise.all([api('devices/' + encodeURIComponent(id), { sightings_offset: params.sightings_offset, sightings_limit: params.sightings_limit, sightings_order: params.sightings_order }), ensureCatalogue()]);
    const d = data.device || {}, det = data.detail || {};
    const kv = (pairs) => el('dl', { class: 'kv' }, pairs.filter((p) => p[1] !== undefined).map(([k, v]) => [el('dt', null, k), el('dd', null, v === null || v === '' ? el('span', { class: 'muted' }, '—') : v)]));
    const identity = el('section', { class: 'panel' }, el('h2', null, 'Identity'),
      kv([['Class', el('span', null, clsBadge(d.identity), el('span', { class: 'reason' }, d.identity_reason))],
        ['MAC', d.mac ? el('span', { class: 'mono' }, d.mac) : null], ['Device id', el('span', { class: 'mono' }, d.id)],
        ['IPs', el('span', { class: 'mono' }, (d.ips || []).join(', '), (d.omitted || {}).ips ? el('span', { class: 'no', 'data-omitted': 'ips' }, ` and ${num(d.omitted.ips)} more`) : null)], ['Vendor', d.vendor], ['Model', d.model], ['Firmware', d.firmware],
        ['Serial', d.serial ? el('span', { class: 'mono' }, d.serial) : null], ['First seen', when(d.first_seen)], ['Last seen', when(d.last_seen)],
        ['Sessions', num(d.sessions)], ['MAC from wire', det.mac_from_wire === undefined ? undefined : (det.mac_from_wire ? 'yes' : 'no')],
        ['$CCERT in URLs', (det.ccert || []).length ? det.ccert.join(', ') : undefined],
        ['Servers', (data.servers || []).length ? el('span', null, data.servers.map((sv, i) => [i ? ', ' : '', el('a', { href: link('devices', { server: sv.id }), class: 'mono' }, sv.id)])) : null]]));
    const findings = el('section', { class: 'panel' }, el('h2', null, `Findings (${(d.findings || []).length})`),
      (d.findings || []).length ? d.findings.map((f) => {
        const info = catalogue[f.code];
        return el('div', { class: 'finding sev-l-' + (SEVERITIES.includes(f.severity) ? f.severity : 'info') },
          el('div', { class: 'head' }, sevBadge(f.severity), codeChip(f.code), info ? el('span', null, info.title) : null),
          el('p', { class: 'wrap' }, f.detail),
          info ? el('p', { class: 'what' }, info.meaning) : null,
          info ? el('p', null, el('b', null, 'What to do: '), info.action) : null);
      }) : el('p', { class: 'muted' }, 'No findings for this device.'));
    const claims = el('section', { class: 'panel flush' }, el('h2', null, 'Claims and where they came from'),
      table([
        { label: 'Field', render: (c) => el('b', null, c.field) },
        { label: 'Value', mono: true, clip: true, render: (c) => c.value },
        { label: 'Origin', render: (c) => el('span', { class: 'origin' }, c.origin) },
        { label: 'Evidence', mono: true, clip: true, render: (c) => c.evidence },
        { label: 'Rule', narrow: true, render: (c) => c.rule },
        { label: 'Time', mono: true, narrow: true, render: (c) => when(c.time) },
        { label: 'Frame', num: true, render: (c) => c.frame ? num(c.frame) : '' },
        { label: 'Capture file', clip: true, render: (c) => el('span', { class: 'mono' }, c.source) },
      ], det.claims || [], {}, null, null),
      det.claims_omitted ? el('p', { class: 'no', 'data-omitted': 'claims' }, `${num(det.claims_omitted)} more claims, from further texts of the same origins, not listed`) : null);
    const cert = d.cert;
    const certPanel = el('section', { class: 'panel' }, el('h2', null, 'Client certificate'),
      cert ? [kv([['Subject', el('span', { class: 'mono wrap', 'data-field': 'cert-subject' }, cert.subject)], ['Issuer', el('span', { class: 'mono wrap' }, cert.issuer)],
        ['Serial number', el('span', { class: 'mono' }, cert.serial_number)], ['Valid', `${when(cert.not_before)} → ${when(cert.not_after)}`],
        ['Key', cert.key], ['Signature', cert.signature], ['Chain', el('span', null, cert.chain, det.chain_error ? el('span', { class: 'muted' }, ' · ' + det.chain_error) : null)],
        ['SHA-256', el('span', { class: 'mono wrap' }, cert.sha256)], ['Decoded product', cert.product], ['Decoded serial', cert.serial], ['Decoded MAC', cert.mac]]),
      el('h3', null, 'Chain as sent'),
      (det.chain_sent || []).length ? el('ol', { class: 'chain' }, det.chain_sent.map((c) => el('li', null, el('div', { class: 'mono wrap' }, c.subject), el('div', { class: 'sub muted mono wrap' }, 'issued by ', c.issuer), el('div', { class: 'muted' }, `${c.key} · ${c.signature} · ${when(c.not_before)} → ${when(c.not_after)}`)))) : el('p', { class: 'muted' }, 'Not recorded.')]
        : el('p', { class: 'muted' }, 'No client certificate seen. ', d.identity_reason ? `Reason: ${d.identity_reason}.` : ''));
    const tls = d.tls || {};
    // A device that sent more distinct values than its lists keep: how many more (report's "omitted").
    const omitted = d.omitted || {};
    const more = (list) => omitted[list] ? el('div', { class: 'no', 'data-omitted': list }, `and ${num(omitted[list])} more, not listed`) : null;
    const lines = (values, list, attrs) => (values || []).length ? el('div', null, values.map((v) => el('div', attrs, v)), more(list)) : null;
    const tlsPanel = el('section', { class: 'panel' }, el('h2', null, 'TLS'),
      kv([['Versions', (tls.versions || []).join(', ') || null], ['JA4', lines(tls.ja4, 'ja4', { class: 'mono' })],
        ['JA3', lines(det.ja3, 'ja3', { class: 'mono' })], ['SNI', (det.sni || []).length ? el('span', null, det.sni.join(', '), more('sni')) : null],
        ['User-Agents', lines(d.user_agents, 'user_agents', { class: 'mono wrap', 'data-field': 'user-agent' })],
        ['URLs', lines(d.urls, 'urls', { class: 'mono wrap' })]]));
    // The first and the last handshakes of a device that made many; every one is among its sightings.
    const omittedHandshakes = det.handshakes_omitted || 0;
    const handshakes = el('section', { class: 'panel flush', 'data-panel': 'handshakes' }, el('h2', null, 'Handshake history'),
      omittedHandshakes ? el('div', { class: 'panel-note', 'data-omitted': 'handshakes' },
        `The first ${num((det.handshakes || []).length / 2)} and the last ${num((det.handshakes || []).length / 2)} of ${num((det.handshakes || []).length + omittedHandshakes)} handshakes; every one is in Sightings below.`) : null,
      table([
        { label: 'Time', mono: true, render: (h) => whenFine(h.time) },
        { label: 'Client → server', mono: true, render: (h) => `${h.client} → ${h.server}` },
        { label: 'Version', render: (h) => h.version },
        { label: 'Cipher', narrow: true, clip: true, render: (h) => h.cipher },
        { label: 'Outcome', render: (h) => el('div', null, h.outcome, h.reason ? el('div', { class: 'sub' }, h.reason) : null,
          h.gap ? el('div', { class: 'sub', 'data-gap': 'handshake', title: 'Packets of this handshake are missing from the capture; what they carried is not known' }, 'packets missing') : null) },
        // Which certificate each handshake sent: a device that changes certificates shows it here.
        { label: 'Client cert', mono: true, render: (h) => h.cert_sha256
          ? el('div', null, el('span', { 'data-cert': h.cert_sha256, title: 'SHA-256 ' + h.cert_sha256 }, h.cert_sha256.slice(0, 12) + '…'),
            cert && cert.sha256 && cert.sha256 !== h.cert_sha256 ? el('div', { class: 'sub' }, 'not the one above') : null)
          : el('span', { class: 'muted' }, '—') },
        { label: 'JA4', mono: true, narrow: true, render: (h) => h.ja4 || (h.gap ? el('span', { class: 'muted', 'data-no-hello': '' }, 'ClientHello not seen') : '') },
        { label: 'Frame', num: true, render: (h) => num(h.frame) },
        { label: 'Capture file', clip: true, render: (h) => el('span', { class: 'mono' }, h.source) },
      ], det.handshakes || [], {}, null, null));
    if (omittedHandshakes) {
      // Where the first ones end and the last begin, the count of those between.
      const rows = handshakes.querySelectorAll('tbody tr');
      const cut = rows[Math.floor(rows.length / 2)];
      if (cut) cut.before(el('tr', { class: 'gap' }, el('td', { colspan: rows[0].cells.length, 'data-gap': 'handshakes' }, `… ${num(omittedHandshakes)} more handshakes …`)));
    }
    // A page of the device's sightings at a time (a chatty device has 100,000), oldest or newest first.
    const sightingsNav = (() => {
      const list = data.sightings || [], total = data.sightings_total || 0, offset = data.sightings_offset || 0;
      const sightingsPage = data.sightings_limit || list.length || 1;  // the server's page size (100 unless the link asks)
      const newest = data.sightings_order === 'newest';
      const to = (p) => turnPage('device/' + encodeURIComponent(id), { ...params, ...p });
      const order = select('sightings_order', newest ? 'newest' : '', [['', 'Oldest first'], ['newest', 'Newest first']], 'Order of the sightings');
      order.addEventListener('change', () => to({ sightings_order: order.value, sightings_offset: '' }));
      const lastOffset = total > 0 ? Math.floor((total - 1) / sightingsPage) * sightingsPage : 0;
      if (total <= 1) return null;  // nothing to order or page
      return el('div', { class: 'pager', 'data-pager': 'sightings' }, order,
        el('span', { 'data-range': 'sightings' }, list.length ? `${num(offset + 1)}–${num(offset + list.length)} of ${num(total)}` : `0 of ${num(total)}`),
        el('button', { type: 'button', 'data-page': 'first', disabled: offset <= 0, onclick: () => to({ sightings_offset: '' }) }, '« First'),
        el('button', { type: 'button', 'data-page': 'prev', disabled: offset <= 0, onclick: () => to({ sightings_offset: Math.max(0, offset - sightingsPage) || '' }) }, '‹ Prev'),
        el('button', { type: 'button', 'data-page': 'next', disabled: offset + list.length >= total, onclick: () => to({ sightings_offset: offset + sightingsPage }) }, 'Next ›'),
        el('button', { type: 'button', 'data-page': 'last', disabled: offset + list.length >= total, onclick: () => to({ sightings_offset: lastOffset || '' }) }, 'Last »'));
    })();
    const sightings = el('section', { class: 'panel flush', 'data-panel': 'sightings' }, el('h2', null, `Sightings (${num(data.sightings_total)})`), sightingsNav,
      table([
        { label: 'Time', mono: true, render: (x) => whenFine(x.time) },
        { label: 'Kind', render: (x) => x.kind.toUpperCase() },
        { label: 'Flow', mono: true, render: (x) => `${x.client} → ${x.server}` },
        // What the device sent, and how it named itself: its User-Agent, or its ClientHello's JA4.
        { label: 'What', clip: true, render: (x) => el('div', null,
          x.kind === 'http' ? el('span', { class: 'mono' }, `${x.method || ''} ${x.uri || ''}`) : el('span', null, [x.sni ? 'SNI ' + x.sni : '', x.client_cert ? 'cert ' + x.client_cert : '', x.resumed ? 'resumed' : ''].filter(Boolean).join(' · ')),
          x.user_agent ? el('div', { class: 'sub mono', 'data-sighting': 'user-agent' }, 'UA ', clipped(x.user_agent, 160)) : null,
          x.ja4 ? el('div', { class: 'sub mono', 'data-sighting': 'ja4' }, 'JA4 ', x.ja4) : null) },
        { label: 'Frame', num: true, render: (x) => num(x.frame) },
        { label: 'Capture file', clip: true, render: (x) => el('span', { class: 'mono' }, x.source) },
      ], data.sightings || [], {}, null, null));
    return [el('div', { class: 'crumbs' }, el('a', { href: '#/devices' }, 'Devices'), ' / ', d.mac || d.id),
      pageHead(el('span', { class: 'mono' }, d.mac || d.id), el('span', null, clsBadge(d.identity), ' ', [d.vendor, d.model].filter(Boolean).join(' ') || 'unidentified model', d.serial ? ` · serial ${d.serial}` : '')),
      el('div', { class: 'grid cols-2' }, identity, findings), el('div', { class: 'grid' }, claims), el('div', { class: 'grid cols-2' }, certPanel, tlsPanel),
      el('div', { class: 'grid' }, handshakes, sightings)];
  }

  // ---- Servers ------------------------------------------------------------
  async function renderServers(params) {
    const limit = 50;
    const [list] = await Promise.all([api('servers', { ...params, limit }), ensureCatalogue()]);
    const state = { sort: params.sort || 'id', desc: params.dir === 'desc' };
    const setFilter = (k, v) => (k === 'q' ? goSearch : go)('servers', firstPage({ ...params, [k]: v }));
    const codes = Object.keys(catalogue).filter((k) => k !== '__summary').sort();
    const toolbar = el('div', { class: 'toolbar' },
      searchBox(params.q, 'Search address or certificate…', (v) => setFilter('q', v)),
      select('cert_request', params.cert_request, [['', 'Client certificates: any'], ['yes', 'Requests client certs'], ['no', 'Never requests'], ['unknown', 'Request not visible']], 'Client certificate requests'),
      select('finding', params.finding, [['', 'Any finding'], ...codes.map((c) => [c, c])], 'Finding code'));
    toolbar.querySelectorAll('select').forEach((sel) => sel.addEventListener('change', () => setFilter(sel.name, sel.value)));
    const columns = [
      { label: 'Server', sort: 'ip', mono: true, render: (r) => r.id },
      { label: 'Port', sort: 'port', num: true, render: (r) => r.port },
      { label: 'Client certs', sort: 'cert_request', render: (r) => serverCertRequest(r, 'requested', 'never') },
      { label: 'TLS', render: (r) => (r.tls_versions || []).join(', ') || el('span', { class: 'muted' }, r.requests_client_cert === null ? 'TLS, version not seen' : 'plain HTTP') },
      { label: 'Certificate', clip: true, narrow: true, render: (r) => r.cert ? el('span', { class: 'mono' }, r.cert.subject) : el('span', { class: 'muted' }, '—') },
      { label: 'SNI', narrow: true, render: (r) => (r.sni || []).join(', ') },
      { label: 'Findings', render: (r) => (r.findings || []).map((f) => el('span', null, sevBadge(f.severity), ' ', codeChip(f.code), ' ')) },
      { label: 'Sessions', sort: 'sessions', num: true, render: (r) => num(r.sessions) },
      { label: 'Devices', sort: 'devices', num: true, render: (r) => el('a', { href: link('devices', { server: r.id }) }, num(r.devices)) },
    ];
    return [pageHead('Provisioning servers', count(list.total, 'server')), toolbar,
      table(columns, list.items, state, (k) => toggleSort(params, state, k, 'servers', k === 'devices' || k === 'sessions'), (r) => link('devices', { server: r.id })),
      offsetPager(params, 'servers', list, limit)];
  }

  // ---- Findings -----------------------------------------------------------
  async function renderFindings(params) {
    const limit = 50;
    const [list] = await Promise.all([api('findings', { ...params, limit }), ensureCatalogue()]);
    const state = { sort: params.sort || 'severity', desc: params.sort ? params.dir === 'desc' : true };
    const setFilter = (k, v) => (k === 'q' ? goSearch : go)('findings', firstPage({ ...params, [k]: v }));
    const byCode = new Map(); // one chip per code, whatever its severities and subject kinds
    for (const r of catalogue.__summary || []) byCode.set(r.code, (byCode.get(r.code) || 0) + r.count);
    const summary = Array.from(byCode, ([code, count]) => ({ code, count }));
    const chips = el('div', { class: 'tabs-inline' }, summary.map((r) => el('a', { class: 'code-chip', href: link('findings', firstPage({ ...params, code: params.code === r.code ? '' : r.code })), 'aria-current': params.code === r.code ? 'true' : null }, `${r.code} · ${num(r.count)}`)));
    const codes = Object.keys(catalogue).filter((k) => k !== '__summary').sort();
    const toolbar = el('div', { class: 'toolbar' },
      searchBox(params.q, 'Search subject or detail…', (v) => setFilter('q', v)),
      select('code', params.code, [['', 'All codes'], ...codes.map((c) => [c, c])], 'Finding code'),
      select('severity', params.severity, [['', 'All severities'], ...SEVERITIES.map((c) => [c, c])], 'Severity'),
      select('kind', params.kind, [['', 'Devices and servers'], ['device', 'Devices'], ['server', 'Servers']], 'Subject kind'),
      params.code || params.severity || params.kind || params.q ? el('a', { class: 'btn', href: '#/findings' }, 'Clear') : null,
      el('span', { class: 'spacer' }),
      params.code ? el('span', { class: 'btn-label' }, 'Export devices with this finding') : null,
      params.code ? el('span', { class: 'btn-group' }, ['csv', 'json', 'html'].map((f) => el('a', { class: 'btn', download: '', href: '/api/export?' + new URLSearchParams({ format: f, finding: params.code }) }, f.toUpperCase()))) : null);
    toolbar.querySelectorAll('select').forEach((sel) => sel.addEventListener('change', () => setFilter(sel.name, sel.value)));
    const info = params.code && catalogue[params.code];
    const explain = info ? el('div', { class: 'finding' }, el('div', { class: 'head' }, codeChip(params.code), info.title), el('p', { class: 'what' }, info.meaning), el('p', null, el('b', null, 'What to do: '), info.action)) : null;
    const columns = [
      { label: 'Severity', sort: 'severity', render: (r) => sevBadge(r.severity) },
      { label: 'Code', sort: 'code', render: (r) => el('div', null, codeChip(r.code), el('div', { class: 'sub' }, codeTitle(r.code))) },
      { label: 'Subject', sort: 'subject', render: (r) => r.kind === 'device' ? el('a', { class: 'mono', href: deviceLink(r.subject) }, r.subject) : el('a', { class: 'mono', href: link('servers', { q: r.subject }) }, r.subject) },
      { label: 'Device', narrow: true, render: (r) => r.kind === 'device' ? el('div', null, r.identity ? clsBadge(r.identity) : null, ' ', r.model || '', el('div', { class: 'sub mono' }, (r.ips || []).join(', '))) : el('span', { class: 'muted' }, 'server') },
      { label: 'Detail', sort: 'detail', clip: true, render: (r) => r.detail },
    ];
    return [pageHead('Findings', `${totalText(list)} ${exactlyOne(list) ? 'finding' : 'findings'}`), chips, toolbar, explain,
      table(columns, list.items, state, (k) => toggleSort(params, state, k, 'findings', k === 'severity'), (r) => (r.kind === 'device' ? deviceLink(r.subject) : link('servers', { q: r.subject }))),
      offsetPager(params, 'findings', list, limit)];
  }

  // Sightings past --max-sightings are stored, not audited (the count is the last run's, set again by every run).
  function limitBanner(n) {
    return n > 0 ? el('div', { class: 'banner warn', role: 'status', 'data-banner': 'audit-limit' },
      `${num(n)} sightings are stored but not audited (--max-sightings): devices and findings come from the first ones and from those that brought something new. `,
      'Start a new database for the next period, or run with a higher limit to audit them.') : null;
  }

  // ---- Render loop --------------------------------------------------------
  async function render(quiet) {
    const seq = ++renderSeq;
    const { page, arg, params } = parseHash();
    const turned = pageTurn !== null && pageTurn === location.hash;
    if (turned) pageTurn = null;
    // The search box as this render found it: text typed into it while the page loads is kept.
    const boxBefore = page === lastPage ? view.querySelector('[data-search]') : null;
    const typedBefore = boxBefore ? boxBefore.value : null;
    document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === (page === 'device' ? 'devices' : page)));
    // Within one page (filters, sorting, paging) the old view stays until the new one is ready,
    // so the search box keeps its focus while the user types.
    if (!quiet && page !== lastPage) view.replaceChildren(el('div', { class: 'skeleton' }, 'Loading…'));
    lastPage = page;
    let content;
    try {
      if (arg === null) content = brokenLink();
      else if (page === 'devices') content = await renderDevices(params);
      else if (page === 'device') content = await renderDevice(arg, params);
      else if (page === 'servers') content = await renderServers(params);
      else if (page === 'findings') content = await renderFindings(params);
      else content = await renderOverview();
      content = [content].flat();
      // Every page's results are partial when sightings were left out: each says so under its title.
      const banner = limitBanner(leftOut);
      if (banner) content.splice(content.findIndex((n) => n && n.classList && n.classList.contains('page-head')) + 1, 0, banner);
    } catch (e) {
      content = [el('div', { class: 'banner error', role: 'alert' }, 'Could not load this view: ', e.message)];
    }
    if (seq !== renderSeq) return; // a newer navigation won
    const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.search ? document.activeElement : null;
    // A pager's control keeps the focus across its own page turn (keyboard users page on);
    // a button that the turn disabled (Next on the last page) hands it to the view.
    const active = document.activeElement;
    const pager = active && active.closest ? active.closest('[data-pager]') : null;
    const pagerControl = pager && active.dataset
      ? (active.dataset.page ? `[data-page="${active.dataset.page}"]` : active.dataset.filter ? `[data-filter="${active.dataset.filter}"]` : null) : null;
    view.replaceChildren(...[content].flat().filter((n) => n !== null && n !== undefined));
    if (pager) {
      const again = pagerControl ? view.querySelector(`[data-pager="${pager.dataset.pager}"] ${pagerControl}`) : null;
      if (again && !again.disabled) again.focus({ preventScroll: turned });
      else view.focus({ preventScroll: true });
    }
    if (turned) {
      // The new page is read from its top: the list (or the panel of the pager) is brought up
      // under the top bar when the turn was made from below it.
      const box = view.querySelector(pager ? `[data-pager="${pager.dataset.pager}"]` : '[data-pager]');
      const list = (box && box.closest('section')) || view.querySelector('.table-wrap');
      const top = list ? list.getBoundingClientRect().top - document.querySelector('.topbar').offsetHeight - 8 : 0;
      if (top < 0) window.scrollBy(0, top);
    }
    const titles = { devices: 'Devices', device: 'Device', servers: 'Servers', findings: 'Findings' };
    document.title = (titles[page] || 'Overview') + ' · provaudit';
    if (focused) {
      const again = view.querySelector('[data-search]');
      if (again) {
        // The box as the user left it (text typed while this page loaded is not in params.q yet),
        // unless the navigation brought another search (Back) and nothing was typed since.
        const text = focused.value;
        if (boxBefore && (text !== typedBefore || text.trim() === (params.q || ''))) {
          again.value = text;
          again.setSelectionRange(focused.selectionStart, focused.selectionEnd, focused.selectionDirection);
        }
        again.focus();
        if (searchTimer !== null) again.dispatchEvent(new Event('input')); // its pending search, from here
      }
    }
    selected = -1;
  }
  function brokenLink() {
    return [pageHead('Not found', null),
      el('div', { class: 'banner error', role: 'alert', 'data-banner': 'bad-link' },
        'This link is broken: its address does not decode (a malformed %-escape; cut when copied?). ',
        el('a', { href: '#/devices' }, 'Go to the devices'), ' to find the device again.')];
  }

  // ---- Keyboard -----------------------------------------------------------
  let selected = -1;
  let pendingG = false;
  function rows() { return Array.from(view.querySelectorAll('tbody tr.clickable')); }
  function select_(i) {
    const r = rows();
    if (!r.length) return;
    selected = Math.max(0, Math.min(r.length - 1, i));
    r.forEach((tr, j) => tr.classList.toggle('selected', j === selected));
    r[selected].scrollIntoView({ block: 'nearest' });
  }
  document.addEventListener('keydown', (e) => {
    const typing = e.target.closest && e.target.closest('input, select, textarea');
    if (e.key === 'Escape') {
      if (typing) { e.target.blur(); return; }
      const { page } = parseHash();
      if (page === 'device') history.back();
      return;
    }
    if (typing || e.metaKey || e.ctrlKey || e.altKey) return;
    if (pendingG) {
      pendingG = false;
      const dest = { o: '#/', d: '#/devices', s: '#/servers', f: '#/findings' }[e.key];
      if (dest) { location.hash = dest; e.preventDefault(); }
      return;
    }
    if (e.key === 'g') { pendingG = true; setTimeout(() => { pendingG = false; }, 1200); return; }
    if (e.key === '/') { const s = view.querySelector('[data-search]'); if (s) { e.preventDefault(); s.focus(); s.select(); } return; }
    if (e.key === 'j') { select_(selected + 1); e.preventDefault(); }
    else if (e.key === 'k') { select_(selected - 1); e.preventDefault(); }
    else if (e.key === 'Enter' && selected >= 0) { const r = rows()[selected]; if (r) location.hash = r.dataset.href; }
    else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const b = view.querySelector(`[data-page=${e.key === 'ArrowRight' ? 'next' : 'prev'}]`);
      if (b && !b.disabled) b.click();
    }
  });

  // ---- Live updates: poll a cheap change counter, re-render on change -----
  async function poll() {
    try {
      const r = await fetch('/api/change', { credentials: 'same-origin' });
      if (r.status === 401) { signIn(); return; }
      if (!r.ok) throw new Error(r.status === 503 ? 'database busy' : 'offline');
      const { change, auth, sightings_left_out: left } = await r.json();
      leftOut = left || 0; // written in the writer's commit: `change` moves with it
      document.getElementById('signout').hidden = !auth; // signing out means something only with --token
      live.className = 'live ok';
      liveText.textContent = 'live · ' + new Date().toLocaleTimeString();
      if (lastChange !== null && change !== lastChange) {
        catalogue = null;
        live.classList.add('pulse');
        await render(true);
      }
      lastChange = change;
    } catch (e) {
      live.className = 'live err';
      liveText.textContent = e.message === 'database busy' ? 'database busy' : 'offline';
    }
    setTimeout(poll, POLL_MS);
  }

  window.addEventListener('hashchange', () => {
    // Focus stays where the user works: a toolbar being typed in, a pager being paged (render gives it back).
    const typing = document.activeElement && document.activeElement.closest && document.activeElement.closest('.toolbar, [data-pager]');
    render(false);
    if (!typing) view.focus({ preventScroll: true });
  });
  poll().finally(() => render(false)); // the first answer brings the banner's count
})();
