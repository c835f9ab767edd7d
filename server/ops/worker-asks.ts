// The main thread of --workers asking every worker's hub a question for the ops page, and
// telling from the answers which workers run: a worker that let an ask go unanswered for the
// probe interval is stalled (its event loop is blocked) until it answers one again.
import type { Worker } from 'node:worker_threads';
import type { ToWorker } from '../cluster/messages.js';
import { PROBE_MS } from './nodes.js';
import type { OpsAnswer, OpsAsk } from './types.js';

export class WorkerAsks {
  private nextId = 0;
  private readonly pending = new Map<number, { left: Set<number>; answers: OpsAnswer[]; done: () => void }>();
  /** workers that left an ask unanswered for the probe interval and have not answered since */
  private readonly late = new Set<number>();

  /** Every worker's answer that comes within the probe interval. */
  ask(workers: { index: number; worker: Worker }[], ask: OpsAsk): Promise<OpsAnswer[]> {
    const id = ++this.nextId;
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
      const timer = setTimeout(() => {
        for (const index of entry.left) this.late.add(index);
        entry.done();
      }, PROBE_MS);
      this.pending.set(id, entry);
      if (workers.length === 0) return entry.done();
      for (const w of workers) w.worker.postMessage({ t: 'ops', id, ask } satisfies ToWorker);
    });
  }

  answered(index: number, id: number, answer: OpsAnswer): void {
    this.late.delete(index);
    const entry = this.pending.get(id);
    if (entry === undefined || !entry.left.delete(index)) return;
    entry.answers.push(answer);
    if (entry.left.size === 0) entry.done();
  }

  /** A worker ended: nothing is waited for from it. */
  forget(index: number): void {
    this.late.delete(index);
    for (const entry of this.pending.values()) if (entry.left.delete(index) && entry.left.size === 0) entry.done();
  }

  stalled(index: number): boolean {
    return this.late.has(index);
  }
}
