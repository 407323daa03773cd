// The keeper's dashboard: polls the keeper's JSON every two seconds and redraws.
// Everything is built with textContent (never innerHTML): addresses, reasons and errors
// come from the chain and the store, and none of it may become markup.
'use strict';

const POLL_MS = 2000;
const state = { standing: null, search: '', thread: null, actions: false, paused: false };

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells) {
  const tr = el('tr');
  for (const cell of cells) {
    tr.append(cell instanceof Node ? wrapCell(cell) : el('td', cell));
  }
  return tr;
}

function wrapCell(node) {
  const td = el('td');
  td.append(node);
  return td;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const td = el('td', empty, 'muted');
    td.colSpan = columns;
    const tr = el('tr');
    tr.append(td);
    tbody.append(tr);
  }
}

function short(key) {
  return key && key.length > 12 ? `${key.slice(0, 6)}…${key.slice(-4)}` : key || '';
}

function when(unix) {
  if (unix === null || unix === undefined) return '—';
  return new Date(unix * 1000).toISOString().replace('T', ' ').replace('.000Z', 'Z');
}

function inWords(seconds) {
  const s = Math.abs(seconds);
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

function nextDue(due) {
  switch (due.kind) {
    case 'now': return 'now';
    case 'time': return `${when(due.unix_ts)} (${inWords(due.in_secs)})`;
    case 'slot': return `slot ${due.slot}`;
    case 'epoch': return `epoch ${due.epoch}`;
    case 'account_change': return 'on account change';
    case 'condition': return due.armed ? 'when its condition is met' : 'when its value re-arms (back past the threshold)';
    case 'never': return 'never';
    default: return due.kind;
  }
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${path}: HTTP ${response.status}`);
  return body;
}

function threadLink(address) {
  const a = el('a', short(address), 'mono');
  a.href = `#thread=${address}`;
  a.title = address;
  a.dataset.address = address;
  return a;
}

function drawOverview(o) {
  $('keeper').textContent = short(o.keeper);
  $('keeper').title = o.keeper;
  $('mode').textContent = o.paused ? 'paused by an operator' : `mode ${o.mode}`;
  $('mode').className = `badge ${o.mode === 'full' ? 'ok' : 'warn'}`;
  $('leadership').textContent = o.leadership;
  $('fleet').hidden = !o.fleet;
  if (o.fleet) {
    $('fleet').textContent = `fleet queue ${o.fleet.pending} pending · ${o.fleet.dead_letters} dead · ${o.fleet.spooled} spooled here`;
    $('fleet').className = `badge ${o.fleet.dead_letters > 0 || o.fleet.spooled > 0 ? 'warn' : 'ok'}`;
  }
  $('slot').textContent = o.slot === null ? 'slot unknown' : `slot ${o.slot} · chain time ${when(o.chain_time)}`;
  const checks = Object.entries(o.checks || {}).map(([name, check]) => {
    const status = check.status || check;
    const li = el('li');
    li.append(el('span', status.healthy === false ? '✗ ' : '✓ ', status.healthy === false ? 'state-dead' : 'state-confirmed'));
    li.append(el('strong', name), el('span', status.message ? ` ${status.message}` : '', 'muted'));
    return li;
  });
  $('checks').replaceChildren(...checks);
  fill($('endpoints').tBodies[0], o.endpoints.map((e) => {
    const tr = row([e.endpoint, e.breaker]);
    tr.cells[1].className = `breaker-${e.breaker}`;
    return tr;
  }), 'one endpoint, no breaker (a single in-process chain)', 2);
  drawCounts(o.threads || {});
  $('dlq-count').textContent = o.dlq === null ? '?' : String(o.dlq);
  state.actions = o.actions;
  state.paused = o.paused;
  $('token-form').hidden = !o.actions;
  $('pause').hidden = !o.actions;
  $('pause').textContent = o.paused ? 'Resume the keeper' : 'Pause the keeper';
}

function drawCounts(counts) {
  const names = ['total', 'due', 'due_soon', 'waiting', 'watching', 'paused', 'done', 'durable', 'leased', 'leased_by_me'];
  const buttons = names.map((name) => {
    const button = el('button', `${name.replace(/_/g, ' ')} ${counts[name] ?? 0}`);
    button.type = 'button';
    button.dataset.standing = name;
    const filter = name === 'total' ? null : name;
    if (state.standing === filter) button.classList.add('on');
    button.addEventListener('click', () => { state.standing = filter; refresh(); });
    return button;
  });
  $('counts').replaceChildren(...buttons);
}

function keepThread(t) {
  switch (state.standing) {
    case null: return true;
    case 'durable': return t.durable;
    case 'leased': return t.lease_holder !== null;
    case 'leased_by_me': return t.leased_by_me;
    default: return t.standing === state.standing;
  }
}

function drawThreads(list) {
  const shown = list.threads.filter(keepThread);
  $('matched').textContent = `${shown.length} shown of ${list.matched} tracked${state.search ? ` starting with “${state.search}”` : ''}`;
  fill($('threads').tBodies[0], shown.map((t) => {
    const tr = row([threadLink(t.address), t.standing.replace(/_/g, ' '), nextDue(t.next_due), t.exec_count,
      t.durable ? 'yes' : 'no', t.lease_holder ? (t.leased_by_me ? 'this keeper' : short(t.lease_holder)) : '—']);
    tr.dataset.address = t.address;
    tr.cells[3].className = 'runs';
    return tr;
  }), 'no thread matches', 6);
}

function drawThread(x) {
  $('thread-address').textContent = x.address;
  $('verdict').textContent = x.verdict.text;
  $('verdict').dataset.kind = x.verdict.kind;
  const facts = [
    ['owner', x.owner], ['id', x.id], ['trigger', x.trigger], ['next due', x.next_due],
    ['paused', x.paused ? 'yes' : 'no'], ['runs', x.exec_count], ['fee per run', `${x.fee_per_exec} lamports`],
    ['balance', `${x.balance} lamports (${x.reserved} reserved, ${x.spare} spare)`],
    ['runway', x.runway.executions === null ? 'runs are free' : `${x.runway.executions} runs`],
    ['rate limit', x.rate_limit], ['durable', x.durable ? 'yes' : 'no'],
    ['nonce', x.nonce || '—'], ['lease', x.lease || '—'],
  ];
  fill($('thread-facts').tBodies[0], facts.map(([k, v]) => {
    const tr = row([k, v]);
    tr.cells[0].className = 'muted';
    tr.cells[1].className = 'wrap';
    return tr;
  }), '', 2);
  const attempts = x.keeper ? x.keeper.executions : [];
  const lines = attempts.map((line) => el('li', line));
  if (x.keeper && x.keeper.dead_letter) lines.unshift(el('li', `dead letter: ${x.keeper.dead_letter}`, 'state-dead'));
  if (lines.length === 0) lines.push(el('li', 'none in this keeper\'s store', 'muted'));
  $('thread-attempts').replaceChildren(...lines);
}

function drawExecutions(list) {
  fill($('executions').tBodies[0], list.executions.map((e) => {
    const tr = row([short(e.signature), threadLink(e.thread), e.run, e.state, when(e.due_at), when(e.persisted_at),
      when(e.sent_at), when(e.settled_at), e.fee_lamports ?? '—', e.error || '']);
    tr.cells[0].title = e.signature;
    tr.cells[0].className = 'mono';
    tr.cells[3].className = `state-${e.state}`;
    tr.cells[9].className = 'wrap';
    return tr;
  }), 'no executions yet', 10);
}

function actionButton(letter, action) {
  const button = el('button', action, 'act');
  button.type = 'button';
  button.disabled = !state.actions;
  button.title = state.actions ? `${action} dead letter ${letter.id}` : 'actions are off: the keeper has no token file';
  button.addEventListener('click', () => act(`/api/dlq/${letter.id}/${action}`));
  return button;
}

function drawDeadLetters(list) {
  fill($('dlq').tBodies[0], list.dead_letters.map((d) => {
    const actions = el('span');
    actions.append(actionButton(d, 'retry'), actionButton(d, 'purge'));
    const tr = row([d.id, threadLink(d.thread), d.run, d.attempts, when(d.dead_at), d.reason, actions]);
    tr.cells[5].className = 'wrap';
    return tr;
  }), 'the dead-letter queue is empty', 7);
}

async function act(path) {
  const token = sessionStorage.getItem('keeper-token') || '';
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: '{}',
  });
  const body = await response.json();
  $('action-result').textContent = response.ok ? body.done : `refused: ${body.error}`;
  $('action-result').className = response.ok ? 'state-confirmed' : 'state-dead';
  refresh();
}

const CHARTS = [
  ['executions_per_min', 'executions per minute'],
  ['success_rate', 'success rate'],
  ['due_to_submit_secs', 'due → submit, seconds'],
  ['replays_per_min', 'replays per minute'],
  ['dead_letters_per_min', 'dead letters per minute'],
];

function drawCharts(series) {
  const SVG = 'http://www.w3.org/2000/svg';
  const figures = CHARTS.map(([key, caption]) => {
    const values = series.points.map((p) => p[key]).filter((v) => v !== null);
    const figure = el('figure', undefined, 'chart');
    figure.dataset.chart = key;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 200 80');
    svg.setAttribute('preserveAspectRatio', 'none');
    if (values.length > 1) {
      const top = Math.max(...values, key === 'success_rate' ? 1 : 1e-9);
      const points = values.map((v, i) => `${(i / (values.length - 1)) * 200},${78 - (v / top) * 74}`);
      const line = document.createElementNS(SVG, 'polyline');
      line.setAttribute('points', points.join(' '));
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', '#4338ca');
      line.setAttribute('stroke-width', '1.5');
      svg.append(line);
    }
    const last = values.length ? values[values.length - 1] : null;
    const shown = last === null ? 'no data yet' : key === 'success_rate' ? `${(last * 100).toFixed(0)}%` : last.toFixed(2);
    figure.append(svg, el('figcaption', `${caption}: ${shown}`));
    return figure;
  });
  $('charts').replaceChildren(...figures);
}

function threadFromHash() {
  const match = /^#thread=([1-9A-HJ-NP-Za-km-z]{32,44})$/.exec(location.hash);
  return match ? match[1] : null;
}

async function refresh() {
  state.thread = threadFromHash();
  $('thread-section').hidden = state.thread === null;
  try {
    const query = state.search ? `?q=${encodeURIComponent(state.search)}` : '';
    const [overview, threads, executions, deadLetters, series] = await Promise.all([
      getJson('/api/overview'), getJson(`/api/threads${query}`), getJson('/api/executions'),
      getJson('/api/dlq'), getJson('/api/series'),
    ]);
    drawOverview(overview);
    drawThreads(threads);
    drawExecutions(executions);
    drawDeadLetters(deadLetters);
    drawCharts(series);
    if (state.thread) drawThread(await getJson(`/api/thread/${state.thread}`));
    $('error').hidden = true;
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = 'true';
  } catch (error) {
    $('error').textContent = `The keeper did not answer: ${error.message}`;
    $('error').hidden = false;
  }
}

function start() {
  $('search').addEventListener('input', (event) => {
    state.search = event.target.value.trim().replace(/[^1-9A-HJ-NP-Za-km-z]/g, '');
    refresh();
  });
  $('thread-close').addEventListener('click', (event) => {
    event.preventDefault();
    history.pushState('', document.title, location.pathname);
    refresh();
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('keeper-token', $('token').value.trim());
    $('token').value = '';
    $('action-result').textContent = 'token set for this tab';
  });
  $('pause').addEventListener('click', () => act(state.paused ? '/api/keeper/resume' : '/api/keeper/pause'));
  window.addEventListener('hashchange', refresh);
  refresh();
  setInterval(refresh, POLL_MS);
}

start();
