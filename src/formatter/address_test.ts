import { assertEquals } from "../testing/assert.ts";
import { addressPort, addressWithoutPort, maskedAddress } from "./address.ts";

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

Deno.test("maskedAddress keeps the prefix in CIDR notation", () => {
  assertEquals(maskedAddress("10.1.10.23:5000", 16), "10.1.0.0/16");
  assertEquals(maskedAddress("10.1.10.23:5000", 32), "10.1.10.23/32");
  assertEquals(maskedAddress("10.1.10.23", 0), "0.0.0.0/0");
  // An IPv4 address caps the prefix at 32.
  assertEquals(maskedAddress("10.1.10.23:1", 64), "10.1.10.23/32");
  assertEquals(
    maskedAddress("[2001:db8:1234:5678:9abc:def0:1234:5678]:443", 64),
    "2001:db8:1234:5678::/64",
  );
  assertEquals(maskedAddress("[2001:db8::1]:443", 128), "2001:db8::1/128");
  assertEquals(maskedAddress("[::1]:1", 8), "::/8");
  assertEquals(maskedAddress("/run/envoy.sock", 8), "/run/envoy.sock");
});
