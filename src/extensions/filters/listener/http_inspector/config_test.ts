import { assertEquals } from "../../../../testing/assert.ts";
import { Store } from "../../../../stats/store.ts";
import type { ServerContext } from "../../../../config/extensions.ts";
import { type AcceptedSocket, CONTINUE } from "../../../../listener/listener_filter.ts";
import { httpInspectorFactory } from "./config.ts";

Deno.test("http_inspector leaves TLS connections alone and sets the HTTP version otherwise", () => {
  const store = new Store();
  const f = httpInspectorFactory.createListenerFilter!(undefined, {
    server: { stats: store } as unknown as ServerContext,
    listenerScope: () => store.scope("listener.test"),
  });
  const s = (data: string, transportProtocol = "") =>
    ({
      data: new TextEncoder().encode(data),
      transportProtocol,
      applicationProtocols: ["x"],
    }) as unknown as AcceptedSocket;
  const tls = s("GET / HTTP/1.1\r\n", "tls");
  assertEquals(f.onData(tls), CONTINUE);
  assertEquals(tls.applicationProtocols, ["x"]);
  const h = s("GET / HTTP/1.1\r\n");
  assertEquals(f.onData(h), CONTINUE);
  assertEquals(h.applicationProtocols, ["http/1.1"]);
  assertEquals(store.counter("http_inspector.http11_found").value, 1);
});
