// Command Center console: progressive enhancement for server-rendered pages.
// Pages work without this script; it adds live updates from the job event stream, fragment
// refresh, toasts, copy buttons and confirm dialogs. No framework, no other origin.

const FRAGMENT = { 'CC-Fragment': '1', 'CC-Background': '1' };
const DEBOUNCE_MS = 400;

// Tell the server this browser runs the script (pages that refresh themselves without it,
// such as /status, then leave the Refresh header off). Not a credential.
document.cookie = 'cc_js=1; path=/; SameSite=Strict';

/** The session's CSRF token, for script requests that change state (header `cc-csrf`). */
export function csrfToken() {
  const meta = document.querySelector('meta[name="cc-csrf"]');
  return meta ? meta.content : '';
}

// ---- Toasts -------------------------------------------------------------------------------

/** Announces `text` in the aria-live region; `level` is ok, warn, bad or info. */
export function toast(text, level = 'info', ms = 6000) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const el = document.createElement('div');
  el.className = `toast toast-${level}`;
  el.textContent = text;
  region.append(el);
  while (region.children.length > 4) region.firstElementChild.remove();
  setTimeout(() => el.remove(), ms);
}
window.ccToast = toast;

// ---- Fragment refresh ---------------------------------------------------------------------

let refreshing = false;
let pending = false;
let timer = null;

/** Re-fetches this page's `main` region and swaps it in (at most one request at a time). */
export async function refresh() {
  const main = document.getElementById('main');
  if (!main) return;
  if (refreshing) { pending = true; return; }
  refreshing = true;
  try {
    const res = await fetch(location.href, { headers: FRAGMENT, credentials: 'same-origin', cache: 'no-store' });
    if (res.redirected && new URL(res.url).pathname === '/login') {
      location.assign(res.url); // signed out (idle, logout elsewhere, revoked): go sign in
      return;
    }
    if (!res.ok) {
      main.dataset.stale = 'true';
      return;
    }
    swap(main, await res.text());
    delete main.dataset.stale;
    main.dispatchEvent(new CustomEvent('cc:refreshed', { bubbles: true }));
  } catch (_) {
    main.dataset.stale = 'true';
  } finally {
    refreshing = false;
    if (pending) { pending = false; schedule(); }
  }
}

/** Swaps `html` into `main`: only the marked regions when the page has any, else all of it. */
function swap(main, html) {
  const doc = new DOMParser().parseFromString(`<main>${html}</main>`, 'text/html');
  const incoming = doc.querySelector('main');
  const regions = main.querySelectorAll('[data-refresh-target][id]');
  const focusedId = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : '';
  if (regions.length > 0) {
    for (const region of regions) {
      const next = incoming.querySelector(`#${CSS.escape(region.id)}`);
      if (next) region.replaceWith(document.adoptNode(next));
    }
  } else {
    // Copy the list first: adopting a node removes it from the live `childNodes`.
    main.replaceChildren(...Array.from(incoming.childNodes).map((n) => document.adoptNode(n)));
  }
  if (focusedId) {
    const again = document.getElementById(focusedId);
    if (again) again.focus({ preventScroll: true });
  }
}

/** Refreshes soon, folding bursts of events into one request. */
export function schedule() {
  clearTimeout(timer);
  timer = setTimeout(refresh, DEBOUNCE_MS);
}

// ---- Live updates from the event stream ---------------------------------------------------

// Job states worth announcing as they happen (a retry is shown on the pages, not announced).
const NOTEWORTHY = { discarded: 'bad' };
// Import outcomes: level and words.
const IMPORT_OUTCOMES = {
  applied: ['ok', 'applied'],
  refused: ['warn', 'refused by a guard'],
  failed: ['bad', 'failed'],
};
// Targets announced as failing on this page, so each is announced once until it recovers
// (the server announces each change once per process already).
const failingTargets = new Set();

function parse(e) {
  try { return JSON.parse(e.data); } catch (_) { return null; }
}

// `after`: the event log position the page was rendered at (`main[data-events-after]`), so
// the stream starts with the first event the page does not show yet. Without it (following
// again later) the stream starts at its opening, and `refreshOnOpen` re-reads the page once it
// is open, so nothing falls between the two either.
function follow(kinds, after, refreshOnOpen) {
  const url = /^[0-9]{1,18}$/.test(after || '')
    ? `/api/v1/events?after=${after}` : '/api/v1/events';
  const source = new EventSource(url, { withCredentials: true });
  source.addEventListener('job', (e) => {
    if (kinds.includes('job')) schedule();
    const ev = parse(e);
    const level = ev && NOTEWORTHY[ev.state];
    if (level) {
      toast(`Job ${ev.job_id}${ev.kind ? ` (${ev.kind})` : ''} failed for good${ev.note ? `: ${ev.note}` : ''}.`, level);
    }
  });
  source.addEventListener('import', (e) => {
    if (kinds.includes('import')) schedule();
    const ev = parse(e);
    const outcome = ev && IMPORT_OUTCOMES[ev.state];
    if (outcome) toast(`Import ${outcome[1]}${ev.note ? `: ${ev.note}` : ''}.`, outcome[0]);
  });
  source.addEventListener('target', (e) => {
    if (kinds.includes('target')) schedule();
    const ev = parse(e);
    if (!ev) return;
    if (ev.state === 'failing' && !failingTargets.has(ev.subject)) {
      failingTargets.add(ev.subject);
      toast(`Target ${ev.subject} is failing${ev.note ? `: ${ev.note}` : ''}.`, 'bad');
    } else if (ev.state === 'recovered') {
      failingTargets.delete(ev.subject);
      toast(`Target ${ev.subject} works again.`, 'ok');
    }
  });
  source.addEventListener('open', () => {
    document.body.dataset.live = 'true';
    if (refreshOnOpen) { refreshOnOpen = false; refresh(); }
  });
  // Close the stream as the page goes away (a link, a form post, the back/forward cache):
  // a browser keeps at most six connections to one server over HTTP/1.1, and a stream left
  // open until the server ends it would hold one, so the next page's requests would queue.
  // A page brought back from the back/forward cache follows the stream again.
  window.addEventListener('pagehide', () => source.close(), { once: true });
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) follow(kinds, null, true);
  }, { once: true });
  source.addEventListener('error', () => {
    delete document.body.dataset.live;
    // The browser reconnects by itself unless the server refused the stream (signed out,
    // too many streams): then check the page, which sends a signed-out viewer to sign in.
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(() => follow(kinds, null, true), 5000);
    }
  });
}

function start() {
  const main = document.getElementById('main');
  if (!main) return;
  // A page answering a form post that must not be posted again on reload (it showed a
  // one-time secret) names the address to stand at instead.
  const replace = main.querySelector('[data-replace-url]');
  if (replace) history.replaceState(null, '', replace.dataset.replaceUrl);
  const kinds = (main.dataset.liveOn || '').split(/\s+/).filter(Boolean);
  // Every signed-in page follows the stream for its toasts; pages that name event kinds
  // also refresh on them.
  if (kinds.length > 0 || csrfToken()) follow(kinds, main.dataset.eventsAfter, false);
  const every = Number(main.dataset.refreshEvery || 0);
  if (every > 0) {
    setInterval(() => { if (!document.hidden) refresh(); }, every * 1000);
  }
}

// ---- Copy buttons and confirmations -------------------------------------------------------

document.addEventListener('click', async (e) => {
  const button = e.target.closest('[data-copy]');
  if (!button) return;
  e.preventDefault();
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    toast('Copied to the clipboard.', 'ok', 3000);
  } catch (_) {
    toast('Could not copy; select the text and copy it by hand.', 'warn');
  }
});

document.addEventListener('submit', (e) => {
  const form = e.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed) return;
  e.preventDefault();
  confirmDialog(form.dataset.confirm, form.dataset.confirmLabel || 'Confirm').then((ok) => {
    if (!ok) return;
    form.dataset.confirmed = 'true';
    form.requestSubmit(e.submitter || undefined);
  });
});

/** A modal yes/no question; resolves to true when confirmed. */
export function confirmDialog(question, label) {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.setAttribute('aria-labelledby', 'cc-confirm-q');
    const p = document.createElement('p');
    p.id = 'cc-confirm-q';
    p.textContent = question;
    const actions = document.createElement('div');
    actions.className = 'actions';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.textContent = 'Cancel';
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.className = 'primary';
    ok.textContent = label;
    actions.append(cancel, ok);
    dialog.append(p, actions);
    document.body.append(dialog);
    const done = (v) => { dialog.close(); dialog.remove(); resolve(v); };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dialog.addEventListener('cancel', () => done(false));
    dialog.showModal();
    cancel.focus();
  });
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start);
} else {
  start();
}
