import { assertEquals } from "../testing/assert.ts";
import { parseTargetUri } from "./target_uri.ts";

Deno.test("google_grpc target_uri: host:port with the dns, ipv4 and ipv6 schemes", () => {
  assertEquals(parseTargetUri("127.0.0.1:18000"), { host: "127.0.0.1", port: 18000 });
  assertEquals(parseTargetUri("dns:///xds.example:443"), { host: "xds.example", port: 443 });
  assertEquals(parseTargetUri("ipv6:[::1]:50051"), { host: "::1", port: 50051 });
  assertEquals(parseTargetUri("xds.example"), undefined);
  assertEquals(parseTargetUri("unix:/tmp/sock"), undefined);
  assertEquals(parseTargetUri("h:0"), undefined);
  assertEquals(parseTargetUri("h:70000"), undefined);
});
