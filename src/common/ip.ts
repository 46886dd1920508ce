/**
 * IP literal checks, as `node:net`'s `isIP` answers them. Written here because importing
 * `node:net` loads Deno's Node stream layer (~45 ms of start-up) for three small functions.
 */

const V4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Whether `s` is a dotted-quad IPv4 address (no leading zeros, as Node). */
export function isIPv4(s: string): boolean {
  return V4.test(s);
}

/** Whether `s` is an IPv6 address (with an optional `%zone`), as Node accepts it. */
export function isIPv6(s: string): boolean {
  const zone = s.indexOf("%");
  const addr = zone >= 0 ? s.slice(0, zone) : s;
  if (zone >= 0 && zone === s.length - 1) return false;
  if (addr.length < 2 || !/^[0-9a-fA-F:.]+$/.test(addr)) return false;
  const halves = addr.split("::");
  if (halves.length > 2) return false;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const all = [...head, ...tail];
  let slots = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i];
    if (i === all.length - 1 && g.includes(".")) {
      // An embedded IPv4 address (`::ffff:1.2.3.4`) takes two groups, and only at the end.
      if (!isIPv4(g)) return false;
      slots += 2;
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    slots++;
  }
  return halves.length === 2 ? slots <= 7 : slots === 8;
}

/** 4 or 6 for an IP literal of that family, 0 otherwise (Node's `net.isIP`). */
export function isIP(s: string): 0 | 4 | 6 {
  return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0;
}
