/**
 * `/help` (Envoy's plain-text command list) and `/` (an HTML page with a form per endpoint:
 * GET endpoints as links with their parameters, mutating ones as POST forms), both listing
 * the endpoints in path order as Envoy does.
 *
 * @module
 */
import type { Handler } from "./handler.ts";

function byPath(handlers: readonly Handler[]): Handler[] {
  return [...handlers].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Envoy's `admin commands are:` list, with each endpoint's parameters. */
export function helpText(handlers: readonly Handler[]): string {
  let out = "admin commands are:\n";
  for (const h of byPath(handlers)) {
    out += `  ${h.path}${h.post ? " (POST)" : ""}: ${h.help}\n`;
    for (const p of h.params) {
      out += `      ${p.id}: ${p.help}`;
      if (p.choices) out += `; One of (${p.choices.join(", ")})`;
      out += "\n";
    }
  }
  return out;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The home page: one form per endpoint (POST ones as POST forms), with its parameters. */
export function homePage(handlers: readonly Handler[]): string {
  const rows = byPath(handlers).filter((h) => h.path !== "/").map((h) => {
    const form = `form-${esc(h.path.slice(1).replace(/\//g, "-"))}`;
    const inputs = h.params.map((p) => {
      const field = p.choices
        ? `<select form="${form}" name="${esc(p.id)}">${
          p.choices.map((c) => `<option>${esc(c)}</option>`).join("")
        }</select>`
        : p.flag
        ? `<input form="${form}" type="checkbox" name="${esc(p.id)}" value="">`
        : `<input form="${form}" type="text" name="${esc(p.id)}">`;
      return `<tr><td></td><td class="param"><label title="${esc(p.help)}">${
        esc(p.id)
      } ${field}</label> ${esc(p.help)}</td></tr>`;
    }).join("\n");
    const method = h.post ? "post" : "get";
    return `<tr><td><form id="${form}" action="${esc(h.path)}" method="${method}">` +
      `<button type="submit">${esc(h.path.slice(1))}</button>${h.post ? " (POST)" : ""}` +
      `</form></td><td>${esc(h.help)}</td></tr>\n${inputs}`;
  }).join("\n");
  return `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Envoy Admin</title>
<style>body{font-family:sans-serif}td{padding:2px 8px;vertical-align:top}.param{padding-left:2em;color:#555}</style>
</head>
<body>
<h1>Envoy Admin</h1>
<table>
<tr><th>Command</th><th>Description</th></tr>
${rows}
</table>
</body>
</html>
`;
}
