import { assertEquals } from "../../../../testing/assert.ts";
import { HeaderMap } from "../../../../http/header_map.ts";
import { frameHeader, GrpcFrameCounter, isGrpcRequest, serviceMethod } from "./grpc_frames.ts";

Deno.test("grpc frames: gRPC content types", () => {
  const ct = (v: string) => isGrpcRequest(new HeaderMap(["content-type", v]));
  assertEquals([ct("application/grpc"), ct("application/grpc+proto"), ct("application/grpc-web")], [
    true,
    true,
    false,
  ]);
  assertEquals(isGrpcRequest(new HeaderMap()), false);
});

Deno.test("grpc frames: service and method of a path", () => {
  assertEquals(serviceMethod("/pkg.Svc/Call"), ["pkg.Svc", "Call"]);
  assertEquals(serviceMethod("/pkg.Svc/Call?x=1"), ["pkg.Svc", "Call"]);
  assertEquals(serviceMethod("/a/b/c"), undefined);
  assertEquals(serviceMethod("/onlyservice"), undefined);
  assertEquals(serviceMethod("//m"), undefined);
});

Deno.test("grpc frames: messages counted across chunk boundaries", () => {
  const msg = (n: number) => {
    const out = new Uint8Array(5 + n);
    out.set(frameHeader(0, n));
    return out;
  };
  const body = new Uint8Array([...msg(3), ...msg(0), ...msg(300)]);
  const c = new GrpcFrameCounter();
  let total = 0;
  for (let i = 0; i < body.length; i += 2) total += c.inspect(body.subarray(i, i + 2));
  assertEquals(total, 3);
  assertEquals(c.count, 3);
});
