import { assert, assertEquals } from "../testing/assert.ts";
import { type FamilyAddress, selectAddresses, SystemDnsResolver } from "./dns.ts";

const mixed: FamilyAddress[] = [
  { address: "10.0.0.1", family: 4 },
  { address: "::1", family: 6 },
  { address: "10.0.0.2", family: 4 },
  { address: "fe80::2", family: 6 },
];
const v4only: FamilyAddress[] = mixed.filter((a) => a.family === 4);
const v6only: FamilyAddress[] = mixed.filter((a) => a.family === 6);

Deno.test("selectAddresses: AUTO prefers IPv6 and falls back to IPv4", () => {
  assertEquals(selectAddresses(mixed, "AUTO"), ["::1", "fe80::2"]);
  assertEquals(selectAddresses(v4only, "AUTO"), ["10.0.0.1", "10.0.0.2"]);
});

Deno.test("selectAddresses: V4_PREFERRED prefers IPv4 and falls back to IPv6", () => {
  assertEquals(selectAddresses(mixed, "V4_PREFERRED"), ["10.0.0.1", "10.0.0.2"]);
  assertEquals(selectAddresses(v6only, "V4_PREFERRED"), ["::1", "fe80::2"]);
});

Deno.test("selectAddresses: *_ONLY filter, ALL keeps everything in order", () => {
  assertEquals(selectAddresses(mixed, "V4_ONLY"), ["10.0.0.1", "10.0.0.2"]);
  assertEquals(selectAddresses(v6only, "V4_ONLY"), []);
  assertEquals(selectAddresses(mixed, "V6_ONLY"), ["::1", "fe80::2"]);
  assertEquals(selectAddresses(mixed, "ALL"), ["10.0.0.1", "::1", "10.0.0.2", "fe80::2"]);
});

Deno.test("SystemDnsResolver: IP literals resolve to themselves", async () => {
  const r = new SystemDnsResolver();
  assertEquals(await r.resolve("192.0.2.7", "V6_ONLY"), { addresses: ["192.0.2.7"] });
  assertEquals(await r.resolve("2001:db8::1", "V4_ONLY", { withTtl: true }), {
    addresses: ["2001:db8::1"],
  });
});

Deno.test("SystemDnsResolver: localhost resolves through the system (/etc/hosts)", async () => {
  const r = new SystemDnsResolver();
  const v4 = await r.resolve("localhost", "V4_ONLY");
  assert(v4.addresses.includes("127.0.0.1"), `${v4.addresses}`);
  assertEquals(v4.ttlSeconds, undefined);
  const withTtl = await r.resolve("localhost", "V4_ONLY", { withTtl: true });
  assert(withTtl.addresses.includes("127.0.0.1"), `${withTtl.addresses}`);
});
