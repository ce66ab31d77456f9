/* app.js - the seat-map page: the shows on sale, a live seat map, holds,
 * confirm and my bookings, on the JSON API of API.md. Plain JS, no build.
 *
 * The map keeps one byte of state per seat (a Uint8Array) and puts only the
 * rows in view into the DOM, so even a 100,000-seat screen costs a few
 * thousand buttons; the live feed (EventSource on /api/shows/{id}/events)
 * updates that array and repaints only the rendered seats that changed. */
'use strict';

const SEAT_PITCH = 28; /* px per seat and per row: --seat + --gap in style.css */
const ROW_BUFFER = 4; /* rows rendered above and below the visible ones */
const RECONNECT_MAX_MS = 15000;
const CLOCK_SLACK_MS = 2000; /* clock differences below this are noise */
const USER_KEY = 'boxoffice.username';
const USER_RE = /^[A-Za-z0-9._@-]{1,64}$/;

const AVAILABLE = 0, HELD = 1, BOOKED = 2;
const STATE_CLASS = ['s-a', 's-h', 's-b'];
const STATE_NAME = ['available', 'held by someone else', 'booked'];
const STATE_OF = { AVAILABLE, HELD, BOOKED };

const $ = (id) => document.getElementById(id);

const view = {
  show: null, /* GET /api/shows/{id} without its seat lists */
  status: null, /* Uint8Array, index row * seatsPerRow + number - 1 */
  counts: [0, 0, 0],
  mine: new Set(), /* indexes of the seats in this user's cart */
  cart: null, /* this user's STAGED booking in the open show */
  rendered: new Map(), /* row index -> row element */
  focus: 0, /* the one seat Tab reaches (roving tabindex) */
  events: null,
  lastSeq: 0,
  retryMs: 1000,
  retryTimer: 0,
  clockOffset: 0, /* the server's clock minus this browser's, from Date headers */
};

/* The server's time as this page knows it: a Date header is to the second,
 * so a difference under CLOCK_SLACK_MS is taken for noise. */
function serverNow() {
  return Date.now() + (Math.abs(view.clockOffset) > CLOCK_SLACK_MS ? view.clockOffset : 0);
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function when(t) {
  return new Date(t).toLocaleString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  });
}

/* ---- seat labels: rows A..Z, AA..ZZ ---- */

function rowLabel(r) {
  if (r < 26) return String.fromCharCode(65 + r);
  return String.fromCharCode(64 + Math.floor(r / 26), 65 + (r % 26));
}

function seatLabel(i) {
  const spr = view.show.seatsPerRow;
  return rowLabel(Math.floor(i / spr)) + ((i % spr) + 1);
}

function seatIndex(label) {
  const m = /^([A-Z]{1,2})(\d+)$/.exec(label);
  if (!m) return -1;
  const l = m[1];
  const row = l.length === 1 ? l.charCodeAt(0) - 65 : (l.charCodeAt(0) - 64) * 26 + l.charCodeAt(1) - 65;
  const n = Number(m[2]);
  if (row >= view.show.rows || n < 1 || n > view.show.seatsPerRow) return -1;
  return row * view.show.seatsPerRow + n - 1;
}

/* ---- the API, and its errors as sentences ---- */

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const err = (body && body.error) || {};
    super(err.message || 'HTTP ' + status);
    this.status = status;
    this.code = err.code || (status === 0 ? 'NETWORK' : 'HTTP_' + status);
    this.seats = err.seats || [];
    this.retryAfter = retryAfter;
  }
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, null);
  }
  const date = Date.parse(resp.headers.get('Date'));
  if (!Number.isNaN(date)) view.clockOffset = date + 500 - Date.now(); /* the header is to the second */
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, data, resp.headers.get('Retry-After'));
  return { data, headers: resp.headers };
}

function seatsPhrase(seats) {
  if (seats.length === 1) return 'seat ' + seats[0];
  return 'seats ' + seats.slice(0, -1).join(', ') + ' and ' + seats[seats.length - 1];
}

const SENTENCES = {
  NETWORK: () => 'The server cannot be reached. Check your connection and try again.',
  SEATS_UNAVAILABLE: (e) => e.seats.length
    ? `Sorry, ${seatsPhrase(e.seats)} ${e.seats.length === 1 ? 'is' : 'are'} already taken. Please pick other seats.`
    : 'Sorry, there are not that many free seats side by side. Try fewer seats.',
  SEATS_NOT_HELD: (e) => `Your hold on ${e.seats.length ? seatsPhrase(e.seats) : 'these seats'} has expired or was released, so it cannot be confirmed. Please hold the seats again.`,
  HOLD_LIMIT_EXCEEDED: () => 'You already hold as many seats as one person may hold for this show.',
  SHOW_NOT_BOOKABLE: () => 'This show can no longer be booked: it was cancelled or has already started.',
  SHOW_NOT_FOUND: () => 'This show does not exist.',
  BOOKING_NOT_FOUND: () => 'No such booking was found under your name.',
  BOOKING_NOT_CANCELLABLE: () => 'This booking can no longer be cancelled: it has expired or its show has started.',
  UNKNOWN_SEATS: (e) => `This screen has no ${seatsPhrase(e.seats)}.`,
  RATE_LIMITED: (e) => `Too many requests at once. Please wait ${e.retryAfter || 'a few'} seconds and try again.`,
  UNAVAILABLE: () => 'The booking service is busy or unavailable right now. Please try again in a moment.',
};

function sentence(e) {
  if (!(e instanceof ApiError)) return 'Something went wrong on this page: ' + e.message + '.';
  const make = SENTENCES[e.code];
  if (make) return make(e);
  const m = e.message;
  return 'The request was refused: ' + m.charAt(0).toLowerCase() + m.slice(1) + (/[.!?]$/.test(m) ? '' : '.');
}

function showError(e) {
  const box = $('message');
  box.textContent = sentence(e);
  box.hidden = false;
}

function clearMessage() {
  $('message').hidden = true;
  $('message').textContent = '';
}

function notice(text) {
  $('notice').textContent = text;
}

/* ---- who is booking ---- */

function username() {
  const u = localStorage.getItem(USER_KEY);
  return u && USER_RE.test(u) ? u : null;
}

function showWho() {
  const who = $('who'), u = username();
  who.replaceChildren();
  if (!u) return;
  const change = el('button', 'Change', 'secondary');
  change.type = 'button';
  change.setAttribute('aria-label', 'Change your name');
  change.onclick = () => askUsername().then((name) => name && loadCart()).catch(showError);
  who.append('Booking as ', el('strong', u), change);
}

/* Asks for a name in a dialog; resolves to it, or null when cancelled. */
function askUsername() {
  return new Promise((resolve) => {
    const dlg = $('name-dialog'), input = $('name-input');
    input.value = username() || '';
    dlg.returnValue = '';
    dlg.addEventListener('close', () => {
      const name = input.value.trim();
      if (dlg.returnValue !== 'ok' || !USER_RE.test(name)) return resolve(null);
      localStorage.setItem(USER_KEY, name);
      showWho();
      resolve(name);
    }, { once: true });
    dlg.showModal();
  });
}

async function ensureUsername() {
  const u = username();
  if (u) return u;
  const name = await askUsername();
  if (name) await loadCart().catch(showError);
  return name;
}

/* ---- the list of shows ---- */

async function loadShows() {
  const { data } = await api('GET', '/api/shows/active');
  const ul = $('shows');
  ul.replaceChildren();
  for (const s of data) {
    const a = el('a');
    a.href = '#show=' + s.showId;
    a.append(el('strong', s.movieName), el('span', when(s.showTime) + ' \u00b7 ' + s.screenName), el('br'),
      el('span', `${s.availableSeats} of ${s.totalSeats} seats free`));
    const li = el('li');
    li.append(a);
    ul.append(li);
  }
  $('shows-empty').hidden = data.length > 0;
}

/* ---- the seat map ---- */

function setStatus(i, st) {
  view.counts[view.status[i]]--;
  view.counts[st]++;
  view.status[i] = st;
}

function seatButton(i) {
  const spr = view.show.seatsPerRow, row = view.rendered.get(Math.floor(i / spr));
  return row ? row.children[(i % spr) + 1] : null; /* child 0 is the row label */
}

function paintSeat(b, i) {
  const mine = view.mine.has(i), st = view.status[i];
  b.className = 'seat ' + (mine ? 's-m' : STATE_CLASS[st]);
  b.setAttribute('aria-label', seatLabel(i) + ', ' + (mine ? 'held by you' : STATE_NAME[st]));
  b.setAttribute('aria-pressed', mine ? 'true' : 'false');
  b.tabIndex = i === view.focus ? 0 : -1;
}

function repaint(i) {
  const b = seatButton(i);
  if (b) paintSeat(b, i);
}

function renderRow(r) {
  const spr = view.show.seatsPerRow, row = el('div', undefined, 'row');
  row.style.top = r * SEAT_PITCH + 'px';
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', 'Row ' + rowLabel(r));
  const label = el('span', rowLabel(r), 'row-label');
  label.setAttribute('aria-hidden', 'true');
  row.append(label);
  for (let n = 0; n < spr; n++) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.i = r * spr + n;
    paintSeat(b, r * spr + n);
    row.append(b);
  }
  $('rows').append(row);
  view.rendered.set(r, row);
}

/* Puts the rows in view (and a few around them) into the DOM, and takes
 * the others out, except the row holding the focusable seat. */
function renderVisible() {
  if (!view.show) return;
  const map = $('map'), rows = view.show.rows;
  const first = Math.max(0, Math.floor(map.scrollTop / SEAT_PITCH) - ROW_BUFFER);
  const last = Math.min(rows - 1, Math.ceil((map.scrollTop + map.clientHeight) / SEAT_PITCH) + ROW_BUFFER);
  const keep = Math.floor(view.focus / view.show.seatsPerRow);
  for (const [r, row] of view.rendered) {
    if ((r < first || r > last) && r !== keep) {
      row.remove();
      view.rendered.delete(r);
    }
  }
  for (let r = first; r <= last; r++) if (!view.rendered.has(r)) renderRow(r);
}

function renderMeta() {
  const s = view.show;
  $('show-title').textContent = s.movieName;
  $('show-meta').textContent = `${when(s.showTime)} \u00b7 ${s.screenName} \u00b7 ` +
    `${view.counts[AVAILABLE]} of ${s.totalSeats} seats free`;
}

/* Takes a seat map (GET /api/shows/{id} or the feed's snapshot). */
function applySnapshot(map) {
  const old = view.show;
  const same = old && old.showId === map.showId && old.rows === map.rows && old.seatsPerRow === map.seatsPerRow;
  view.show = { ...map, seats: undefined };
  view.status = new Uint8Array(map.rows * map.seatsPerRow);
  for (const l of map.seats.held) view.status[seatIndex(l)] = HELD;
  for (const l of map.seats.booked) view.status[seatIndex(l)] = BOOKED;
  view.counts = [map.seats.available.length, map.seats.held.length, map.seats.booked.length];
  for (const i of view.mine) if (view.status[i] !== HELD) view.mine.delete(i);
  renderMeta();
  if (same) {
    for (const r of view.rendered.keys()) {
      for (let n = 0; n < map.seatsPerRow; n++) repaint(r * map.seatsPerRow + n);
    }
  } else {
    const rows = $('rows');
    rows.replaceChildren();
    view.rendered.clear();
    view.focus = 0;
    rows.style.height = map.rows * SEAT_PITCH + 'px';
    rows.style.width = `calc(var(--row-label) + ${map.seatsPerRow * SEAT_PITCH + 8}px)`;
    renderVisible();
  }
}

/* Takes the changes of a `seats` event: [{seat, status}]. */
function applyChanges(changes) {
  let cartChanged = false;
  for (const c of changes) {
    const i = seatIndex(c.seat), st = STATE_OF[c.status];
    if (i < 0 || st === undefined) continue;
    if (st !== HELD && view.mine.delete(i)) cartChanged = true;
    setStatus(i, st);
    repaint(i);
  }
  if (cartChanged && view.cart) {
    /* Seats leave the cart through the feed when the hold expired (the
     * browser's clock may be a little off the server's), or when another
     * tab of this user released or confirmed them. */
    const expired = serverNow() >= Date.parse(view.cart.expiresAt) - CLOCK_SLACK_MS;
    view.cart.seats = view.cart.seats.filter((l) => view.mine.has(seatIndex(l)));
    if (view.mine.size === 0) view.cart = null;
    renderCart();
    if (expired) holdExpired();
  }
  renderMeta();
}

function focusSeat(i) {
  const old = seatButton(view.focus);
  if (old) old.tabIndex = -1;
  view.focus = i;
  const map = $('map'), top = Math.floor(i / view.show.seatsPerRow) * SEAT_PITCH;
  if (top < map.scrollTop) map.scrollTop = top;
  else if (top + SEAT_PITCH > map.scrollTop + map.clientHeight) map.scrollTop = top + SEAT_PITCH - map.clientHeight;
  renderVisible();
  const b = seatButton(i);
  b.tabIndex = 0;
  b.focus();
}

function onMapKey(e) {
  if (!view.show || !e.target.classList.contains('seat')) return;
  const spr = view.show.seatsPerRow, i = view.focus, col = i % spr;
  const to = {
    ArrowLeft: col > 0 ? i - 1 : i,
    ArrowRight: col < spr - 1 ? i + 1 : i,
    ArrowUp: i - spr,
    ArrowDown: i + spr,
    Home: i - col,
    End: i - col + spr - 1,
  }[e.key];
  if (to === undefined) return;
  e.preventDefault();
  if (to >= 0 && to < view.status.length && to !== i) focusSeat(to);
}

/* ---- holding, the cart and confirming ---- */

/* Takes the user's booking in this show after a write; the seats that
 * left the cart take the state `left` (released: AVAILABLE). */
function setCart(b, left = AVAILABLE) {
  const before = view.mine;
  view.cart = b && b.status === 'STAGED' && b.showId === view.show.showId ? b : null;
  view.mine = new Set();
  if (view.cart) {
    for (const l of view.cart.seats) {
      const i = seatIndex(l);
      if (i < 0) continue;
      view.mine.add(i);
      if (view.status[i] !== HELD) setStatus(i, HELD);
    }
  }
  for (const i of before) {
    if (!view.mine.has(i)) {
      setStatus(i, left);
      repaint(i);
    }
  }
  for (const i of view.mine) repaint(i);
  renderCart();
  renderMeta();
}

function renderCart() {
  $('cart').hidden = !view.cart;
  if (view.cart) $('cart-seats').textContent = view.cart.seats.join(', ');
  tick();
}

function holdExpired() {
  if (view.cart) setCart(null);
  $('message').hidden = false;
  $('message').textContent = 'Your hold expired, so the seats were given back. Pick them again if they are still free.';
}

/* The countdown to the cart's expiry, once a second. */
function tick() {
  if (!view.cart) return;
  const left = Math.ceil((Date.parse(view.cart.expiresAt) - serverNow()) / 1000);
  if (left <= 0) {
    holdExpired();
    return;
  }
  const mm = Math.floor(left / 60), ss = String(left % 60).padStart(2, '0');
  $('countdown').textContent = `held for you for ${mm}:${ss}`;
}

async function write(path, body) {
  try {
    const { data } = await api('POST', path, body);
    clearMessage();
    return data;
  } catch (e) {
    showError(e);
    return null;
  }
}

async function toggleSeat(i) {
  const user = await ensureUsername();
  if (!user || !view.show) return;
  const mine = view.mine.has(i), label = seatLabel(i);
  const b = await write(mine ? '/api/bookings/release' : '/api/bookings/hold',
    { username: user, showId: view.show.showId, seats: [label] });
  if (b) {
    setCart(b);
    notice(mine ? `Released ${label}.` : `Holding ${label} for you.`);
    refreshBookings().catch(showError);
  }
}

async function holdBest(e) {
  e.preventDefault();
  const user = await ensureUsername();
  if (!user || !view.show) return;
  const b = await write('/api/bookings/hold-best',
    { username: user, showId: view.show.showId, count: Number($('best-count').value) });
  if (b) {
    setCart(b);
    notice('Holding ' + seatsPhrase(b.seats) + ' for you.');
    refreshBookings().catch(showError);
  }
}

async function confirmCart() {
  if (!view.cart) return;
  const seats = [...view.mine].sort((a, b) => a - b).map(seatLabel);
  const b = await write('/api/bookings/confirm', { username: username(), showId: view.show.showId, seats });
  if (!b) return;
  setCart(null, BOOKED);
  const p = $('booked');
  p.replaceChildren('Booked! Your reference is ', el('span', b.bookingReference, 'ref'),
    ` for ${seatsPhrase(b.seats)}.`);
  p.hidden = false;
  notice(`Booked ${seatsPhrase(b.seats)}. Your reference is ${b.bookingReference}.`);
  refreshBookings().catch(showError);
}

async function releaseAll() {
  if (!view.cart) return;
  const b = await write('/api/bookings/release', { username: username(), showId: view.show.showId });
  if (b) {
    setCart(b);
    notice('Released your seats.');
    refreshBookings().catch(showError);
  }
}

/* ---- my bookings ---- */

const STATUS_TEXT = {
  STAGED: 'held, not yet confirmed', CONFIRMED: 'confirmed', CANCELLED: 'cancelled', EXPIRED: 'expired',
};

function nextLink(header) {
  const m = header && /<([^>]+)>\s*;\s*rel="?next"?/.exec(header);
  return m ? m[1] : null;
}

function bookingItem(b) {
  const li = el('li');
  li.append(el('span', b.bookingReference, 'ref'), el('span', b.movieName + ' \u00b7 ' + when(b.showTime)),
    el('span', 'Seats ' + b.seats.join(', ')), el('span', STATUS_TEXT[b.status] || b.status));
  if (b.status === 'STAGED' || b.status === 'CONFIRMED') {
    const cancel = el('button', 'Cancel', 'secondary');
    cancel.type = 'button';
    cancel.setAttribute('aria-label', 'Cancel booking ' + b.bookingReference);
    cancel.onclick = () => cancelBooking(b);
    li.append(cancel);
  }
  return li;
}

/* Shows a page of the user's bookings (the first, or the Link's next);
 * returns it. */
async function refreshBookings(next) {
  const user = username();
  $('bookings-view').hidden = !user;
  if (!user) return [];
  const { data, headers } = await api('GET', next || '/api/bookings/user?username=' + encodeURIComponent(user));
  const ul = $('bookings');
  if (!next) ul.replaceChildren();
  for (const b of data) ul.append(bookingItem(b));
  $('bookings-empty').hidden = ul.children.length > 0;
  const more = nextLink(headers.get('Link')), btn = $('more-bookings');
  btn.hidden = !more;
  btn.onclick = () => refreshBookings(more).catch(showError);
  return data;
}

async function cancelBooking(b) {
  const done = await write('/api/bookings/cancel', { username: username(), bookingReference: b.bookingReference });
  if (!done) return;
  notice(`Booking ${b.bookingReference} is cancelled.`);
  if (view.cart && view.cart.bookingReference === b.bookingReference) {
    setCart(null);
  } else if (view.show && b.showId === view.show.showId && b.status === 'CONFIRMED') {
    for (const l of b.seats) {
      const i = seatIndex(l);
      if (i >= 0 && view.status[i] === BOOKED) {
        setStatus(i, AVAILABLE);
        repaint(i);
      }
    }
    renderMeta();
  }
  await refreshBookings().catch(showError);
}

/* Shows the user's bookings and takes their cart in the open show. */
async function loadCart() {
  const bookings = await refreshBookings();
  if (!view.show) return;
  const id = view.show.showId;
  const cart = bookings.find((b) => b.status === 'STAGED' && b.showId === id);
  if (view.show && view.show.showId === id) setCart(cart || null, HELD);
}

/* ---- the live feed ---- */

function setLive(on) {
  const live = $('live');
  live.dataset.state = on ? 'on' : 'off';
  live.textContent = on ? 'Live' : 'Reconnecting\u2026';
}

function closeEvents() {
  if (view.events) view.events.close();
  view.events = null;
  clearTimeout(view.retryTimer);
}

/* The browser's EventSource reconnects by itself after a dropped stream;
 * after an error answer (503 over the viewer limit, say) it gives up, so
 * this page tries again, backing off up to RECONNECT_MAX_MS. */
function connectEvents(id) {
  closeEvents();
  const es = new EventSource(`/api/shows/${id}/events`);
  view.events = es;
  es.addEventListener('open', () => {
    view.retryMs = 1000;
    setLive(true);
  });
  es.addEventListener('snapshot', (e) => {
    applySnapshot(JSON.parse(e.data));
    view.lastSeq = Number(e.lastEventId) || 0;
    setLive(true);
  });
  es.addEventListener('seats', (e) => {
    const d = JSON.parse(e.data);
    if (d.seq <= view.lastSeq) return;
    view.lastSeq = d.seq;
    applyChanges(d.changes);
  });
  es.addEventListener('error', () => {
    if (view.events !== es) return;
    setLive(false);
    if (es.readyState !== EventSource.CLOSED) return;
    view.events = null;
    view.retryTimer = setTimeout(() => connectEvents(id), view.retryMs);
    view.retryMs = Math.min(view.retryMs * 2, RECONNECT_MAX_MS);
  });
}

/* ---- views ---- */

async function openShow(id) {
  const { data } = await api('GET', '/api/shows/' + id);
  if (location.hash !== '#show=' + id) return; /* the visitor moved on */
  applySnapshot(data);
  $('map').scrollTop = 0;
  connectEvents(id);
  await loadCart();
}

function route() {
  const m = /^#show=(\d+)$/.exec(location.hash);
  closeEvents();
  view.show = null;
  view.cart = null;
  view.mine = new Set();
  $('cart').hidden = true;
  $('booked').hidden = true;
  clearMessage();
  $('shows-view').hidden = !!m;
  $('show-view').hidden = !m;
  if (m) {
    openShow(Number(m[1])).catch(showError);
  } else {
    loadShows().catch(showError);
    refreshBookings().catch(showError);
  }
}

function init() {
  showWho();
  const map = $('map');
  let pending = false;
  map.addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      renderVisible();
    });
  }, { passive: true });
  window.addEventListener('resize', renderVisible);
  map.addEventListener('keydown', onMapKey);
  $('rows').addEventListener('click', (e) => {
    const b = e.target.closest('button.seat');
    if (!b) return;
    const i = Number(b.dataset.i);
    if (i !== view.focus) {
      const old = seatButton(view.focus);
      if (old) old.tabIndex = -1;
      view.focus = i;
      b.tabIndex = 0;
    }
    toggleSeat(i);
  });
  $('best-form').addEventListener('submit', holdBest);
  $('confirm').addEventListener('click', confirmCart);
  $('release').addEventListener('click', releaseAll);
  window.addEventListener('hashchange', route);
  setInterval(tick, 1000);
  route();
}

init();
