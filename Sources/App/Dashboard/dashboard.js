// olla's dashboard (DESIGN.md 6.10). Polls olla's own JSON every 2 s and redraws the page.
//
// Safety rule of this file: a value from olla (host names, URLs, model ids, error reasons) only ever reaches
// the page as a text node (textContent, append of a string) or an attribute set with setAttribute. There is
// no markup made from strings anywhere in this file, so a model id such as <script>alert(1)</script> is shown
// as the text it is.
'use strict';

(() => {
  const REFRESH_MS = 2000;
  const TIMEOUT_MS = 1800;
  const WINDOW_SECONDS = 300;
  const MAX_EVENTS = 60;

  const state = {
    polls: 0,
    lastSuccess: null,
    lastFailure: null,
    statuses: new Map(),
    // /olla/models needs the API key when server.api_keys is set, which the page cannot send; then it falls
    // back to /internal/status/models, which has no per-host load state.
    modelsRoute: '/olla/models',
  };

  // MARK: small DOM helpers

  const byId = (id) => document.getElementById(id);

  /** An element with a class and children; strings become text nodes, never markup. */
  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svgEl(tag, attributes) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    return node;
  }

  function setText(id, text, tone) {
    const node = byId(id);
    node.textContent = text;
    if (tone !== undefined) node.className = 'tile-value' + (tone ? ' ' + tone : '');
  }

  /** Shows an error of the page itself (not a failed poll) where an operator and the tests can read it. */
  function reportError(error) {
    const box = byId('page-errors');
    if (!box) return;
    const message = error && error.stack ? error.stack : String(error);
    box.hidden = false;
    box.textContent = (box.textContent ? box.textContent + '\n' : '') + message;
  }
  window.addEventListener('error', (event) => reportError(event.error || event.message));
  window.addEventListener('unhandledrejection', (event) => reportError(event.reason));

  // MARK: formatting

  const isNumber = (value) => typeof value === 'number' && Number.isFinite(value);

  function formatRate(value) {
    if (!isNumber(value)) return '–';
    if (value === 0) return '0';
    return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  }

  function formatMilliseconds(value) {
    if (!isNumber(value)) return '–';
    if (value >= 10000) return (value / 1000).toFixed(0) + ' s';
    if (value >= 1000) return (value / 1000).toFixed(1) + ' s';
    return value.toFixed(value >= 100 ? 0 : 1) + ' ms';
  }

  function formatDuration(seconds) {
    if (!isNumber(seconds)) return '–';
    const total = Math.max(0, Math.floor(seconds));
    const days = Math.floor(total / 86400);
    const hours = Math.floor((total % 86400) / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const rest = total % 60;
    if (days > 0) return `${days}d ${hours}h ${minutes}m`;
    if (hours > 0) return `${hours}h ${minutes}m`;
    if (minutes > 0) return `${minutes}m ${rest}s`;
    return `${rest}s`;
  }

  /** "4s ago" or "in 2s" for an RFC 3339 time; "–" when there is none. */
  function relative(time, now) {
    if (!time) return '–';
    const at = Date.parse(time);
    if (Number.isNaN(at)) return '–';
    const seconds = Math.round((at - now) / 1000);
    if (seconds === 0) return 'now';
    return seconds < 0 ? `${formatDuration(-seconds)} ago` : `in ${formatDuration(seconds)}`;
  }

  function clock(time) {
    return new Date(time).toLocaleTimeString([], { hour12: false });
  }

  const statusClass = (status) =>
    ['healthy', 'unhealthy', 'offline'].includes(status) ? status : 'unknown';

  // MARK: polling

  class PollError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function getJSON(path) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      let response;
      try {
        response = await fetch(path, { signal: controller.signal, cache: 'no-store' });
      } catch (error) {
        throw new PollError(`${path}: ${controller.signal.aborted ? 'no answer in time' : 'olla unreachable'}`);
      }
      if (!response.ok) throw new PollError(`${path}: HTTP ${response.status}`, response.status);
      return await response.json();
    } finally {
      clearTimeout(timer);
    }
  }

  async function getModels() {
    try {
      return { route: state.modelsRoute, body: await getJSON(state.modelsRoute) };
    } catch (error) {
      if (state.modelsRoute === '/olla/models' && error.status === 401) {
        state.modelsRoute = '/internal/status/models';
        return { route: state.modelsRoute, body: await getJSON(state.modelsRoute) };
      }
      throw error;
    }
  }

  async function poll() {
    const started = Date.now();
    let data = null;
    try {
      const [endpoints, models, traffic] = await Promise.all([
        getJSON('/internal/status/endpoints'),
        getModels(),
        getJSON('/internal/stats/traffic'),
      ]);
      data = { endpoints, models, traffic };
    } catch (error) {
      state.lastFailure = { at: Date.now(), reason: error.message || String(error) };
    }
    if (data) {
      try {
        render(data);
        state.polls += 1;
        state.lastSuccess = Date.now();
        state.lastFailure = null;
        document.body.dataset.polls = String(state.polls);
      } catch (error) {
        reportError(error);
      }
    }
    renderFreshness();
    setTimeout(poll, Math.max(200, REFRESH_MS - (Date.now() - started)));
  }

  /** The "live" or "stale" mark; called after each poll and every second in between. */
  function renderFreshness() {
    const pill = byId('freshness');
    const now = Date.now();
    if (state.lastFailure) {
      document.body.dataset.state = 'stale';
      pill.className = 'pill pill-stale';
      const since = state.lastSuccess ? `data from ${formatDuration((now - state.lastSuccess) / 1000)} ago` : 'no data yet';
      pill.textContent = `stale · ${since} · ${state.lastFailure.reason}`;
    } else if (state.lastSuccess) {
      document.body.dataset.state = 'live';
      pill.className = 'pill pill-live';
      pill.textContent = 'live · every 2 s';
    }
    if (state.lastSuccess) byId('updated').textContent = clock(state.lastSuccess);
  }

  // MARK: rendering

  function render({ endpoints, models, traffic }) {
    // "3s ago" and "in 2s" are measured against olla's clock, which stamped the check times: the browser's
    // clock may be minutes off on another machine.
    const now = Date.parse(endpoints.timestamp) || Date.now();
    const hosts = Array.isArray(endpoints.endpoints) ? endpoints.endpoints : [];
    const trafficByHost = new Map((traffic.endpoints || []).map((entry) => [entry.name, entry]));
    renderHeader(traffic);
    renderTiles(endpoints, traffic);
    renderHosts(hosts, trafficByHost, now);
    renderCharts(traffic, hosts);
    renderModels(models, hosts);
    renderEvents(hosts, now);
  }

  function renderHeader(traffic) {
    byId('version').textContent = `v${traffic.version || '?'} · ${traffic.build || ''}`;
    byId('uptime').textContent = formatDuration(traffic.uptime_seconds);
    const file = byId('config-file');
    file.textContent = traffic.config_file || 'built-in (no file)';
    file.setAttribute('title', traffic.config_file || '');
  }

  function renderTiles(endpoints, traffic) {
    const total = endpoints.total_count || 0;
    const healthy = endpoints.healthy_count || 0;
    setText('tile-hosts', `${healthy} / ${total}`, healthy === total && total > 0 ? 'good' : healthy === 0 ? 'bad' : 'warn');
    const window = traffic.window || {};
    const now = traffic.now || {};
    setText('tile-rate', formatRate(now.requests_per_second), '');
    setText('tile-p50', formatMilliseconds(window.ttfb_p50_ms), '');
    setText('tile-p95', formatMilliseconds(window.ttfb_p95_ms), '');
    setText('tile-failovers', String(window.failovers ?? '–'), window.failovers > 0 ? 'warn' : '');
    setText('tile-cuts', String(window.mid_stream_cuts ?? '–'), window.mid_stream_cuts > 0 ? 'bad' : '');
    setText('tile-errors', String(window.server_errors ?? '–'), window.server_errors > 0 ? 'bad' : '');
    setText('tile-queue', String(now.queue_depth ?? '–'), now.queue_depth > 0 ? 'warn' : '');
    byId('tile-affinity-box').hidden = !isNumber(window.affinity_hits);
    if (isNumber(window.affinity_hits)) setText('tile-affinity', String(window.affinity_hits), '');
    byId('tile-slots-box').hidden = !isNumber(window.slot_waits);
    if (isNumber(window.slot_waits)) setText('tile-slots', String(window.slot_waits), window.slot_waits > 0 ? 'warn' : '');
  }

  function loadCell(host, traffic) {
    const inFlight = host.in_flight || 0;
    // Slots (LM Studio 0.4, DESIGN.md 6.7) when olla reports them, else the configured max_concurrency.
    let limit = null;
    let unit = '';
    if (isNumber(host.slots) && host.slots > 0) {
      limit = host.slots;
      unit = ' slots';
    } else if (traffic && isNumber(traffic.max_concurrency) && traffic.max_concurrency > 0) {
      limit = traffic.max_concurrency;
    }
    const used = isNumber(host.slots_in_use) ? host.slots_in_use : inFlight;
    const text = limit === null ? `${inFlight} / ∞` : `${used} / ${limit}${unit}`;
    const bar = el('div', 'bar');
    const fill = el('div', 'bar-fill' + (limit !== null && used >= limit ? ' full' : ''));
    const share = limit === null ? Math.min(inFlight / 8, 1) : Math.min(used / limit, 1);
    fill.style.width = `${Math.round(share * 100)}%`;
    bar.append(fill);
    return el('div', 'load', bar, text);
  }

  function renderHosts(hosts, trafficByHost, now) {
    const table = byId('hosts');
    const withApi = hosts.some((host) => host.api !== undefined && host.api !== null);
    table.classList.toggle('no-api', !withApi);
    const rows = hosts.map((host) => {
      const status = statusClass(host.status);
      const traffic = trafficByHost.get(host.name);
      const statusCell = el('td', null, el('span', `pill pill-${status}`, host.status || 'unknown'));
      if (status !== 'healthy' && host.last_error) statusCell.append(el('div', 'reason', host.last_error));
      const row = el(
        'tr',
        `row-${status}`,
        el('td', null, el('div', 'host-name', host.name), el('div', 'host-url', host.url)),
        statusCell,
        el('td', 'num', isNumber(host.priority) ? String(host.priority) : '–'),
        el('td', 'api-column', host.api === undefined || host.api === null ? '–' : String(host.api)),
        el('td', null, loadCell(host, traffic)),
        el('td', 'num', traffic ? formatRate(traffic.requests_per_second) : '–'),
        el('td', 'num', isNumber(host.request_count) ? String(host.request_count) : '–'),
        el('td', 'num', host.request_count > 0 && isNumber(host.success_rate) ? `${(host.success_rate * 100).toFixed(1)}%` : '–'),
        el('td', 'num', host.request_count > 0 ? formatMilliseconds(host.avg_latency_ms) : '–'),
        el('td', null, relative(host.last_check_at, now)),
        el('td', null, relative(host.next_check_at, now)),
      );
      row.setAttribute('data-host', host.name);
      row.setAttribute('data-status', status);
      return row;
    });
    if (rows.length === 0) rows.push(el('tr', null, el('td', 'muted', 'no hosts configured')));
    table.tBodies[0].replaceChildren(...rows);
  }

  // MARK: models

  /** Model id -> host name -> { state, status, slots }, from either models route. */
  function modelMatrix(models, hosts) {
    const matrix = new Map();
    const statusOf = new Map(hosts.map((host) => [host.name, host.status]));
    if (models.route === '/olla/models') {
      for (const entry of models.body.data || []) {
        const cells = new Map();
        for (const place of (entry.olla && entry.olla.availability) || []) {
          cells.set(place.endpoint, { state: place.state, status: place.status, slots: place.slots, inUse: place.slots_in_use });
        }
        matrix.set(entry.id, cells);
      }
    } else {
      for (const entry of models.body.models || []) {
        const cells = new Map();
        for (const name of entry.endpoints || []) cells.set(name, { state: null, status: statusOf.get(name) });
        matrix.set(entry.name, cells);
      }
    }
    return matrix;
  }

  function modelCell(cell) {
    if (!cell) return el('span', 'cell cell-absent', '·');
    if (cell.status && cell.status !== 'healthy') {
      const node = el('span', 'cell cell-down', `host ${cell.status}`);
      node.setAttribute('title', cell.state ? `${cell.state} when last seen` : '');
      return node;
    }
    const slots = isNumber(cell.slots) ? ` · ${isNumber(cell.inUse) ? cell.inUse : 0}/${cell.slots}` : '';
    if (cell.state === 'loaded') return el('span', 'cell cell-loaded', `● loaded${slots}`);
    if (cell.state === 'not-loaded') return el('span', 'cell cell-not-loaded', '○ not loaded');
    return el('span', 'cell cell-not-loaded', 'present');
  }

  function renderModels(models, hosts) {
    const table = byId('models');
    const note = byId('models-note');
    note.hidden = models.route === '/olla/models';
    note.textContent = note.hidden ? '' : 'server.api_keys is set: load state per host is not shown (it needs /olla/models).';
    const names = hosts.map((host) => host.name);
    const head = el('tr', null, el('th', null, 'model'));
    for (const name of names) head.append(el('th', null, name));
    table.tHead.replaceChildren(head);
    const matrix = modelMatrix(models, hosts);
    const ids = [...matrix.keys()].sort((a, b) => a.localeCompare(b));
    const rows = ids.map((id) => {
      const row = el('tr', null, el('td', 'model-id', id));
      row.setAttribute('data-model', id);
      for (const name of names) row.append(el('td', null, modelCell(matrix.get(id).get(name))));
      return row;
    });
    if (rows.length === 0) rows.push(el('tr', null, el('td', 'muted', 'no models known yet')));
    table.tBodies[0].replaceChildren(...rows);
  }

  // MARK: events

  function renderEvents(hosts, now) {
    const list = byId('events');
    for (const host of hosts) {
      const before = state.statuses.get(host.name);
      state.statuses.set(host.name, host.status);
      if (before === undefined || before === host.status) continue;
      const reason = host.status !== 'healthy' && host.last_error ? ` (${host.last_error})` : '';
      const item = el(
        'li',
        null,
        el('span', 'when', clock(now)),
        el('b', null, host.name),
        ` ${before} → `,
        el('span', `pill pill-${statusClass(host.status)}`, host.status),
        reason,
      );
      list.prepend(item);
    }
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
    const empty = list.querySelector('.empty');
    if (list.children.length === 0) list.append(el('li', 'empty', 'no status change since this page opened'));
    else if (empty && list.children.length > 1) empty.remove();
  }

  // MARK: charts

  const CHART_WIDTH = 300;
  const CHART_HEIGHT = 86;

  /** A maximum for the y axis: the data's, rounded up to 1, 2 or 5 times a power of ten. */
  function niceMaximum(value, floor) {
    const top = Math.max(value, floor);
    const power = Math.pow(10, Math.floor(Math.log10(top)));
    for (const step of [1, 2, 5, 10]) if (step * power >= top) return step * power;
    return 10 * power;
  }

  function chartCard(title, now, legend) {
    const card = el('div', 'chart');
    card.append(el('div', 'chart-head', el('span', 'chart-title', title), el('span', 'chart-now', now)));
    const svg = svgEl('svg', { viewBox: `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`, preserveAspectRatio: 'none', role: 'img' });
    const label = svgEl('title');
    label.textContent = title;
    svg.append(label);
    card.append(svg);
    const foot = el('div', 'chart-foot', el('span', null, '−5 min'), el('span', 'chart-max', ''), el('span', null, 'now'));
    card.append(foot);
    if (legend.length > 0) {
      const keys = el('div', 'legend');
      for (const [label, className] of legend) keys.append(el('span', null, el('span', `swatch ${className}`), label));
      card.append(keys);
    }
    return { card, svg, foot };
  }

  /**
   * Draws series over the last five minutes. kind: 'line' (nulls break the line), 'bars' (side by side in
   * each step) or 'stacked' (areas stacked in series order).
   */
  function drawChart(svg, foot, times, series, kind, unit, floor) {
    const end = times.length > 0 ? times[times.length - 1] : Date.now() / 1000;
    const start = end - WINDOW_SECONDS;
    const x = (time) => ((time - start) / WINDOW_SECONDS) * CHART_WIDTH;
    let maximum = 0;
    if (kind === 'stacked') {
      times.forEach((_, index) => {
        maximum = Math.max(maximum, series.reduce((sum, s) => sum + (s.values[index] || 0), 0));
      });
    } else {
      for (const s of series) for (const value of s.values) if (isNumber(value)) maximum = Math.max(maximum, value);
    }
    const top = niceMaximum(maximum, floor);
    const y = (value) => CHART_HEIGHT - 2 - (value / top) * (CHART_HEIGHT - 6);
    for (const fraction of [0.5, 1]) {
      svg.append(svgEl('line', { class: 'axis', x1: 0, x2: CHART_WIDTH, y1: y(top * fraction), y2: y(top * fraction), 'stroke-dasharray': '2 3', 'vector-effect': 'non-scaling-stroke' }));
    }
    svg.append(svgEl('line', { class: 'axis', x1: 0, x2: CHART_WIDTH, y1: y(0), y2: y(0), 'vector-effect': 'non-scaling-stroke' }));
    foot.querySelector('.chart-max').textContent = `max ${unit(top)}`;
    const stepWidth = (5 / WINDOW_SECONDS) * CHART_WIDTH;

    if (kind === 'stacked') {
      const base = times.map(() => 0);
      for (const s of series) {
        const upper = times.map((_, index) => base[index] + (s.values[index] || 0));
        if (times.length > 1 && upper.some((value, index) => value > base[index])) {
          const upperEdge = times.map((time, index) => `${x(time).toFixed(1)},${y(upper[index]).toFixed(1)}`);
          const lowerEdge = times.map((time, index) => `${x(time).toFixed(1)},${y(base[index]).toFixed(1)}`).reverse();
          svg.append(svgEl('polygon', { class: `area ${s.className}`, points: upperEdge.concat(lowerEdge).join(' ') }));
          svg.append(svgEl('polyline', { class: `line ${s.className}`, points: upperEdge.join(' '), 'vector-effect': 'non-scaling-stroke' }));
        }
        upper.forEach((value, index) => { base[index] = value; });
      }
    } else if (kind === 'bars') {
      const width = Math.max(stepWidth / Math.max(series.length, 1) - 0.3, 0.4);
      series.forEach((s, position) => {
        times.forEach((time, index) => {
          const value = s.values[index];
          if (!isNumber(value) || value <= 0) return;
          const left = x(time) - stepWidth + position * (stepWidth / series.length);
          svg.append(svgEl('rect', { class: s.className, x: left.toFixed(2), y: y(value).toFixed(1), width: width.toFixed(2), height: (y(0) - y(value)).toFixed(1) }));
        });
      });
    } else {
      for (const s of series) {
        let run = [];
        const flush = () => {
          if (run.length > 1) svg.append(svgEl('polyline', { class: `line ${s.className}`, points: run.join(' '), 'vector-effect': 'non-scaling-stroke' }));
          if (run.length === 1) {
            const [cx, cy] = run[0].split(',');
            svg.append(svgEl('circle', { class: s.className, cx, cy, r: 1.5 }));
          }
          run = [];
        };
        times.forEach((time, index) => {
          const value = s.values[index];
          if (isNumber(value)) run.push(`${x(time).toFixed(1)},${y(value).toFixed(1)}`);
          else flush();
        });
        flush();
      }
    }
  }

  function renderCharts(traffic, hosts) {
    const series = traffic.series || {};
    const times = series.time || [];
    const window = traffic.window || {};
    const now = traffic.now || {};
    const byHost = series.requests_per_second_by_endpoint || {};
    const count = (value) => String(Math.round(value));
    const charts = [];

    const hostSeries = hosts.map((host, index) => ({
      label: host.name,
      className: `c${index % 8}`,
      values: byHost[host.name] || [],
    }));
    charts.push({
      title: 'requests / s by host',
      now: formatRate(now.requests_per_second),
      kind: 'stacked',
      series: hostSeries,
      unit: formatRate,
      floor: 1,
    });
    charts.push({
      title: 'time to first byte',
      now: `${formatMilliseconds(window.ttfb_p50_ms)} · ${formatMilliseconds(window.ttfb_p95_ms)}`,
      kind: 'line',
      series: [
        { label: 'p50', className: 's-p50', values: series.ttfb_p50_ms || [] },
        { label: 'p95', className: 's-p95', values: series.ttfb_p95_ms || [] },
      ],
      unit: formatMilliseconds,
      floor: 10,
    });
    charts.push({
      title: 'failovers · cuts · 5xx per 5 s',
      now: `${window.failovers ?? 0} · ${window.mid_stream_cuts ?? 0} · ${window.server_errors ?? 0}`,
      kind: 'bars',
      series: [
        { label: 'failovers', className: 's-failovers', values: series.failovers || [] },
        { label: 'mid-stream cuts', className: 's-cuts', values: series.mid_stream_cuts || [] },
        { label: '5xx answers', className: 's-errors', values: series.server_errors || [] },
      ],
      unit: count,
      floor: 1,
    });
    charts.push({
      title: 'queue depth · in flight',
      now: `${now.queue_depth ?? 0} · ${now.in_flight ?? 0}`,
      kind: 'line',
      series: [
        { label: 'queued (max per 5 s)', className: 's-queue', values: series.queue_depth || [] },
        { label: 'in flight (max per 5 s)', className: 's-inflight', values: series.in_flight || [] },
      ],
      unit: count,
      floor: 1,
    });
    if (Array.isArray(series.affinity_hits)) {
      charts.push({
        title: 'affinity hits per 5 s',
        now: String(window.affinity_hits ?? 0),
        kind: 'bars',
        series: [{ label: 'hits', className: 's-affinity', values: series.affinity_hits }],
        unit: count,
        floor: 1,
      });
    }
    if (Array.isArray(series.slot_waits)) {
      charts.push({
        title: 'slot waits per 5 s',
        now: String(window.slot_waits ?? 0),
        kind: 'bars',
        series: [{ label: 'waits', className: 's-slots', values: series.slot_waits }],
        unit: count,
        floor: 1,
      });
    }

    const cards = charts.map((chart) => {
      const legend = chart.series.length > 1 ? chart.series.map((s) => [s.label, s.className]) : [];
      const { card, svg, foot } = chartCard(chart.title, chart.now, legend);
      drawChart(svg, foot, times, chart.series, chart.kind, chart.unit, chart.floor);
      return card;
    });
    byId('charts').replaceChildren(...cards);
  }

  // MARK: start

  function start() {
    setInterval(renderFreshness, 1000);
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
