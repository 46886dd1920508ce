import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import type { Handler } from "./handler.ts";
import { helpText, homePage } from "./help.ts";

const run = () => new Response();
const HANDLERS: Handler[] = [
  { path: "/stats", help: "print server stats", post: false, params: [], run },
  {
    path: "/drain_listeners",
    help: "drain listeners",
    post: true,
    params: [{ id: "graceful", help: "drain first", flag: true }],
    run,
  },
  {
    path: "/clusters",
    help: "upstream cluster status",
    post: false,
    params: [{ id: "format", help: "File format to use", choices: ["text", "json"] }],
    run,
  },
];

Deno.test("/help lists endpoints by path, POST ones marked, enum choices spelled out", () => {
  assertEquals(
    helpText(HANDLERS),
    "admin commands are:\n" +
      "  /clusters: upstream cluster status\n" +
      "      format: File format to use; One of (text, json)\n" +
      "  /drain_listeners (POST): drain listeners\n" +
      "      graceful: drain first\n" +
      "  /stats: print server stats\n",
  );
});

Deno.test("the home page has a GET form or a POST form per endpoint", () => {
  const html = homePage(HANDLERS);
  assertMatch(html, /<form id="form-clusters" action="\/clusters" method="get">/);
  assertMatch(html, /<form id="form-drain_listeners" action="\/drain_listeners" method="post">/);
  assertMatch(html, /<select form="form-clusters" name="format"><option>text<\/option>/);
  assertMatch(html, /<input form="form-drain_listeners" type="checkbox" name="graceful"/);
  assert(html.indexOf("/clusters") < html.indexOf("/stats"));
});
