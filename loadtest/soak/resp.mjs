// One Redis command on a fresh socket, for the harness's probes (INFO, SAVE, CONFIG). No client
// library: a probe must time out on its own while Redis is paused, and must never queue a command
// for later the way a reconnecting client would.
import net from 'node:net';

/** Parses one RESP reply from buf at i; returns [value, next index] or undefined when incomplete. */
function parse(buf, i = 0) {
  const eol = buf.indexOf('\r\n', i);
  if (eol < 0) return undefined;
  const type = buf[i];
  const line = buf.toString('utf8', i + 1, eol);
  switch (type) {
    case 0x2b: // +
      return [line, eol + 2];
    case 0x2d: // -
      return [new Error(line), eol + 2];
    case 0x3a: // :
      return [Number(line), eol + 2];
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      if (buf.length < eol + 2 + n + 2) return undefined;
      return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 2 + n + 2];
    }
    case 0x2a: {
      // *
      const n = Number(line);
      const out = [];
      let at = eol + 2;
      for (let k = 0; k < n; k++) {
        const r = parse(buf, at);
        if (r === undefined) return undefined;
        out.push(r[0]);
        at = r[1];
      }
      return [out, at];
    }
    default:
      return [new Error(`unexpected RESP type ${String.fromCharCode(type)}`), buf.length];
  }
}

/** Runs `args` on 127.0.0.1:port; rejects on a Redis error, a refused connection or after timeoutMs. */
export function redisCommand(port, args, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const done = (err, value) => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`)), timeoutMs);
    s.once('connect', () => {
      s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join(''));
    });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parse(buf);
      if (r === undefined) return;
      if (r[0] instanceof Error) done(r[0]);
      else done(undefined, r[0]);
    });
    s.once('error', (err) => done(err));
  });
}

/** `INFO` text -> { field: value } */
export function parseInfo(text) {
  const out = {};
  for (const line of String(text).split('\r\n')) {
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}
