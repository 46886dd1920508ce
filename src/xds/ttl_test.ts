import { assertEquals } from "../testing/assert.ts";
import { ResourceTtls } from "./ttl.ts";

/** A TTL set whose clock the test moves; expiries are awaited one at a time. */
function setup() {
  let t = 1000;
  let heard: (names: string[]) => void = () => {};
  const ttls = new ResourceTtls((names) => heard(names), () => t);
  const next = () => new Promise<string[]>((r) => heard = r);
  return { ttls, next, advance: (ms: number) => t += ms };
}

Deno.test("TTLs: the earliest deadline expires first, together with any already due", async () => {
  const { ttls, next, advance } = setup();
  ttls.batch(() => {
    ttls.set("a", 5);
    ttls.set("b", 5);
    ttls.set("c", 60_000);
  });
  assertEquals(ttls.size, 3);
  advance(10);
  assertEquals((await next()).sort(), ["a", "b"]);
  assertEquals(ttls.size, 1);
  ttls.stop();
  assertEquals(ttls.size, 0);
});

Deno.test("TTLs: a refresh moves the deadline; no TTL or 0 takes it away; clear forgets", async () => {
  const { ttls, next, advance } = setup();
  ttls.set("a", 5);
  ttls.set("a", 60_000); // a heartbeat with a longer TTL
  ttls.set("b", 5);
  ttls.set("b", undefined); // resent without a TTL: never expires
  ttls.set("c", 0);
  ttls.set("d", 5);
  ttls.clear("d"); // removed by the control plane
  ttls.set("e", 5);
  advance(10);
  assertEquals(await next(), ["e"]);
  assertEquals(ttls.size, 1);
  ttls.stop();
});
