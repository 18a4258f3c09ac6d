// Rehearsal stub: answers /health and /ready on PORT (8080), as the cluster fixture's probes expect.
const http = require("http");
http
  .createServer((req, res) => res.end(req.url === "/health" || req.url === "/ready" ? "ok" : ""))
  .listen(process.env.PORT || 8080);
