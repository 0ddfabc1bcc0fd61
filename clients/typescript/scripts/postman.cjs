// Converts the OpenAPI document into a Postman collection with openapi-to-postmanv2, reproducibly:
// the converter fills example bodies with json-schema-faker, which picks anyOf/oneOf branches with
// Math.random, and gives the collection random ids. Math.random is replaced by a fixed-seed PRNG
// (mulberry32), the clock is frozen and the ids are dropped, so the same document always gives the same file.
// Usage: node postman.cjs <openapi.json> <collection.json>
"use strict";
const fs = require("node:fs");

let seed = 0x5eed;
Math.random = function mulberry32() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

// Fake dates are drawn relative to "now": freeze the clock too.
const RealDate = Date;
const FIXED_NOW = RealDate.UTC(2026, 0, 1);
globalThis.Date = class extends RealDate {
  constructor(...args) {
    super(...(args.length ? args : [FIXED_NOW]));
  }
  static now() {
    return FIXED_NOW;
  }
};

const Converter = require("openapi-to-postmanv2");
const [input, output] = process.argv.slice(2);
const data = fs.readFileSync(input, "utf8");
const options = { folderStrategy: "Tags", parametersResolution: "Schema" };

Converter.convert({ type: "string", data }, options, (err, result) => {
  if (err) throw err;
  if (!result.result) throw new Error(`conversion failed: ${result.reason}`);
  const collection = result.output[0].data;
  const scrub = (node) => {
    if (Array.isArray(node)) node.forEach(scrub);
    else if (node && typeof node === "object") {
      delete node._postman_id;
      delete node.id;
      Object.values(node).forEach(scrub);
    }
  };
  scrub(collection);
  fs.writeFileSync(output, `${JSON.stringify(collection, null, 2)}\n`);
});
