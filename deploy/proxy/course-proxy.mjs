#!/usr/bin/env node
// The course hub's proxy: configurable-http-proxy (pinned in package-lock.json) with one fix.
//
// When a proxied websocket's server side fails after the upgrade (e.g. the
// connection to a student's server is reset), configurable-http-proxy 5.3.0
// writes "HTTP/1.1 503 ..." into the websocket, which is already open. The
// browser reads the "H" as a frame header with a reserved bit set and fails
// with a protocol error ("One or more reserved bits are on", "non-zero
// reserved bits" in aiohttp), hiding what happened. Once the upgrade is
// answered, an HTTP status cannot be sent any more: close the connection
// instead, which the browser reports as the lost connection it is (1006) and
// JupyterLab reconnects. tests/test_proxy_websocket.py checks both in chromium.
import ConfigurableProxy from "./node_modules/configurable-http-proxy/lib/configproxy.js";

const handleProxyError = ConfigurableProxy.prototype.handleProxyError;
ConfigurableProxy.prototype.handleProxyError = function (code, kind, req, res, error) {
  if (kind === "ws" && res && res.bytesWritten > 0) {  // the upgrade was answered already
    this.metrics.requestsProxyCount.labels(code).inc();
    this.log.error("%s %s %s %s (after the websocket opened: connection closed)",
                   code, req.method, req.url, error ? error.message : "");
    res.destroy();
    return;
  }
  return handleProxyError.call(this, code, kind, req, res, error);
};

await import("./node_modules/configurable-http-proxy/bin/configurable-http-proxy");
