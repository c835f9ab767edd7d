// Topic permissions from a token's `topics` claim: {"sub": [...], "pub": [...]} of exact names
// or `prefix*` patterns. A token without the claim may use every topic; a claim without a list
// for an action allows none for it.

export type Action = 'sub' | 'pub';

export class TopicMatcher {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];

  constructor(patterns: readonly string[]) {
    for (const p of patterns) {
      if (p.endsWith('*')) this.prefixes.push(p.slice(0, -1));
      else this.exact.add(p);
    }
  }

  matches(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    for (const prefix of this.prefixes) if (topic.startsWith(prefix)) return true;
    return false;
  }
}

export interface Permissions {
  sub: TopicMatcher;
  pub: TopicMatcher;
}

/** Parses the `topics` claim; returns null when absent, a string error when malformed. */
export function parseTopicsClaim(claim: unknown): Permissions | null | string {
  if (claim === undefined) return null;
  if (claim === null || typeof claim !== 'object' || Array.isArray(claim)) return 'topics claim must be an object';
  const lists: Record<Action, string[]> = { sub: [], pub: [] };
  for (const action of ['sub', 'pub'] as const) {
    const v = (claim as Record<string, unknown>)[action];
    if (v === undefined) continue;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) {
      return `topics.${action} must be an array of non-empty strings`;
    }
    lists[action] = v as string[];
  }
  return { sub: new TopicMatcher(lists.sub), pub: new TopicMatcher(lists.pub) };
}

export function allowed(perms: Permissions | null, action: Action, topic: string): boolean {
  return perms === null || perms[action].matches(topic);
}
