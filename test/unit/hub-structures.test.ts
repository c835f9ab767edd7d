import { describe, expect, it } from 'vitest';
import { History } from '../../server/hub/history.js';
import { Membership } from '../../server/hub/membership.js';

const entry = (seq: number) => ({ seq, frame: Buffer.alloc(10), dataStart: 0, dataEnd: 0 });

describe('Membership', () => {
  it('adds and removes in O(1) by swapping the last member into the hole', () => {
    const m = new Membership(2);
    for (const id of [10, 11, 12, 13]) m.add(id);
    expect(m.removeAt(1)).toBe(13); // 13 moved into index 1
    expect([...m.view()]).toEqual([10, 13, 12]);
    expect(m.removeAt(2)).toBe(-1); // removing the last moves nothing
    expect([...m.view()]).toEqual([10, 13]);
  });

  it('shrinks its storage after most members leave', () => {
    const m = new Membership();
    for (let i = 0; i < 1000; i++) m.add(i);
    while (m.count > 10) m.removeAt(m.count - 1);
    m.compact();
    expect(m.ids.length).toBeLessThan(64);
    expect([...m.view()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('History', () => {
  it('keeps the newest `capacity` entries, oldest first', () => {
    const h = new History(3);
    for (let s = 1; s <= 5; s++) h.push(entry(s));
    expect(h.oldestSeq()).toBe(3);
    expect(h.since(0).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(h.since(3).map((e) => e.seq)).toEqual([4, 5]);
    expect(h.since(5)).toEqual([]);
    expect(h.bytes).toBe(30);
  });

  it('retains nothing with capacity 0', () => {
    const h = new History(0);
    h.push(entry(1));
    expect(h.length).toBe(0);
    expect(h.oldestSeq()).toBeUndefined();
  });
});
