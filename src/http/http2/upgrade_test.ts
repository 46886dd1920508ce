import { assert, assertEquals } from "../../testing/assert.ts";
import { HeaderMap } from "../header_map.ts";
import {
  isH2UpgradeRequest,
  isUpgrade,
  upgradeRequestFromH1toH2,
  upgradeRequestFromH2toH1,
  upgradeResponseFromH1toH2,
  upgradeResponseFromH2toH1,
} from "./upgrade.ts";
import { pump, RecordingHandler, side } from "./test_util.ts";

Deno.test("upgrade: HTTP/1 and HTTP/2 forms, both directions", () => {
  const h1 = new HeaderMap([
    ":method",
    "GET",
    ":path",
    "/ws",
    ":authority",
    "a",
    "connection",
    "keep-alive, Upgrade",
    "upgrade",
    "websocket",
    "content-length",
    "0",
  ]);
  assert(isUpgrade(h1));
  const h2 = upgradeRequestFromH1toH2(h1);
  assertEquals(h2.raw(), [
    ":method",
    "CONNECT",
    ":path",
    "/ws",
    ":authority",
    "a",
    ":protocol",
    "websocket",
  ]);
  assert(isH2UpgradeRequest(h2));
  assert(!isH2UpgradeRequest(new HeaderMap([":method", "CONNECT", ":protocol", "bytestream"])));
  upgradeRequestFromH2toH1(h2);
  assertEquals(h2.get(":method"), "GET");
  assertEquals([h2.get("upgrade"), h2.get("connection"), h2.get(":protocol")], [
    "websocket",
    "upgrade",
    undefined,
  ]);
  const r101 = new HeaderMap([":status", "101", "upgrade", "websocket", "connection", "upgrade"]);
  assertEquals(upgradeResponseFromH1toH2(r101).raw(), [":status", "200"]);
  const r200 = new HeaderMap([":status", "200"]);
  upgradeResponseFromH2toH1(r200, "websocket");
  assertEquals(r200.raw(), [":status", "101", "upgrade", "websocket", "connection", "upgrade"]);
  const r403 = new HeaderMap([":status", "403"]);
  upgradeResponseFromH2toH1(r403, "websocket");
  assertEquals(r403.raw(), [":status", "403"]);
  assert(!isUpgrade(new HeaderMap(["upgrade", "websocket"])));
});

Deno.test("upgrade: a WebSocket upgrade crosses an HTTP/2 hop as extended CONNECT", () => {
  const server = side("server", { allowConnect: true }, (h) => {
    h.onEvent = (r) => {
      if (r.events.length !== 1) return;
      r.stream!.encodeHeaders(
        new HeaderMap([":status", "101", "upgrade", "websocket", "connection", "upgrade"]),
        false,
      );
      r.stream!.encodeData(new TextEncoder().encode("hello"), false);
    };
  });
  const client = side("client");
  pump(client, server);
  assert(client.conn.peerEnableConnect);
  const h = new RecordingHandler();
  const st = client.conn.newStream(h)!;
  st.encodeHeaders(
    new HeaderMap([
      ":method",
      "GET",
      ":path",
      "/chat",
      ":authority",
      "a",
      "connection",
      "upgrade",
      "upgrade",
      "websocket",
    ]),
    false,
  );
  st.encodeData(new TextEncoder().encode("hi"), false);
  pump(client, server);
  const req = server.handlers[0].headers!;
  assertEquals([req.get(":method"), req.get("upgrade"), req.get("connection")], [
    "GET",
    "websocket",
    "upgrade",
  ]);
  assertEquals(server.handlers[0].bodyLength(), 2);
  assertEquals(h.headers!.get(":status"), "101");
  assertEquals(h.headers!.get("upgrade"), "websocket");
  assertEquals(h.bodyLength(), 5);
  assertEquals([server.errors, client.errors], [[], []]);
});
