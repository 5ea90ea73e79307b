/*! Docent chat widget: docs/widget.md. Hand-written ES2020, no dependencies, no build step.
 *
 * Safety rules of this file: text from documents, the model, the server or the page is only
 * ever put in the DOM with textContent, createElement and setAttribute of fixed attribute
 * names; never innerHTML, insertAdjacentHTML, document.write, eval or new Function. Links
 * are only http(s). Everything lives in a shadow root: the page's CSS cannot reach in, and
 * ours cannot reach out. */
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || (window.Docent && window.Docent.version)) return;
  const VERSION = '1';
  const ds = script.dataset;

  const DEFAULT_STRINGS = {
    title: 'Ask the documents',
    greeting: 'Hello! Ask a question about the documents you can access.',
    openChat: 'Open chat',
    closeChat: 'Close chat',
    newConversation: 'New conversation',
    inputLabel: 'Your question',
    placeholder: 'Ask a question…',
    send: 'Send',
    stop: 'Stop',
    retry: 'Retry',
    copy: 'Copy answer',
    copied: 'Copied',
    copyFailed: 'Could not copy',
    suggestions: 'Suggested questions',
    sources: 'Sources',
    source: 'Source {n}',
    searching: 'Searching the documents…',
    writing: 'Writing the answer…',
    refusal: "I can't find that in the documents you can access.",
    escalation: 'Contact a person',
    stopped: 'Stopped. The answer was not finished.',
    interrupted: 'The answer was interrupted. Please try again.',
    errorGeneric: 'Something went wrong. Please try again.',
    errorNetwork: 'Docent could not be reached from this page: the server may be down, or this site may not be allowed to use it.',
    errorRateLimited: 'Too many questions at once. Please try again in {seconds} s.',
    errorAuth: 'You are not signed in to Docent, or your session has expired. Reload the page to sign in again.',
    errorForbidden: 'This page is not allowed to use Docent.',
    errorUnavailable: 'Docent is unavailable right now. Please try again in a moment.',
    errorServer: 'Docent could not answer: {message}',
    answerReady: 'Answer: {text}',
    helpful: 'Helpful',
    notHelpful: 'Not helpful',
    feedbackQuestion: 'What was wrong with this answer?',
    reasonWrong: 'Wrong',
    reasonIncomplete: 'Incomplete',
    reasonNotRelevant: 'Not relevant',
    reasonOutdated: 'Outdated',
    reasonOther: 'Other',
    comment: 'Comment (optional)',
    sendFeedback: 'Send feedback',
    cancel: 'Cancel',
    feedbackThanks: 'Thank you for your feedback.',
    feedbackFailed: 'Your feedback could not be sent.',
    page: 'p. {page}',
    pages: 'pp. {start}–{end}',
    slide: 'slide {page}',
    slides: 'slides {start}–{end}',
    scanned: 'from a scan',
    openDocument: 'Open document',
    viewPassage: 'View passage',
    passage: 'Passage',
    back: 'Back',
    loading: 'Loading…',
    passageFailed: 'This passage could not be loaded.',
    redacted: 'This answer used documents you can no longer access.',
    you: 'You',
    assistant: 'Docent',
  };

  const REASONS = [['wrong', 'reasonWrong'], ['incomplete', 'reasonIncomplete'], ['not_relevant', 'reasonNotRelevant'],
    ['outdated', 'reasonOutdated'], ['other', 'reasonOther']];

  // ---- configuration (data-* attributes: docs/widget.md) ----

  function parseJSON(text, what) {
    if (!text) return {};
    try {
      const v = JSON.parse(text);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    } catch (e) { /* reported below */ }
    console.warn('Docent: ' + what + ' is not a JSON object; ignored');
    return {};
  }

  function httpURL(raw, base) {
    if (typeof raw !== 'string' || raw === '') return null;
    try {
      const u = new URL(raw, base);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u : null;
    } catch (e) {
      return null;
    }
  }

  const strings = Object.assign({}, DEFAULT_STRINGS);
  const overrides = parseJSON(ds.docentStrings, 'data-docent-strings');
  for (const k of Object.keys(overrides)) {
    if (Object.prototype.hasOwnProperty.call(DEFAULT_STRINGS, k) && typeof overrides[k] === 'string') strings[k] = overrides[k];
  }
  if (ds.docentTitle) strings.title = ds.docentTitle;
  if (ds.docentGreeting) strings.greeting = ds.docentGreeting;
  if (ds.docentEscalationLabel) strings.escalation = ds.docentEscalationLabel;

  function t(name, vars) {
    let s = strings[name];
    if (vars) for (const k of Object.keys(vars)) s = s.split('{' + k + '}').join(String(vars[k]));
    return s;
  }

  const scriptURL = httpURL(script.src, location.href);
  const apiURL = httpURL(ds.docentApi || (scriptURL ? scriptURL.origin : ''), location.href);
  const api = apiURL ? apiURL.href.replace(/\/+$/, '') : '';
  const config = {
    key: ds.docentKey || '',
    sessionURL: ds.docentSessionUrl ? httpURL(ds.docentSessionUrl, location.href) : null,
    mode: ds.docentMode === 'inline' ? 'inline' : 'launcher',
    target: ds.docentTarget || '',
    suggestions: (ds.docentSuggestions || '').split('|').map((s) => s.trim()).filter(Boolean).slice(0, 4),
    escalation: httpURL(ds.docentEscalationUrl, location.href),
    theme: parseJSON(ds.docentTheme, 'data-docent-theme'),
    open: ds.docentOpen === 'true',
  };
  const credentialKind = config.key ? 'key:' + config.key : config.sessionURL ? 'session:' + config.sessionURL.href : 'none';
  const storageKey = 'docent:conversation:' + api + '|' + credentialKind;

  // ---- DOM helpers: text only ----

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  const ICONS = {
    chat: 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z',
    close: 'M6 6l12 12M18 6L6 18',
    send: 'M4 12l16-8-6 16-2-7-8-1z',
    stop: 'M7 7h10v10H7z',
    up: 'M7 11v9H4v-9h3zm0 0l4-8a2 2 0 0 1 2 2v4h5a2 2 0 0 1 2 2.3l-1.2 7A2 2 0 0 1 17 20H7',
    down: 'M7 13V4H4v9h3zm0 0l4 8a2 2 0 0 0 2-2v-4h5a2 2 0 0 0 2-2.3l-1.2-7A2 2 0 0 0 17 4H7',
    copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
    retry: 'M4 12a8 8 0 1 0 2.3-5.7M4 4v4h4',
    reset: 'M12 5v14M5 12h14',
    back: 'M15 6l-6 6 6 6',
  };
  function icon(name) {
    const s = document.createElementNS(SVG, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    s.setAttribute('focusable', 'false');
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', ICONS[name]);
    s.append(p);
    return s;
  }
  function iconButton(name, label, onclick, cls) {
    return el('button', { type: 'button', class: 'icon ' + (cls || ''), 'aria-label': label, title: label, onclick }, icon(name));
  }

  // ---- Markdown, the safe subset: paragraphs, lists, fenced and inline code, bold, [n] ----

  // inline appends text to parent, with `code`, **bold** and citation markers [n] (cite(n)
  // returns the marker's element, or null when n is not a source of this answer).
  function inline(parent, text, cite) {
    const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\[(\d{1,2})\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.append(text.slice(last, m.index));
      if (m[1] !== undefined) parent.append(el('code', { text: m[1] }));
      else if (m[2] !== undefined) parent.append(el('strong', { text: m[2] }));
      else {
        const marker = cite ? cite(Number(m[3])) : null;
        parent.append(marker || m[0]);
      }
      last = re.lastIndex;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function markdown(text, cite) {
    const out = document.createDocumentFragment();
    const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
    let para = [];
    let list = null;
    const flush = () => {
      if (para.length) {
        const p = el('p');
        inline(p, para.join(' '), cite);
        out.append(p);
        para = [];
      }
    };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (/^\s*```/.test(line)) {
        flush();
        list = null;
        const code = [];
        i++;
        while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
        out.append(el('pre', null, el('code', { text: code.join('\n') })));
        continue;
      }
      const item = /^\s*(?:([-*•])|(\d{1,3})[.)])\s+(.*)$/.exec(line);
      if (item) {
        flush();
        const tag = item[1] ? 'ul' : 'ol';
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = el(tag);
          out.append(list);
        }
        const li = el('li');
        inline(li, item[3], cite);
        list.append(li);
        continue;
      }
      if (line.trim() === '') {
        flush();
        list = null;
        continue;
      }
      if (list && /^\s{2,}\S/.test(line)) {
        list.lastChild.append(' ');
        inline(list.lastChild, line.trim(), cite);
        continue;
      }
      list = null;
      para.push(line.trim());
    }
    flush();
    return out;
  }

  // ---- credentials: a publishable key, or a session token from the host site ----

  let session = null; // {token, expires: ms epoch}
  let sessionPromise = null;
  let refreshTimer = 0;

  async function fetchSession() {
    const res = await fetch(config.sessionURL.href, { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' });
    if (!res.ok) throw new WidgetError('auth', res.status, t('errorAuth'));
    const body = await res.json();
    if (!body || typeof body.token !== 'string' || body.token === '') throw new WidgetError('auth', 0, t('errorAuth'));
    let expires = Date.parse(body.expires_at);
    if (!Number.isFinite(expires)) expires = Date.now() + (Number(body.expires_in) > 0 ? Number(body.expires_in) : 300) * 1000;
    session = { token: body.token, expires };
    clearTimeout(refreshTimer);
    // Again about a minute before it expires (half-way for short sessions; at most every 2 s).
    const lifetime = expires - Date.now();
    const delay = Math.max(2000, lifetime > 120000 ? lifetime - 60000 : lifetime / 2);
    refreshTimer = setTimeout(() => { refreshSession().catch(() => {}); }, delay);
    return session.token;
  }

  function refreshSession() {
    if (!sessionPromise) sessionPromise = fetchSession().finally(() => { sessionPromise = null; });
    return sessionPromise;
  }

  async function token(fresh) {
    if (config.key) return config.key;
    if (!config.sessionURL) throw new WidgetError('config', 0, t('errorAuth'));
    if (!fresh && session && session.expires - Date.now() > 15000) return session.token;
    return refreshSession();
  }

  class WidgetError extends Error {
    constructor(kind, status, message, body) {
      super(message);
      this.kind = kind;
      this.status = status;
      this.body = body || null;
    }
  }

  // call fetches path of the API with the credential; a 401 (or an unreadable refusal) with a
  // session fetches a new session once and tries again.
  async function call(path, init, retried) {
    const tok = await token(false);
    const headers = Object.assign({ Authorization: 'Bearer ' + tok }, init.headers || {});
    let res;
    try {
      res = await fetch(api + path, Object.assign({}, init, { headers, credentials: 'omit', mode: 'cors' }));
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      // A refusal without CORS headers reaches a page as a network error (Docent sends them
      // on a 401 from a listed origin, but a proxy in between may not): with a session, get a
      // new one once and try again.
      if (config.sessionURL && !retried) {
        await token(true);
        return call(path, init, true);
      }
      throw new WidgetError('network', 0, t('errorNetwork'));
    }
    if (res.status === 401 && config.sessionURL && !retried) {
      await token(true);
      return call(path, init, true);
    }
    return res;
  }

  async function failure(res) {
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    const detail = body && body.error ? body.error : {};
    if (res.status === 429) {
      const after = parseInt(res.headers.get('Retry-After') || '', 10);
      return new WidgetError('rate_limited', 429, t('errorRateLimited', { seconds: after > 0 ? after : 10 }), body);
    }
    if (res.status === 401) return new WidgetError('auth', 401, t('errorAuth'), body);
    if (res.status === 403) return new WidgetError('forbidden', 403, t('errorForbidden'), body);
    if (res.status === 503) return new WidgetError('unavailable', 503, t('errorUnavailable'), body);
    if (res.status >= 400 && res.status < 500 && detail.message) {
      return new WidgetError('request', res.status, t('errorServer', { message: detail.message }), body);
    }
    return new WidgetError('server', res.status, t('errorGeneric'), body);
  }

  // ---- Server-Sent Events over fetch (EventSource cannot POST nor send Authorization) ----

  async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let end;
      while ((end = /\r?\n\r?\n/.exec(buf)) !== null) {
        const block = buf.slice(0, end.index);
        buf = buf.slice(end.index + end[0].length);
        let name = 'message';
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let v = colon < 0 ? '' : line.slice(colon + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (field === 'event') name = v;
          else if (field === 'data') data.push(v);
        }
        if (data.length) {
          let payload;
          try { payload = JSON.parse(data.join('\n')); } catch (e) { continue; }
          onEvent(name, payload);
        }
      }
    }
  }

  // ---- the shadow DOM ----

  const host = document.createElement('docent-chat');
  const root = host.attachShadow({ mode: 'open' });
  const CSS = `
:host{all:initial!important;display:block!important;contain:layout style;
  --_accent:var(--docent-accent,#1d4ed8);--_accent-text:var(--docent-accent-text,#ffffff);
  --_bg:var(--docent-background,#ffffff);--_text:var(--docent-text,#1f2328);
  --_muted:var(--docent-muted,#57606a);--_surface:var(--docent-surface,#f3f5f8);
  --_border:var(--docent-border,#d0d7de);--_error:var(--docent-error,#b42318);
  --_radius:var(--docent-radius,12px);--_font:var(--docent-font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif);
  --_size:var(--docent-font-size,15px);--_shadow:var(--docent-shadow,0 12px 40px rgba(15,23,42,.22));
  --_width:var(--docent-width,400px);--_height:var(--docent-height,620px);--_z:var(--docent-z-index,2147483000)}
*,*::before,*::after{box-sizing:border-box}
.w{font-family:var(--_font);font-size:var(--_size);line-height:1.5;color:var(--_text);text-align:left}
button,textarea,input{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--_accent);outline-offset:2px}
svg{width:20px;height:20px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}
.sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
.launcher{position:fixed;right:20px;bottom:20px;z-index:var(--_z);width:56px;height:56px;border-radius:50%;border:0;
  background:var(--_accent);color:var(--_accent-text);box-shadow:var(--_shadow);display:flex;align-items:center;justify-content:center}
.launcher svg{width:26px;height:26px}
.panel{background:var(--_bg);border:1px solid var(--_border);border-radius:var(--_radius);display:flex;flex-direction:column;overflow:hidden;position:relative}
.launcher-mode .panel{position:fixed;right:20px;bottom:88px;z-index:var(--_z);width:var(--_width);height:min(var(--_height),calc(100vh - 110px));box-shadow:var(--_shadow)}
.inline-mode .panel{width:100%;height:var(--docent-inline-height,100%);min-height:360px}
.panel[hidden]{display:none}
header{display:flex;align-items:center;gap:4px;padding:10px 10px 10px 16px;background:var(--_accent);color:var(--_accent-text)}
header h2{flex:1;margin:0;font-size:1.05em;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.icon{border:0;background:transparent;border-radius:8px;padding:6px;display:inline-flex;align-items:center;justify-content:center;color:inherit}
.icon:hover{background:rgba(127,127,127,.16)}
.log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:12px}
.msg{max-width:100%;overflow-wrap:anywhere}
.user{align-self:flex-end;max-width:85%;background:var(--_accent);color:var(--_accent-text);padding:8px 12px;border-radius:var(--_radius) var(--_radius) 4px var(--_radius);white-space:pre-wrap}
.bot{align-self:stretch;background:var(--_surface);padding:10px 12px;border-radius:var(--_radius) var(--_radius) var(--_radius) 4px}
.bot p{margin:0 0 .5em}.bot p:last-child{margin-bottom:0}
.bot ul,.bot ol{margin:.25em 0 .5em;padding-left:1.4em}
.bot code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:rgba(127,127,127,.14);padding:1px 4px;border-radius:4px}
.bot pre{overflow-x:auto;background:rgba(127,127,127,.14);padding:8px;border-radius:6px;margin:.25em 0 .5em}
.bot pre code{background:none;padding:0}
.status{color:var(--_muted);font-style:italic;display:flex;align-items:center;gap:8px}
.status::before{content:"";width:8px;height:8px;border-radius:50%;background:var(--_accent);animation:pulse 1s infinite alternate}
@keyframes pulse{from{opacity:.25}to{opacity:1}}
@media (prefers-reduced-motion:reduce){.status::before{animation:none}}
.error{color:var(--_error);font-weight:500}
.refusal{font-weight:500}
.bot .cards{display:flex;flex-direction:column;gap:6px;margin:0 0 10px;padding:0;list-style:none}
.cards-title{font-size:.8em;font-weight:600;color:var(--_muted);text-transform:uppercase;letter-spacing:.04em;margin:0 0 4px}
.card{background:var(--_bg);border:1px solid var(--_border);border-radius:8px;padding:8px 10px;font-size:.88em;scroll-margin:12px}
.card:target,.card.flash{border-color:var(--_accent);box-shadow:0 0 0 2px var(--_accent)}
.card-head{display:flex;gap:8px;align-items:baseline}
.num{flex:none;min-width:1.6em;height:1.6em;border-radius:6px;background:var(--_accent);color:var(--_accent-text);font-size:.8em;font-weight:700;display:inline-flex;align-items:center;justify-content:center}
.card-title{font-weight:600;color:var(--_text);overflow-wrap:anywhere}
a.card-title,.link{color:var(--_accent);text-decoration:underline;text-underline-offset:2px}
button.card-title{border:0;background:none;padding:0;text-align:left}
.meta{color:var(--_muted);font-size:.92em;margin-top:2px}
.snippet{margin-top:4px;color:var(--_text);display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
.cite{position:relative;display:inline-flex;align-items:center;justify-content:center;min-width:1.45em;height:1.35em;padding:0 3px;margin:0 1px;border:0;border-radius:5px;
  background:var(--_accent);color:var(--_accent-text);font-size:.75em;font-weight:700;vertical-align:.15em;line-height:1}
.tip{display:none;position:absolute;left:50%;bottom:calc(100% + 6px);transform:translateX(-50%);width:min(280px,70vw);z-index:2;padding:8px 10px;border-radius:8px;
  background:var(--_text);color:var(--_bg);font-size:12.5px;font-weight:400;line-height:1.4;text-align:left;white-space:normal;box-shadow:var(--_shadow)}
.cite:hover .tip,.cite:focus .tip,.cite:focus-visible .tip{display:block}
.actions{display:flex;flex-wrap:wrap;align-items:center;gap:2px;margin-top:8px;color:var(--_muted)}
.actions .icon svg{width:18px;height:18px}
.actions .icon[aria-pressed="true"]{color:var(--_accent);background:rgba(127,127,127,.16)}
.note{font-size:.85em;color:var(--_muted);margin-left:6px}
.feedback{margin-top:8px;border-top:1px solid var(--_border);padding-top:8px;display:flex;flex-direction:column;gap:6px}
.feedback fieldset{border:0;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:6px}
.feedback legend{font-weight:600;margin-bottom:4px;padding:0}
.chip{display:inline-flex;align-items:center;gap:4px;border:1px solid var(--_border);border-radius:999px;padding:2px 10px;background:var(--_bg);font-size:.9em}
.chip:has(input:checked){border-color:var(--_accent);background:var(--_surface)}
.chip input{margin:0;accent-color:var(--_accent)}
.feedback textarea{border:1px solid var(--_border);border-radius:8px;padding:6px 8px;resize:vertical;min-height:2.6em;background:var(--_bg)}
.row{display:flex;gap:8px;flex-wrap:wrap}
.btn{border:1px solid var(--_accent);background:var(--_accent);color:var(--_accent-text);border-radius:8px;padding:5px 12px;font-weight:600}
.btn.secondary{background:var(--_bg);color:var(--_accent)}
.greeting{color:var(--_text)}
.bot .suggest{display:flex;flex-direction:column;align-items:flex-start;gap:6px;margin:8px 0 0;padding:0;list-style:none}
.suggest button{border:1px solid var(--_border);background:var(--_bg);color:var(--_accent);border-radius:999px;padding:5px 12px;text-align:left}
.suggest button:hover{border-color:var(--_accent)}
form.ask{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid var(--_border);background:var(--_bg)}
form.ask textarea{flex:1;border:1px solid var(--_border);border-radius:10px;padding:8px 10px;resize:none;max-height:8em;min-height:2.6em;background:var(--_bg);line-height:1.4}
form.ask textarea:focus{border-color:var(--_accent);outline:2px solid var(--_accent);outline-offset:0}
form.ask .icon{width:40px;height:40px;background:var(--_accent);color:var(--_accent-text);border-radius:10px}
form.ask .icon:hover{filter:brightness(1.1);background:var(--_accent)}
.passage{position:absolute;inset:0;background:var(--_bg);display:flex;flex-direction:column;z-index:3}
.passage[hidden]{display:none}
.passage .bar{display:flex;align-items:center;gap:6px;padding:8px 10px;border-bottom:1px solid var(--_border)}
.passage .bar h3{margin:0;font-size:1em;flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.passage .body{flex:1;overflow-y:auto;padding:12px 16px;white-space:pre-wrap;overflow-wrap:anywhere}
.passage .ctx{color:var(--_muted)}
.passage mark{display:block;background:var(--_surface);color:var(--_text);border-left:3px solid var(--_accent);padding:6px 8px;margin:8px 0}
@media (max-width:480px){
  .launcher-mode .panel{inset:0;right:0;bottom:0;width:100vw;width:100dvw;height:100vh;height:100dvh;max-height:none;border-radius:0;border:0}
  .launcher-mode.open .launcher{display:none}
}`;
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el('style', { text: CSS })); // older browsers: needs style-src 'unsafe-inline'
  }
  // Theme: CSS custom properties only, through the CSSOM (allowed by any CSP).
  for (const k of Object.keys(config.theme)) {
    if (/^--docent-[a-z0-9-]{1,40}$/.test(k) && typeof config.theme[k] === 'string') host.style.setProperty(k, config.theme[k]);
  }

  const uid = Math.random().toString(36).slice(2, 8);
  const ids = (name) => 'docent-' + uid + '-' + name;
  const wrap = el('div', { class: 'w ' + config.mode + '-mode' });
  const live = el('div', { class: 'sr', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const log = el('div', { class: 'log', role: 'log', 'aria-live': 'off', 'aria-label': strings.title });
  const input = el('textarea', { id: ids('input'), rows: '1', placeholder: strings.placeholder, 'aria-label': strings.inputLabel, maxlength: '4000', enterkeyhint: 'send' });
  const sendBtn = iconButton('send', strings.send, () => { if (busy) busy.controller.abort(); else submit(); }, 'send');
  const form = el('form', { class: 'ask', onsubmit: (e) => { e.preventDefault(); submit(); } }, input, sendBtn);
  const titleEl = el('h2', { id: ids('title'), text: strings.title });
  const newBtn = iconButton('reset', strings.newConversation, () => { reset(); input.focus(); }, 'new');
  const closeBtn = config.mode === 'launcher' ? iconButton('close', strings.closeChat, () => close(), 'close') : null;
  const passageTitle = el('h3', { id: ids('ptitle') });
  const passageBody = el('div', { class: 'body', tabindex: '0' });
  const passageBack = iconButton('back', strings.back, () => hidePassage(), 'back');
  const passage = el('section', { class: 'passage', hidden: true, 'aria-labelledby': ids('ptitle') },
    el('div', { class: 'bar' }, passageBack, passageTitle), passageBody);
  const panel = el('section', { class: 'panel', id: ids('panel'), role: config.mode === 'launcher' ? 'dialog' : 'region', 'aria-modal': config.mode === 'launcher' ? 'false' : null, 'aria-labelledby': ids('title'), hidden: config.mode === 'launcher' },
    el('header', null, titleEl, newBtn, closeBtn), log, form, passage, live);
  const launcher = config.mode === 'launcher'
    ? el('button', { type: 'button', class: 'launcher', 'aria-label': strings.openChat, title: strings.openChat, 'aria-expanded': 'false', 'aria-controls': ids('panel'), onclick: () => toggle() }, icon('chat'))
    : null;
  wrap.append(panel);
  if (launcher) wrap.append(launcher);
  root.append(wrap);

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener('input', () => {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 160) + 'px';
  });
  panel.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    if (!passage.hidden) { e.stopPropagation(); hidePassage(); return; }
    if (config.mode === 'launcher') { e.stopPropagation(); close(); }
  });

  function mount() {
    if (config.mode === 'inline') {
      const sel = config.target;
      let target = null;
      if (sel) target = document.getElementById(sel.replace(/^#/, ''));
      if (!target && sel) { try { target = document.querySelector(sel); } catch (e) { target = null; } }
      if (!target) {
        console.warn('Docent: data-docent-target does not name an element; the widget is not shown');
        return false;
      }
      target.append(host);
    } else {
      (document.body || document.documentElement).append(host);
    }
    return true;
  }

  // ---- open, close ----

  let isOpen = config.mode === 'inline';
  function open() {
    if (config.mode === 'inline') { input.focus(); return; }
    if (!isOpen) {
      isOpen = true;
      panel.hidden = false;
      wrap.classList.add('open');
      launcher.setAttribute('aria-expanded', 'true');
      launcher.setAttribute('aria-label', strings.closeChat);
      launcher.title = strings.closeChat;
      launcher.replaceChildren(icon('close'));
      log.scrollTop = log.scrollHeight;
    }
    input.focus();
  }
  function close() {
    if (config.mode === 'inline' || !isOpen) return;
    isOpen = false;
    hidePassage(true);
    panel.hidden = true;
    wrap.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-label', strings.openChat);
    launcher.title = strings.openChat;
    launcher.replaceChildren(icon('chat'));
    launcher.focus();
  }
  function toggle() { if (isOpen) close(); else open(); }

  function announce(text) {
    live.textContent = '';
    // A new node after a tick so that screen readers announce a repeated text too.
    setTimeout(() => { live.textContent = text; }, 50);
  }

  function dispatch(name, detail) {
    script.dispatchEvent(new CustomEvent(name, { detail, bubbles: true }));
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // ---- the conversation ----

  let conversationID = null;
  let busy = null; // {controller, question}

  function storeConversation(id) {
    conversationID = id;
    try {
      if (id) sessionStorage.setItem(storageKey, id);
      else sessionStorage.removeItem(storageKey);
    } catch (e) { /* storage disabled: the conversation lasts as long as the page */ }
  }

  function welcome() {
    const items = config.suggestions.map((q) => el('li', null, el('button', { type: 'button', onclick: () => ask(q).catch(() => {}) }, q)));
    log.append(el('div', { class: 'msg bot greeting' }, el('p', { text: strings.greeting }),
      items.length ? el('ul', { class: 'suggest', 'aria-label': strings.suggestions }, ...items) : null));
  }

  function reset() {
    if (busy) busy.controller.abort();
    storeConversation(null);
    log.replaceChildren();
    hidePassage(true);
    welcome();
  }

  function pagesText(p) {
    if (!p || !p.start) return '';
    const slide = p.unit === 'slide';
    return p.end && p.end !== p.start ? t(slide ? 'slides' : 'pages', { start: p.start, end: p.end }) : t(slide ? 'slide' : 'page', { page: p.start });
  }

  // whereText says where a passage is: its pages or slides, its sheet and range or chapter, a scan.
  function whereText(s) {
    return [s.heading, pagesText(s.pages), s.locator, s.ocr ? strings.scanned : ''].filter(Boolean).join(' · ');
  }

  function clip(text, n) {
    const s = String(text || '').replace(/\s+/g, ' ').trim();
    return s.length > n ? s.slice(0, n - 1).trimEnd() + '…' : s;
  }

  // renderCards shows sources (the `sources` event's, or an answer's citations) as cards.
  function renderCards(turn, items) {
    turn.cards = new Map();
    const list = el('ol', { class: 'cards', 'aria-label': strings.sources });
    for (const s of items) {
      const doc = s.document || {};
      const title = doc.title || doc.uri || t('source', { n: s.n });
      const url = httpURL(doc.url, api + '/');
      let titleEl;
      if (url) {
        titleEl = el('a', { class: 'card-title', href: url.href, target: '_blank', rel: 'noopener noreferrer' }, title);
      } else if (s.chunk_id) {
        titleEl = el('button', { type: 'button', class: 'card-title link', 'aria-label': strings.viewPassage + ': ' + title,
          onclick: (e) => showPassage(s.chunk_id, title, e.currentTarget) }, title);
      } else {
        titleEl = el('span', { class: 'card-title' }, title);
      }
      const meta = whereText(s);
      const snippet = clip(s.snippet || s.text, 240);
      const card = el('li', { class: 'card', id: ids('t' + turn.id + '-s' + s.n), tabindex: '-1', 'data-n': s.n },
        el('div', { class: 'card-head' }, el('span', { class: 'num', 'aria-label': t('source', { n: s.n }) }, String(s.n)), titleEl),
        meta ? el('div', { class: 'meta' }, meta) : null,
        snippet ? el('div', { class: 'snippet' }, snippet) : null);
      turn.cards.set(s.n, { card, title, snippet });
      list.append(card);
    }
    turn.sourcesBox.replaceChildren(items.length ? el('div', { class: 'cards-title', 'aria-hidden': 'true' }, strings.sources) : '', items.length ? list : '');
  }

  function citeMarker(turn) {
    return (n) => {
      const c = turn.cards && turn.cards.get(n);
      if (!c) return null;
      const tipID = ids('t' + turn.id + '-tip' + n + '-' + (turn.tips = (turn.tips || 0) + 1));
      return el('button', { type: 'button', class: 'cite', 'aria-label': t('source', { n }) + ': ' + c.title, 'aria-describedby': tipID,
        onclick: () => {
          c.card.scrollIntoView({ block: 'nearest' });
          c.card.classList.add('flash');
          setTimeout(() => c.card.classList.remove('flash'), 1200);
          c.card.focus({ preventScroll: true });
        } }, String(n), el('span', { class: 'tip', role: 'tooltip', id: tipID }, c.title + (c.snippet ? ': ' + c.snippet : '')));
    };
  }

  let turnSeq = 0;
  function newTurn(question) {
    const turn = { id: ++turnSeq, question };
    const userMsg = el('div', { class: 'msg user', 'aria-label': strings.you }, question);
    turn.sourcesBox = el('div', { class: 'sources' });
    turn.body = el('div', { class: 'answer' });
    turn.footer = el('div', { class: 'foot' });
    turn.bot = el('div', { class: 'msg bot', 'aria-label': strings.assistant }, turn.sourcesBox, turn.body, turn.footer);
    log.append(userMsg, turn.bot);
    return turn;
  }

  function setStatus(turn, text) {
    turn.body.replaceChildren(el('p', { class: 'status' }, text));
    turn.bot.setAttribute('aria-busy', 'true');
  }

  function showError(turn, err) {
    turn.bot.removeAttribute('aria-busy');
    const msg = err && err.message ? err.message : t('errorGeneric');
    turn.body.replaceChildren(el('p', { class: 'error', role: 'alert' }, msg));
    turn.footer.replaceChildren(el('div', { class: 'actions' }, retryButton(turn)));
    dispatch('docent:error', err && err.body ? err.body : { error: { code: (err && err.kind) || 'error', message: msg, status: (err && err.status) || 0 } });
  }

  function retryButton(turn) {
    const b = el('button', { type: 'button', class: 'btn secondary', onclick: () => {
      turn.bot.previousSibling && turn.bot.previousSibling.remove();
      turn.bot.remove();
      ask(turn.question).catch(() => {});
    } }, strings.retry);
    return b;
  }

  function renderAnswer(turn, a) {
    turn.bot.removeAttribute('aria-busy');
    turn.answer = a;
    if (Array.isArray(a.citations) && a.citations.length) renderCards(turn, a.citations);
    else renderCards(turn, []);
    if (a.refused) {
      turn.body.replaceChildren(el('p', { class: 'refusal' }, strings.refusal),
        config.escalation ? el('p', null, el('a', { class: 'link', href: config.escalation.href, target: '_blank', rel: 'noopener noreferrer' }, strings.escalation)) : '');
    } else if (a.answer) {
      turn.body.replaceChildren(markdown(a.answer, citeMarker(turn)));
    } else {
      turn.body.replaceChildren(el('p', { class: 'error' }, t('errorGeneric')));
    }
    turn.footer.replaceChildren(actions(turn, a));
  }

  function actions(turn, a) {
    const bar = el('div', { class: 'actions' });
    const note = el('span', { class: 'note', role: 'status' });
    if (!a.refused && a.answer) {
      bar.append(iconButton('copy', strings.copy, async () => {
        try {
          await navigator.clipboard.writeText(a.answer);
          note.textContent = strings.copied;
        } catch (e) {
          note.textContent = strings.copyFailed;
        }
      }, 'copy'));
    }
    bar.append(iconButton('retry', strings.retry, () => {
      turn.bot.previousSibling && turn.bot.previousSibling.remove();
      turn.bot.remove();
      ask(turn.question).catch(() => {});
    }, 'retry'));
    if (a.id) {
      const up = iconButton('up', strings.helpful, () => sendFeedback(turn, a, 'up', '', '', up, down, note), 'up');
      const down = iconButton('down', strings.notHelpful, () => feedbackForm(turn, a, up, down, note), 'down');
      up.setAttribute('aria-pressed', 'false');
      down.setAttribute('aria-pressed', 'false');
      bar.append(up, down);
    }
    bar.append(note);
    return bar;
  }

  function feedbackForm(turn, a, up, down, note) {
    const old = turn.footer.querySelector('.feedback');
    if (old) { old.remove(); down.focus(); return; }
    const name = ids('reason' + turn.id);
    const chips = REASONS.map(([value, label]) => el('label', { class: 'chip' }, el('input', { type: 'radio', name, value }), strings[label]));
    const comment = el('textarea', { rows: '2', maxlength: '2000', 'aria-label': strings.comment, placeholder: strings.comment });
    const form = el('form', { class: 'feedback', onsubmit: (e) => {
      e.preventDefault();
      const checked = form.querySelector('input:checked');
      sendFeedback(turn, a, 'down', checked ? checked.value : '', comment.value.trim(), up, down, note).then((ok) => { if (ok) form.remove(); });
    } }, el('fieldset', null, el('legend', null, strings.feedbackQuestion), ...chips), comment,
    el('div', { class: 'row' }, el('button', { type: 'submit', class: 'btn' }, strings.sendFeedback),
      el('button', { type: 'button', class: 'btn secondary', onclick: () => { form.remove(); down.focus(); } }, strings.cancel)));
    turn.footer.append(form);
    form.querySelector('input').focus();
    scrollDown();
  }

  async function sendFeedback(turn, a, rating, reason, comment, up, down, note) {
    const body = { rating };
    if (reason) body.reason = reason;
    if (comment) body.comment = comment;
    try {
      const res = await call('/v1/answers/' + encodeURIComponent(a.id) + '/feedback', {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw await failure(res);
      const json = await res.json();
      up.setAttribute('aria-pressed', String(rating === 'up'));
      down.setAttribute('aria-pressed', String(rating === 'down'));
      note.textContent = strings.feedbackThanks;
      dispatch('docent:feedback', json);
      return true;
    } catch (e) {
      note.textContent = strings.feedbackFailed + (e && e.message ? ' ' + e.message : '');
      dispatch('docent:error', e && e.body ? e.body : { error: { code: (e && e.kind) || 'error', message: note.textContent } });
      return false;
    }
  }

  // ask sends question and shows its answer as it streams; the promise resolves with the
  // final answer object (the API's JSON) and rejects with the error shown.
  async function ask(question) {
    question = String(question || '').trim();
    if (!question) throw new Error('Docent.ask: empty question');
    if (busy) busy.controller.abort();
    open();
    for (const s of log.querySelectorAll('.suggest')) s.remove();
    const turn = newTurn(question);
    const controller = new AbortController();
    const mine = { controller, question };
    busy = mine;
    setBusy(true);
    setStatus(turn, strings.searching);
    scrollDown();
    let final = null;
    let text = '';
    let frame = 0;
    const paint = () => {
      frame = 0;
      turn.body.replaceChildren(markdown(text, citeMarker(turn)));
      scrollDown();
    };
    try {
      const req = { question };
      if (conversationID) req.conversation_id = conversationID;
      const res = await call('/v1/answer', { method: 'POST', signal: controller.signal,
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' }, body: JSON.stringify(req) });
      if (!res.ok) throw await failure(res);
      if (!(res.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
        final = await res.json();
      } else {
        await readEvents(res, (name, data) => {
          if (name === 'sources' && Array.isArray(data)) {
            renderCards(turn, data);
            setStatus(turn, strings.writing);
            scrollDown();
          } else if (name === 'delta' && data && typeof data.text === 'string') {
            text += data.text;
            if (!frame) frame = requestAnimationFrame(paint);
          } else if (name === 'answer') {
            final = data;
          } else if (name === 'error') {
            const d = data && data.error ? data.error : {};
            throw new WidgetError(d.code === 'unavailable' || d.code === 'timeout' ? 'unavailable' : 'server', 0,
              d.code === 'unavailable' || d.code === 'timeout' ? t('errorUnavailable') : d.message ? t('errorServer', { message: d.message }) : t('errorGeneric'), data);
          }
        });
      }
      if (frame) cancelAnimationFrame(frame);
      if (!final || typeof final !== 'object') throw new WidgetError('interrupted', 0, t('interrupted'));
      if (final.conversation_id) storeConversation(final.conversation_id);
      renderAnswer(turn, final);
      announce(final.refused ? strings.refusal : t('answerReady', { text: final.answer || '' }));
      dispatch('docent:answer', final);
      return final;
    } catch (err) {
      if (frame) cancelAnimationFrame(frame);
      if (err && err.name === 'AbortError') {
        turn.bot.removeAttribute('aria-busy');
        const partial = text ? markdown(text, citeMarker(turn)) : '';
        turn.body.replaceChildren(partial, el('p', { class: 'status-stopped' }, el('em', null, strings.stopped)));
        turn.footer.replaceChildren(el('div', { class: 'actions' }, retryButton(turn)));
        announce(strings.stopped);
        const e = new WidgetError('aborted', 0, strings.stopped);
        if (busy === mine) dispatch('docent:error', { error: { code: 'aborted', message: strings.stopped } });
        throw e;
      }
      const e = err instanceof WidgetError ? err : new WidgetError('network', 0, t('errorNetwork'));
      showError(turn, e);
      announce(e.message);
      throw e;
    } finally {
      if (busy === mine) {
        busy = null;
        setBusy(false);
      }
      scrollDown();
    }
  }

  function setBusy(on) {
    sendBtn.replaceChildren(icon(on ? 'stop' : 'send'));
    sendBtn.setAttribute('aria-label', on ? strings.stop : strings.send);
    sendBtn.title = on ? strings.stop : strings.send;
    sendBtn.classList.toggle('stop', on);
  }

  function submit() {
    if (busy) return; // the button stops; Enter while an answer streams does nothing
    const q = input.value.trim();
    if (!q) return;
    input.value = '';
    input.style.height = '';
    ask(q).catch(() => {});
  }

  // ---- the passage view (documents without a URL) ----

  let passageReturn = null;
  let passageController = null;
  async function showPassage(chunkID, title, from) {
    passageReturn = from;
    passageTitle.textContent = title;
    passageBody.replaceChildren(el('p', { class: 'status' }, strings.loading));
    passage.hidden = false;
    passageBack.focus();
    if (passageController) passageController.abort();
    passageController = new AbortController();
    try {
      const res = await call('/v1/chunks/' + encodeURIComponent(chunkID) + '?around=1', { method: 'GET', signal: passageController.signal, headers: { Accept: 'application/json' } });
      if (!res.ok) throw await failure(res);
      const p = await res.json();
      const parts = [];
      for (const c of p.before || []) parts.push(el('p', { class: 'ctx' }, c.text));
      const here = p.chunk || {};
      const meta = whereText(here);
      parts.push(el('mark', null, meta ? el('strong', null, meta + '\n') : '', here.text || ''));
      for (const c of p.after || []) parts.push(el('p', { class: 'ctx' }, c.text));
      const url = httpURL(p.document && p.document.url, api + '/');
      if (url) parts.push(el('p', null, el('a', { class: 'link', href: url.href, target: '_blank', rel: 'noopener noreferrer' }, strings.openDocument)));
      passageBody.replaceChildren(...parts);
      const mark = passageBody.querySelector('mark');
      if (mark) mark.scrollIntoView({ block: 'start' });
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      passageBody.replaceChildren(el('p', { class: 'error', role: 'alert' }, strings.passageFailed + (e && e.message ? ' ' + e.message : '')));
    }
  }
  function hidePassage(quiet) {
    if (passage.hidden) return;
    if (passageController) passageController.abort();
    passage.hidden = true;
    if (!quiet && passageReturn && passageReturn.isConnected) passageReturn.focus();
    passageReturn = null;
  }

  // ---- restoring the conversation after a reload ----

  async function restore() {
    let id = null;
    try { id = sessionStorage.getItem(storageKey); } catch (e) { id = null; }
    if (!id || !/^[A-Za-z0-9_-]{1,100}$/.test(id)) { welcome(); return; }
    try {
      const res = await call('/v1/conversations/' + encodeURIComponent(id), { method: 'GET', headers: { Accept: 'application/json' } });
      if (res.status === 404 || res.status === 403) { storeConversation(null); welcome(); return; }
      if (!res.ok) throw await failure(res);
      const conv = await res.json();
      if (busy) return; // a question asked meanwhile starts its own view
      conversationID = conv.id;
      log.replaceChildren();
      for (const turn of conv.turns || []) {
        const tv = newTurn(turn.question);
        if (turn.redacted) {
          renderCards(tv, []);
          tv.body.replaceChildren(el('p', { class: 'refusal' }, strings.redacted));
          continue;
        }
        renderAnswer(tv, { id: turn.answer_id, answer: turn.answer || '', refused: turn.refused, reason: turn.reason, citations: turn.citations || [] });
      }
      if (!log.firstChild) welcome();
      scrollDown();
    } catch (e) {
      if (!log.firstChild) welcome();
    }
  }

  // ---- start ----

  window.Docent = Object.freeze({
    version: VERSION,
    open: () => open(),
    close: () => close(),
    ask: (text) => ask(text),
    reset: () => reset(),
  });
  function start() {
    if (!mount()) return;
    restore().finally(() => {
      host.setAttribute('data-ready', '');
      script.dispatchEvent(new CustomEvent('docent:ready', { bubbles: true }));
    });
    if (config.open) open();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
  else start();
})();
