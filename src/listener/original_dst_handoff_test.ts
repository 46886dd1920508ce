import { assertEquals } from "../testing/assert.ts";
import {
  addHandOffTarget,
  findHandOffTarget,
  removeHandOffTarget,
} from "./original_dst_handoff.ts";

Deno.test("hand-off target: exact address first, then the family's wildcard, newest first", () => {
  const exact = { ip: "10.0.0.1", port: 80 };
  const any4 = { ip: "0.0.0.0", port: 80 };
  const any6 = { ip: "::", port: 80 };
  const v6 = { ip: "2001:db8::1", port: 443 };
  for (const l of [any4, exact, any6, v6]) addHandOffTarget(l);
  try {
    assertEquals(findHandOffTarget("10.0.0.1", 80), exact);
    assertEquals(findHandOffTarget("10.0.0.2", 80), any4);
    assertEquals(findHandOffTarget("10.0.0.1", 81), undefined);
    assertEquals(findHandOffTarget("2001:db8::1", 443), v6);
    assertEquals(findHandOffTarget("2001:db8::2", 80), any6);
    assertEquals(findHandOffTarget("2001:db8::2", 443), undefined);
    // A listener replaced by LDS: the newer one takes the connections.
    const newer = { ip: "10.0.0.1", port: 80 };
    addHandOffTarget(newer);
    assertEquals(findHandOffTarget("10.0.0.1", 80), newer);
    removeHandOffTarget(newer);
    removeHandOffTarget(exact);
    assertEquals(findHandOffTarget("10.0.0.1", 80), any4);
  } finally {
    for (const l of [any4, exact, any6, v6]) removeHandOffTarget(l);
  }
});
