import { assertEquals, assertMatch } from "../testing/assert.ts";
import {
  domainSocketId,
  domainSocketPath,
  encodeMessage,
  MessageReader,
} from "./hot_restart_rpc.ts";

Deno.test("domain socket names follow Envoy: <path>_<role>_<base id * 10 + epoch % 3>", () => {
  assertEquals(domainSocketId(0, 0), 0);
  assertEquals(domainSocketId(0, 4), 1);
  assertEquals(domainSocketId(7, 2), 72);
  assertEquals(
    domainSocketPath("@envoy_domain_socket", "parent", 1, 1),
    "\0envoy_domain_socket_parent_11",
  );
  assertEquals(domainSocketPath("/run/denvoy/hr", "child", 0, 3), "/run/denvoy/hr_child_0");
});

Deno.test("messages survive being cut anywhere", () => {
  const a = encodeMessage({ type: "listeners" });
  const b = encodeMessage({ type: "error", message: "né" });
  const all = new Uint8Array([...a, ...b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new MessageReader();
    const got = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
    assertEquals(got, [{ type: "listeners" }, { type: "error", message: "né" }]);
  }
});

Deno.test("a malformed or oversized message is refused", () => {
  const bad = new Uint8Array([0, 0, 0, 2, 0x31, 0x32]);
  const error = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  assertMatch(error(() => new MessageReader().push(bad)), /malformed/);
  assertMatch(error(() => new MessageReader().push(new Uint8Array([255, 255, 255, 255]))), /bytes/);
});
