import { assertEquals, assertMatch } from "../testing/assert.ts";
import { DomainTable, portStart } from "./domains.ts";

function table(domains: string[], ignorePort = false): DomainTable<string> {
  const t = new DomainTable<string>("rc", ignorePort);
  for (const d of domains) t.add(d, d);
  return t;
}

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected an error");
}

Deno.test("exact, then longest suffix wildcard, then longest prefix wildcard, then *", () => {
  const t = table([
    "*",
    "foo.*",
    "foo.bar.*",
    "*.com",
    "*.example.com",
    "*-bar.example.com",
    "www.example.com",
  ]);
  assertEquals(t.find("www.example.com"), "www.example.com");
  assertEquals(t.find("baz-bar.example.com"), "*-bar.example.com");
  assertEquals(t.find("api.example.com"), "*.example.com");
  assertEquals(t.find("other.com"), "*.com");
  assertEquals(t.find("foo.bar.org"), "foo.bar.*");
  assertEquals(t.find("foo.org"), "foo.*");
  assertEquals(
    t.find("foo.example.com"),
    "*.example.com",
    "suffix wildcards come before prefix ones",
  );
  assertEquals(t.find("else.org"), "*");
});

Deno.test("a wildcard never matches the empty string", () => {
  const t = table(["*-bar.foo.com", "api-*"]);
  assertEquals(t.find("-bar.foo.com"), undefined);
  assertEquals(t.find("x-bar.foo.com"), "*-bar.foo.com");
  assertEquals(t.find("api-"), undefined);
  assertEquals(t.find("api-v1"), "api-*");
});

Deno.test("domains compare case-insensitively", () => {
  const t = table(["WWW.Example.com", "*.Foo.com"]);
  assertEquals(t.find("www.EXAMPLE.com"), "WWW.Example.com");
  assertEquals(t.find("A.FOO.COM"), "*.Foo.com");
});

Deno.test("the port is part of the host unless ignore_port_in_host_matching", () => {
  const t = table(["example.com", "example.com:8080"]);
  assertEquals(t.find("example.com:8080"), "example.com:8080");
  assertEquals(t.find("example.com:9090"), undefined);
  const ignoring = table(["example.com", "[::1]"], true);
  assertEquals(ignoring.find("example.com:9090"), "example.com");
  assertEquals(ignoring.find("[::1]:80"), "[::1]");
  assertEquals(ignoring.find("[::1]"), "[::1]");
});

Deno.test("many wildcards of one length are looked up, not scanned", () => {
  const names = Array.from({ length: 10 }, (_, i) => `*.s${i}.com`);
  const t = table(names);
  assertEquals(t.find("a.s7.com"), "*.s7.com");
  assertEquals(t.find("a.s77.com"), undefined);
});

Deno.test("with only *, every request (even without :authority) gets it", () => {
  assertEquals(table(["*"]).find(undefined), "*");
  assertEquals(table(["a.com", "*"]).find(undefined), undefined);
});

Deno.test("duplicate domains are rejected, as Envoy does", () => {
  assertMatch(
    error(() => table(["a.com", "b.com", "A.com"])),
    /^Only unique values for domains are permitted\. Duplicate entry of domain a\.com in route rc$/,
  );
  assertMatch(error(() => table(["*.a.com", "*.a.com"])), /Duplicate entry of domain \*\.a\.com/);
  assertMatch(error(() => table(["a.*", "a.*"])), /Duplicate entry of domain a\.\*/);
  assertMatch(
    error(() => table(["*", "*"])),
    /^Only a single wildcard domain is permitted in route rc$/,
  );
});

Deno.test("portStart finds the port colon, not an IPv6 one", () => {
  assertEquals(portStart("a.com:80"), 5);
  assertEquals(portStart("a.com"), -1);
  assertEquals(portStart("a.com:"), -1);
  assertEquals(portStart("a.com:http"), -1);
  assertEquals(portStart("[::1]:443"), 5);
  assertEquals(portStart("[::1]"), -1);
});
