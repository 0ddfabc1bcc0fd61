// Renders the OpenAPI document served by the same router. A separate file (not an inline
// script) so the page's Content-Security-Policy can forbid inline scripts.
Redoc.init(
  "/openapi.json",
  { expandResponses: "200,201,202", pathInMiddlePanel: true, jsonSampleExpandLevel: 3 },
  document.getElementById("redoc"),
);
