import { assertEquals } from "../../testing/assert.ts";
import { HeaderMap } from "../header_map.ts";
import {
  CL_INVALID,
  CL_MISMATCH,
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  CONN_UPGRADE,
  connectionTokens,
  equalsIgnoreCase,
  Framing,
  isAuthority,
  parseAbsoluteForm,
  parseContentLength,
  stripH2cUpgrade,
} from "./framing.ts";
import {
  KIND_CONNECTION,
  KIND_CONTENT_LENGTH,
  KIND_OTHER,
  KIND_TRANSFER_ENCODING,
  KIND_UPGRADE,
} from "./intern.ts";
import { bytes } from "./test_util.ts";

const on = <T>(f: (b: Uint8Array, s: number, e: number) => T, s: string): T => {
  // Surround the value so the functions must honour the bounds they are given.
  const b = bytes(`[${s}]`);
  return f(b, 1, b.length - 1);
};

Deno.test("parseContentLength: one number; lists, even identical, and everything else fail", () => {
  const cl = (s: string) => on(parseContentLength, s);
  assertEquals(cl("0"), 0);
  assertEquals(cl("00042"), 42);
  assertEquals(cl(" 7\t"), 7);
  assertEquals(cl("9007199254740991"), Number.MAX_SAFE_INTEGER);
  const lists = ["5, 5", "5,5,\t5", "1, 2"];
  for (const bad of ["", " ", "a", "-1", "+1", "1.0", "1 1", "1,", ",1", "1,,1", "0x1", ...lists]) {
    assertEquals(cl(bad), CL_INVALID, bad);
  }
  assertEquals(cl("9007199254740992"), CL_INVALID);
});

Deno.test("connectionTokens: case-insensitive comma-separated list", () => {
  const t = (s: string) => on(connectionTokens, s);
  assertEquals(t("close"), CONN_CLOSE);
  assertEquals(t("Keep-Alive"), CONN_KEEP_ALIVE);
  assertEquals(t(" keep-alive ,\tUPGRADE "), CONN_KEEP_ALIVE | CONN_UPGRADE);
  assertEquals(t("te, close, x-foo"), CONN_CLOSE);
  assertEquals(t("closed, upgrades"), 0);
  assertEquals(t(",,"), 0);
  assertEquals(t(""), 0);
});

Deno.test("equalsIgnoreCase compares against a lower-case token", () => {
  assertEquals(on((b, s, e) => equalsIgnoreCase(b, s, e, "chunked"), "ChUnKeD"), true);
  assertEquals(on((b, s, e) => equalsIgnoreCase(b, s, e, "chunked"), "chunke"), false);
  assertEquals(on((b, s, e) => equalsIgnoreCase(b, s, e, "100-continue"), "100-Continue"), true);
  // Bytes outside tokens never match, even where case folding would line them up.
  assertEquals(on((b, s, e) => equalsIgnoreCase(b, s, e, "a@"), "a`"), false);
});

Deno.test("isAuthority accepts host[:port] and IP literals only", () => {
  for (const ok of ["example.com:443", "10.0.0.1:80", "[::1]:8080", "h"]) {
    assertEquals(on(isAuthority, ok), true, ok);
  }
  for (const bad of ["", "u@h:1", "h/p", "h?q", "h p"]) {
    assertEquals(on(isAuthority, bad), false, bad);
  }
});

Deno.test("parseAbsoluteForm splits scheme, authority and path", () => {
  assertEquals(parseAbsoluteForm("http://host:8080/p?q"), {
    scheme: "http",
    authority: "host:8080",
    path: "/p?q",
  });
  assertEquals(parseAbsoluteForm("HTTPS://H"), { scheme: "https", authority: "H", path: "/" });
  assertEquals(parseAbsoluteForm("http://h?a=b"), {
    scheme: "http",
    authority: "h",
    path: "/?a=b",
  });
  assertEquals(parseAbsoluteForm("web+x.y-z://h/"), {
    scheme: "web+x.y-z",
    authority: "h",
    path: "/",
  });
  for (
    const bad of [
      "",
      "/p",
      "http:/h",
      "http//h",
      "1http://h",
      "http://",
      "http:///p",
      "http://u@h/",
    ]
  ) {
    assertEquals(parseAbsoluteForm(bad), undefined, bad);
  }
});

Deno.test("Framing gathers Content-Length, Transfer-Encoding, Connection and Upgrade", () => {
  const f = new Framing();
  const add = (kind: number, s: string) => on((b, st, e) => f.add(kind, b, st, e), s);
  assertEquals(add(KIND_CONTENT_LENGTH, "10"), true);
  assertEquals(add(KIND_TRANSFER_ENCODING, "Chunked"), true);
  assertEquals(add(KIND_CONNECTION, "close"), true);
  assertEquals(add(KIND_CONNECTION, "upgrade"), true);
  assertEquals(add(KIND_UPGRADE, "websocket"), true);
  assertEquals(add(KIND_OTHER, "anything"), true);
  assertEquals(
    [f.contentLength, f.transferEncodings, f.chunked, f.connection, f.upgrade],
    [10, 1, true, CONN_CLOSE | CONN_UPGRADE, true],
  );
  assertEquals(add(KIND_TRANSFER_ENCODING, "chunked"), true);
  assertEquals([f.transferEncodings, f.chunked], [2, false]);
  // A second Content-Length field, even with the same value, is refused.
  assertEquals(add(KIND_CONTENT_LENGTH, "10"), false);
  assertEquals(f.contentLength, CL_MISMATCH);
  f.reset();
  assertEquals([f.contentLength, f.transferEncodings, f.chunked, f.connection, f.upgrade], [
    -1,
    0,
    false,
    0,
    false,
  ]);
  assertEquals(add(KIND_CONTENT_LENGTH, "x"), false);
  assertEquals(f.contentLength, CL_INVALID);
});

Deno.test("stripH2cUpgrade removes the offer and its Connection tokens", () => {
  const h = HeaderMap.from([
    ["connection", "Upgrade, HTTP2-Settings, keep-alive"],
    ["upgrade", "h2c"],
    ["http2-settings", "AAA"],
    ["accept", "*/*"],
  ]);
  stripH2cUpgrade(h);
  assertEquals(h.entries(), [["connection", "keep-alive"], ["accept", "*/*"]]);
  const only = HeaderMap.from([["connection", "upgrade"], ["upgrade", "h2c"]]);
  stripH2cUpgrade(only);
  assertEquals(only.entries(), []);
});
