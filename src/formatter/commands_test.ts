import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { createProvider } from "./commands.ts";
import type { Command } from "./format_parser.ts";

function errorOf(command: Command): string {
  try {
    createProvider(command);
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

Deno.test("an unknown operator is rejected by name", () => {
  assertEquals(
    errorOf({ name: "NOT_AN_OPERATOR", arg: "" }),
    "Not supported field in StreamInfo: NOT_AN_OPERATOR",
  );
  assertEquals(
    errorOf({ name: "constructor", arg: "" }),
    "Not supported field in StreamInfo: constructor",
  );
});

Deno.test("operators without parameters reject arguments and lengths", () => {
  const message = "PROTOCOL does not take any parameters or length";
  assertEquals(errorOf({ name: "PROTOCOL", arg: "x" }), message);
  assertEquals(errorOf({ name: "PROTOCOL", arg: "", maxLength: 3 }), message);
});

Deno.test("operators that need parameters reject their absence", () => {
  assertEquals(
    errorOf({ name: "DYNAMIC_METADATA", arg: "" }),
    "DYNAMIC_METADATA requires parameters",
  );
});

Deno.test("a length is only allowed where Envoy allows one", () => {
  assertEquals(
    errorOf({ name: "START_TIME", arg: "%s", maxLength: 3 }),
    "START_TIME does not allow length to be specified.",
  );
  assertEquals(errorOf({ name: "REQ", arg: "host", maxLength: 3 }), "<no error>");
});

Deno.test("%COALESCE({...}):Z% is the first operator with a non-empty value", () => {
  const requestHeaders = HeaderMap.from([[":authority", "host.example"]]);
  const ctx = { streamInfo: new StreamInfo(), requestHeaders };
  const p = createProvider({
    name: "COALESCE",
    arg: '{"operators": ["REQUESTED_SERVER_NAME", {"command": "REQ", "param": ":authority"}]}',
  });
  assertEquals(p.text(ctx), "host.example");
  const sni = Object.assign(new StreamInfo(), { requestedServerName: "sni.example" });
  assertEquals(p.text({ streamInfo: sni, requestHeaders }), "sni.example");
  const cut = createProvider({
    name: "COALESCE",
    arg: '{"operators": [{"command": "REQ", "param": ":authority", "max_length": 6}]}',
    maxLength: 4,
  });
  assertEquals(cut.text(ctx), "host");
  const typed = createProvider({
    name: "COALESCE",
    arg: '{"operators": ["UPSTREAM_HOST", "RESPONSE_CODE"]}',
  });
  assertEquals(typed.value(ctx), 0);
  const none = createProvider({ name: "COALESCE", arg: '{"operators": ["UPSTREAM_HOST"]}' });
  assertEquals(none.text(ctx), undefined);
});

Deno.test("bad COALESCE configurations are config errors", () => {
  assertEquals(
    errorOf({ name: "COALESCE", arg: "{nope" }).startsWith(
      "COALESCE: invalid JSON configuration:",
    ),
    true,
  );
  assertEquals(
    errorOf({ name: "COALESCE", arg: '{"operators": []}' }),
    "COALESCE: the configuration needs a non-empty 'operators' list",
  );
  assertEquals(
    errorOf({ name: "COALESCE", arg: '{"operators": [{"param": "x"}]}' }),
    "COALESCE: operators[0] needs a 'command'",
  );
  assertEquals(
    errorOf({ name: "COALESCE", arg: '{"operators": ["NOPE"]}' }),
    "Not supported field in StreamInfo: NOPE",
  );
});

Deno.test("CEL operators are named as unsupported", () => {
  assertEquals(
    errorOf({ name: "CEL", arg: "response.code" }),
    "CEL needs the CEL formatter, which denvoy does not implement",
  );
});
