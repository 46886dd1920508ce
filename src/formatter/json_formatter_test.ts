import { assertEquals } from "../testing/assert.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { compileJsonFormat } from "./json_formatter.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "<no error>";
}

function request() {
  const streamInfo = Object.assign(new StreamInfo(), {
    startTime: Date.UTC(2016, 3, 15, 20, 17, 0, 310),
    duration: 12.5,
    protocol: "HTTP/1.1",
    responseCode: 200,
    bytesSent: 42,
    downstreamRemoteAddress: "10.0.0.9:4567",
  });
  streamInfo.dynamicMetadata["my.filter"] = { user: "ann", tags: ["a", "b"] };
  const requestHeaders = HeaderMap.from([[":method", "GET"], [":path", '/x"y']]);
  return { streamInfo, requestHeaders };
}

const TYPED = {
  status: "%RESPONSE_CODE%",
  duration: "%DURATION%",
  bytes: "%BYTES_SENT%",
  port: "%DOWNSTREAM_REMOTE_PORT%",
  protocol: "%PROTOCOL%",
  start: "%START_TIME%",
  path: "%REQ(:PATH)%",
};

Deno.test("one JSON line, keys in config order, single operators typed", () => {
  assertEquals(
    compileJsonFormat(TYPED).format(request()),
    '{"status":200,"duration":12,"bytes":42,"port":4567,"protocol":"HTTP/1.1",' +
      '"start":"2016-04-15T20:17:00.310Z","path":"/x\\"y"}\n',
  );
});

Deno.test("sort_properties sorts keys at every level", () => {
  const f = compileJsonFormat({ ...TYPED, z: { b: "%PROTOCOL%", a: "x" } }, {
    sortProperties: true,
  });
  assertEquals(
    f.format(request()),
    '{"bytes":42,"duration":12,"path":"/x\\"y","port":4567,"protocol":"HTTP/1.1",' +
      '"start":"2016-04-15T20:17:00.310Z","status":200,"z":{"a":"x","b":"HTTP/1.1"}}\n',
  );
});

Deno.test("values mixing text and operators are strings", () => {
  const f = compileJsonFormat({ line: "%REQ(:METHOD)% took %DURATION%ms (%ROUTE_NAME%)" });
  assertEquals(f.format(request()), '{"line":"GET took 12ms (-)"}\n');
});

Deno.test("unset single operators are null, or left out with omitEmptyValues", () => {
  const struct = { route: "%ROUTE_NAME%", code: "%RESPONSE_CODE%", mixed: "r=%ROUTE_NAME%" };
  assertEquals(
    compileJsonFormat(struct).format(request()),
    '{"route":null,"code":200,"mixed":"r=-"}\n',
  );
  assertEquals(
    compileJsonFormat(struct, { omitEmptyValues: true }).format(request()),
    '{"code":200,"mixed":"r="}\n',
  );
  const list = { l: ["%ROUTE_NAME%", "%RESPONSE_CODE%"] };
  assertEquals(compileJsonFormat(list).format(request()), '{"l":[null,200]}\n');
  assertEquals(
    compileJsonFormat(list, { omitEmptyValues: true }).format(request()),
    '{"l":[200]}\n',
  );
});

Deno.test("nested objects, lists, constants and structured metadata", () => {
  const f = compileJsonFormat({
    upstream: { host: "%UPSTREAM_HOST%", info: { method: "%REQ(:METHOD)%" } },
    list: ["%RESPONSE_CODE%", "fixed"],
    version: 2,
    flag: true,
    nothing: null,
    constant: { a: "b", c: [1] },
    meta: "%DYNAMIC_METADATA(my.filter)%",
  });
  assertEquals(
    f.format(request()),
    '{"upstream":{"host":null,"info":{"method":"GET"}},"list":[200,"fixed"],"version":2,' +
      '"flag":true,"nothing":null,"constant":{"a":"b","c":[1]},' +
      '"meta":{"user":"ann","tags":["a","b"]}}\n',
  );
});

Deno.test("untyped JSON (deprecated json_format) renders every value as a string", () => {
  const f = compileJsonFormat(
    {
      status: "%RESPONSE_CODE%",
      route: "%ROUTE_NAME%",
      meta: "%DYNAMIC_METADATA(my.filter:tags)%",
    },
    { typed: false },
  );
  assertEquals(f.format(request()), '{"status":"200","route":"-","meta":"[\\"a\\",\\"b\\"]"}\n');
});

Deno.test("operator errors in any value fail at compile time", () => {
  assertEquals(
    errorOf(() => compileJsonFormat({ a: { b: "%NOPE%" } })),
    "Not supported field in StreamInfo: NOPE",
  );
});
