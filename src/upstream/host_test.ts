import { assert, assertEquals } from "../testing/assert.ts";
import { healthFromStatus, type HostDescription, hostKey, localityKey, sameHost } from "./host.ts";

const base: HostDescription = {
  address: "10.0.0.1",
  port: 8080,
  weight: 1,
  priority: 0,
  locality: { region: "r", zone: "z", subZone: "" },
  hostname: "",
  healthy: true,
};

Deno.test("hostKey brackets IPv6 addresses", () => {
  assertEquals(hostKey(base), "10.0.0.1:8080");
  assertEquals(hostKey({ address: "::1", port: 80 }), "[::1]:80");
  assertEquals(hostKey({ address: "fe80::1:2", port: 443 }), "[fe80::1:2]:443");
});

Deno.test("healthFromStatus follows Envoy's EDS health statuses", () => {
  // UNKNOWN, HEALTHY, UNHEALTHY, DRAINING, TIMEOUT, DEGRADED
  assertEquals([0, 1, 2, 3, 4, 5].map(healthFromStatus), [
    { healthy: true, degraded: false },
    { healthy: true, degraded: false },
    { healthy: false, degraded: false },
    { healthy: false, degraded: false },
    { healthy: false, degraded: false },
    { healthy: false, degraded: true },
  ]);
});

Deno.test("localityKey tells localities apart", () => {
  assertEquals(localityKey(base.locality), localityKey({ region: "r", zone: "z", subZone: "" }));
  assert(
    localityKey({ region: "a", zone: "b", subZone: "" }) !==
      localityKey({ region: "a", zone: "", subZone: "b" }),
  );
});

Deno.test("sameHost compares every field a balancer or pool reads", () => {
  assert(sameHost(base, { ...base }));
  assert(!sameHost(base, { ...base, healthy: false }));
  assert(!sameHost(base, { ...base, weight: 2 }));
  assert(!sameHost(base, { ...base, locality: { ...base.locality, zone: "y" } }));
  assert(!sameHost(base, { ...base, metadata: { "envoy.lb": { canary: true } } }));
  assert(sameHost({ ...base, degraded: false }, base));
});
