import { assertEquals } from "../testing/assert.ts";
import { redactSecrets } from "./admin_view.ts";

Deno.test("config dumps redact inline private keys and passwords, not file references", () => {
  assertEquals(
    redactSecrets({
      tls_certificates: [{
        certificate_chain: { inline_string: "CERT" },
        private_key: { inline_string: "KEY" },
        password: { inline_string: "pw" },
      }, { private_key: { filename: "/etc/key.pem" } }],
    }),
    {
      tls_certificates: [{
        certificate_chain: { inline_string: "CERT" },
        private_key: { inline_string: "[redacted]" },
        password: { inline_string: "[redacted]" },
      }, { private_key: { filename: "/etc/key.pem" } }],
    },
  );
});
