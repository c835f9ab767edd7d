// The chat page of --demo: a message list with history on join, a presence list fed by
// join/leave events, a connection badge, the room's own state beside it (a connected link can
// still carry a room the server refused: retrying or refused for good), and a notice of what a
// reconnect recovered. It imports the client module the server serves at /demo/client/. Hooks
// tests rely on: the input #message, the button #send, data-seq on every message element,
// #status, #room-state, #notice and #members.

export function demoPage(wsPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringcast chat</title>
<style>
  :root { font: 15px/1.4 system-ui, sans-serif; color: #1d2330; background: #f4f5f8; }
  body { margin: 0; display: grid; grid-template-rows: auto 1fr auto; height: 100vh; }
  header { display: flex; align-items: center; gap: 12px; padding: 10px 16px; background: #1d2330; color: #fff; }
  header h1 { font-size: 17px; margin: 0; flex: 1; }
  #status { padding: 2px 10px; border-radius: 10px; font-size: 13px; background: #888; }
  #status[data-state="connected"] { background: #1f9d55; }
  #status[data-state="connecting"], #status[data-state="disconnected"] { background: #d68910; }
  #status[data-state="closed"] { background: #c0392b; }
  #room-state { font-size: 13px; }
  #room-state[data-state="subscribed"] { color: #7dcea0; }
  #room-state[data-state="retrying"] { color: #f5b041; }
  #room-state[data-state="failed"] { color: #ff7b6b; font-weight: 600; }
  main { display: grid; grid-template-columns: 1fr 220px; min-height: 0; }
  #messages { list-style: none; margin: 0; padding: 12px 16px; overflow-y: auto; }
  #messages li { margin: 4px 0; }
  #messages li .who { font-weight: 600; margin-right: 6px; }
  #messages li .seq { color: #999; font-size: 12px; margin-right: 6px; }
  #messages li.event { color: #777; font-style: italic; }
  aside { border-left: 1px solid #dde; padding: 12px; background: #fff; overflow-y: auto; }
  aside h2 { font-size: 13px; text-transform: uppercase; color: #777; margin: 0 0 8px; }
  #members { list-style: none; margin: 0; padding: 0; font-size: 13px; }
  #members li::before { content: "\\25CF  "; color: #1f9d55; }
  #notice { margin: 0 16px; padding: 6px 10px; border-radius: 6px; background: #e8f4fd; color: #1a5276; }
  #notice:empty { display: none; }
  form { display: flex; gap: 8px; padding: 10px 16px; background: #fff; border-top: 1px solid #dde; }
  #message { flex: 1; padding: 8px; font: inherit; border: 1px solid #ccd; border-radius: 6px; }
  #send { padding: 8px 16px; font: inherit; border: 0; border-radius: 6px; background: #2e6fd8; color: #fff; cursor: pointer; }
</style>
</head>
<body>
<header><h1>ringcast chat · <span id="room"></span></h1><span id="me"></span><span id="room-state" role="status" data-state="subscribing">joining the room…</span><span id="status" data-state="connecting">connecting</span></header>
<main>
  <div style="display:flex;flex-direction:column;min-height:0">
    <p id="notice" role="status"></p>
    <ul id="messages"></ul>
  </div>
  <aside><h2>In this room</h2><ul id="members"></ul></aside>
</main>
<form id="form"><input id="message" autocomplete="off" placeholder="Say something" maxlength="500"><button id="send" type="submit">Send</button></form>
<script type="module">
import { RingcastClient } from '/demo/client/index.js';

const params = new URLSearchParams(location.search);
const room = (params.get('room') || 'lobby').replace(/[^\\x21-\\x7e]/g, '').slice(0, 100) || 'lobby';
const name = (params.get('name') || 'guest-' + Math.random().toString(36).slice(2, 6)).slice(0, 40);
const $ = (id) => document.getElementById(id);
$('room').textContent = room;
$('me').textContent = name;
document.title = 'ringcast chat · ' + room;

const token = params.get('token') || undefined; // for a server run with auth
const client = new RingcastClient((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + ${JSON.stringify(wsPath)}, { token, pingInterval: 5000, minDelay: 200, maxDelay: 3000 });
window.ringcast = client;

client.on('state', (s) => {
  $('status').dataset.state = s.state;
  $('status').textContent = s.state === 'disconnected' && s.delay !== undefined ? 'reconnecting…' : s.state;
});

function line(cls, parts) {
  const li = document.createElement('li');
  li.className = cls;
  for (const [c, text] of parts) {
    const span = document.createElement('span');
    if (c) span.className = c;
    span.textContent = text;
    li.append(span);
  }
  const list = $('messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
  return li;
}

const short = (id) => id.slice(-4);
// without auth presence has no user names: learn them from the messages each client sends
const names = new Map();
const label = (m) => m.user || names.get(m.client) || 'client ' + short(m.client);
function renderMembers(sub) {
  const list = $('members');
  list.replaceChildren();
  for (const m of sub.members.values()) {
    const li = document.createElement('li');
    li.dataset.client = m.client;
    li.textContent = (m.client === sub.clientId ? name : label(m)) + (m.client === sub.clientId ? ' (you)' : '');
    list.append(li);
  }
}

// this page's own connections (a reconnect makes a new one): their joins and leaves are not news
const mine = new Set();
const sub = client.subscribe('chat.' + room, (data, { seq }) => {
  if (typeof data?.client === 'string' && typeof data?.name === 'string' && names.get(data.client) !== data.name) {
    names.set(data.client, data.name);
    renderMembers(sub);
  }
  const li = line('message', [['seq', '#' + seq], ['who', String(data?.name ?? '?')], ['text', String(data?.text ?? '')]]);
  li.dataset.seq = String(seq);
}, {
  since: 0, // the retained history first, then live messages
  presence: true,
  onJoin: (m) => {
    if (m.client === sub.clientId) mine.add(m.client);
    renderMembers(sub);
    if (!mine.has(m.client)) line('event', [['', label(m) + ' joined']]);
  },
  onLeave: (m) => {
    renderMembers(sub);
    if (!mine.has(m.client)) line('event', [['', label(m) + ' left']]);
  },
  // recovered:false is the SDK's word for a real gap (the server could not replay it, or the
  // topic's sequence restarted): the only case that says messages may be missing
  onRecovery: (r) => {
    $('notice').textContent = r.recovered
      ? 'reconnected: ' + r.count + ' message' + (r.count === 1 ? '' : 's') + ' recovered'
      : 'some messages could not be recovered (' +
        (r.epochChanged ? 'the room restarted on the server' : 'the gap was longer than the history kept') + ')';
  },
});

// the room's own state: the link can be up while the server refuses this room
const roomText = {
  subscribing: () => 'joining the room…',
  subscribed: () => 'live',
  retrying: (s) => 'waiting for the server: ' + s.code + ', retrying',
  failed: (s) => 'this room refused you: ' + s.code + (s.reason ? ' (' + s.reason + ')' : ''),
  unsubscribed: () => 'left the room',
};
sub.on('state', (s) => {
  $('room-state').dataset.state = s.state;
  $('room-state').textContent = roomText[s.state](s);
  $('message').disabled = $('send').disabled = s.state === 'failed';
});

$('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('message').value.trim();
  if (!text) return;
  $('message').value = '';
  try {
    await client.publish('chat.' + room, { name, text, client: sub.clientId }, { key: crypto.randomUUID?.() ?? String(Math.random()) });
  } catch (err) {
    line('event', [['', 'not sent: ' + err.message]]);
  }
});
</script>
</body>
</html>
`;
}
