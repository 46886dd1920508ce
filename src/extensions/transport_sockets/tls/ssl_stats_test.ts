import { assertEquals } from "../../../testing/assert.ts";
import { Store } from "../../../stats/store.ts";
import { sslStats } from "./ssl_stats.ts";

Deno.test("SslStats: Envoy's ssl.* names under the listener or cluster scope, one instance per scope", () => {
  const store = new Store();
  const scope = store.scope("listener.127.0.0.1_443");
  const s = sslStats(scope);
  assertEquals(sslStats(scope), s);
  s.handshakeDone("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", true);
  s.handshakeDone("TLS_AES_128_GCM_SHA256", "TLSv1.3", false);
  s.failure("fail_verify_san").inc();
  s.failVerifyNoCert.inc();
  const counters = Object.fromEntries(
    store.snapshot().counters.map((c) => [c.name, c.value]),
  );
  const p = "listener.127.0.0.1_443.ssl";
  assertEquals(counters[`${p}.handshake`], 2);
  assertEquals(counters[`${p}.session_reused`], 1);
  assertEquals(counters[`${p}.ciphers.ECDHE-RSA-AES128-GCM-SHA256`], 1);
  assertEquals(counters[`${p}.versions.TLSv1.3`], 1);
  assertEquals(counters[`${p}.fail_verify_san`], 1);
  assertEquals(counters[`${p}.fail_verify_no_cert`], 1);
  assertEquals(counters[`${p}.connection_error`], 0);
  assertEquals(counters[`${p}.ocsp_staple_failed`], 0);
});
