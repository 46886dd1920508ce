import { assertEquals } from "../testing/assert.ts";
import { addressPort, addressWithoutPort } from "./address.ts";

Deno.test("IPv4 address splits into host and port", () => {
  assertEquals(addressWithoutPort("10.0.0.1:8080"), "10.0.0.1");
  assertEquals(addressPort("10.0.0.1:8080"), 8080);
});

Deno.test("IPv6 address loses its brackets", () => {
  assertEquals(addressWithoutPort("[::1]:80"), "::1");
  assertEquals(addressPort("[::1]:80"), 80);
  assertEquals(addressWithoutPort("[2001:db8::1]:443"), "2001:db8::1");
});

Deno.test("addresses without a port stay whole", () => {
  assertEquals(addressWithoutPort("/run/envoy.sock"), "/run/envoy.sock");
  assertEquals(addressPort("/run/envoy.sock"), undefined);
  assertEquals(addressWithoutPort("::1"), "::1");
  assertEquals(addressPort("::1"), undefined);
  assertEquals(addressPort("10.0.0.1:"), undefined);
});
