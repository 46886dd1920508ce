import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { grpcRouteTimeoutMs, updateAuthority } from "./router_filter.ts";

Deno.test("updateAuthority: append_x_forwarded_host appends the old host unless it is the last one", () => {
  const h = HeaderMap.from([[":authority", "a.example"]]);
  updateAuthority(h, "b.internal", false);
  assertEquals([h.get(":authority"), h.get("x-forwarded-host")], ["b.internal", undefined]);

  const x = HeaderMap.from([[":authority", "a.example"], ["x-forwarded-host", "edge"]]);
  updateAuthority(x, "b.internal", true);
  assertEquals([x.get(":authority"), x.get("x-forwarded-host")], ["b.internal", "edge,a.example"]);

  const same = HeaderMap.from([[":authority", "a.example"], [
    "x-forwarded-host",
    "edge,a.example",
  ]]);
  updateAuthority(same, "b.internal", true);
  assertEquals(same.get("x-forwarded-host"), "edge,a.example");

  const none = HeaderMap.from([[":authority", "a.example"]]);
  updateAuthority(none, "b.internal", true);
  assertEquals(none.get("x-forwarded-host"), "a.example");
});

Deno.test("grpcRouteTimeoutMs: grpc-timeout less the offset, capped by max_grpc_timeout (0: no cap)", () => {
  assertEquals(grpcRouteTimeoutMs({ maxGrpcTimeoutMs: 0 }, "10S"), 10_000);
  assertEquals(grpcRouteTimeoutMs({ maxGrpcTimeoutMs: 500 }, "10S"), 500);
  // No header: the cap, or no timeout at all.
  assertEquals(grpcRouteTimeoutMs({ maxGrpcTimeoutMs: 500 }, undefined), 500);
  assertEquals(grpcRouteTimeoutMs({ maxGrpcTimeoutMs: 0 }, undefined), 0);
  assertEquals(grpcRouteTimeoutMs({ maxGrpcTimeoutMs: 0, grpcTimeoutOffsetMs: 100 }, "1S"), 900);
  // An offset that would use the whole timeout is not applied.
  assertEquals(grpcRouteTimeoutMs({ maxGrpcTimeoutMs: 0, grpcTimeoutOffsetMs: 100 }, "50m"), 50);
});
