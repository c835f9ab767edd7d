// The main thread of --workers asking every worker's hub a question for the ops page, and
// telling from the answers which workers run: a worker that has left an ask unanswered for longer
// than the probe interval is stalled (its event loop is blocked), whatever its connections say.
import type { Worker } from 'node:worker_threads';
import type { ToWorker } from '../cluster/messages.js';
import { PROBE_MS } from './nodes.js';
import type { OpsAnswer, OpsAsk } from './types.js';

export class WorkerAsks {
  private nextId = 0;
  private readonly pending = new Map<number, { left: Set<number>; answers: OpsAnswer[]; done: () => void }>();
  /** per worker: when it was sent an ask it has not answered yet */
  private readonly waitingSince = new Map<number, number>();

  /** Every worker's answer that comes within the probe interval. */
  ask(workers: { index: number; worker: Worker }[], ask: OpsAsk): Promise<OpsAnswer[]> {
    const id = ++this.nextId;
    const now = Date.now();
    return new Promise<OpsAnswer[]>((resolve) => {
      const entry = {
        left: new Set(workers.map((w) => w.index)),
        answers: [] as OpsAnswer[],
        done: () => {
          clearTimeout(timer);
          this.pending.delete(id);
          resolve(entry.answers);
        },
      };
      const timer = setTimeout(entry.done, PROBE_MS);
      this.pending.set(id, entry);
      if (workers.length === 0) return entry.done();
      for (const w of workers) {
        if (!this.waitingSince.has(w.index)) this.waitingSince.set(w.index, now);
        w.worker.postMessage({ t: 'ops', id, ask } satisfies ToWorker);
      }
    });
  }

  answered(index: number, id: number, answer: OpsAnswer): void {
    this.waitingSince.delete(index);
    const entry = this.pending.get(id);
    if (entry === undefined || !entry.left.delete(index)) return;
    entry.answers.push(answer);
    if (entry.left.size === 0) entry.done();
  }

  /** A worker ended: nothing is waited for from it. */
  forget(index: number): void {
    this.waitingSince.delete(index);
    for (const entry of this.pending.values()) if (entry.left.delete(index) && entry.left.size === 0) entry.done();
  }

  stalled(index: number, now = Date.now()): boolean {
    const since = this.waitingSince.get(index);
    return since !== undefined && now - since > PROBE_MS;
  }
}
