// Topic names (protocol v1): 1..200 bytes of printable ASCII without spaces (0x21..0x7e).
export const MAX_TOPIC_BYTES = 200;

export function isValidTopic(topic: string): boolean {
  if (topic.length < 1 || topic.length > MAX_TOPIC_BYTES) return false;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
