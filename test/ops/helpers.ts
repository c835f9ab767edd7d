// Reading the ops server as a page does: its listen line, its event stream, its JSON routes.
import type { Running } from '../helpers/cli.js';
import type { OpsEvent } from '../../server/ops/server.js';

/** The ops port from the `ops_listening` line (logged once the node serves). */
export async function opsPort(r: Running, ms = 30_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = r.lines.find((l) => l.event === 'ops_listening');
    if (line !== undefined) return line.port as number;
    if (Date.now() > deadline) throw new Error(`no ops_listening line; got ${JSON.stringify(r.lines.map((l) => l.event))}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** GET /ops/events with a key: its status, and (when 200) the JSON lines as they come. */
export class EventStream {
  status = 0;
  readonly events: OpsEvent[] = [];
  private readonly abort = new AbortController();
  readonly ready: Promise<void>;
  ended = false;

  constructor(port: number, headers: Record<string, string>) {
    this.ready = (async () => {
      const res = await fetch(`http://127.0.0.1:${port}/ops/events`, { headers, signal: this.abort.signal });
      this.status = res.status;
      if (res.status !== 200) return void (await res.text());
      void this.read(res.body!);
    })();
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of block.split('\n')) if (line.startsWith('data: ')) this.events.push(JSON.parse(line.slice(6)) as OpsEvent);
        }
      }
    } catch {
      // aborted
    }
    this.ended = true;
  }

  /** The first event (from now on, or already read when `seen` allows) that `pred` holds for. */
  async until(pred: (e: OpsEvent) => boolean, ms = 20_000): Promise<OpsEvent> {
    const deadline = Date.now() + ms;
    let from = 0;
    for (;;) {
      for (; from < this.events.length; from++) if (pred(this.events[from]!)) return this.events[from]!;
      if (Date.now() > deadline) throw new Error(`no such event in ${ms} ms; last: ${JSON.stringify(this.events.at(-1))?.slice(0, 800)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  close(): void {
    this.abort.abort();
  }
}

export const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
