// Builds spec/data/london/boroughs.json (embedded in the evfed-node binary) from the London
// borough boundaries shipped in the npm package vega-datasets 3.2.1.
//
// Usage (see spec/data/london/boroughs.md):
//   cd /tmp && npm pack vega-datasets@3.2.1 && tar xzf vega-datasets-3.2.1.tgz
//   node spec/data/london/build-boroughs.mjs /tmp/package/data
//
// Reads data/londonBoroughs.json (TopoJSON) and data/londonCentroids.json from the directory given
// as the only argument, decodes the TopoJSON arcs (quantised, delta-encoded, with a transform;
// arc index ~i means arc i reversed), attaches each borough's ONS GSS code and centroid, and
// writes compact JSON sorted by GSS code with coordinates rounded to 6 decimals. Node.js
// built-ins only. Fails loudly on any input it does not recognise.

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// The exact inputs this script was written against; a different file is refused so the output
// can be reproduced byte for byte. Update these (and re-check the output) to move to a new version.
const INPUTS = {
  "londonBoroughs.json": "2dfeae7dd8123c57cf652938717ca27470c3684a1671d7f39d8afe518187a80a",
  "londonCentroids.json": "97cf9bfbc701f2fc2bad9ce5bc25df4646e8902eac0fe5adc1a2a8a6ba60e231",
};

const SOURCE =
  "npm vega-datasets@3.2.1 data/londonBoroughs.json (sha256:" +
  INPUTS["londonBoroughs.json"].slice(0, 16) +
  "…) and data/londonCentroids.json (sha256:" +
  INPUTS["londonCentroids.json"].slice(0, 16) +
  "…), from London Datastore 'Statistical GIS Boundary Files' (London_Borough_Excluding_MHW, 2015), simplified";

// ONS GSS codes of the 33 London boroughs (entity E09), keyed by the name used in the package.
const GSS = {
  "City of London": "E09000001",
  "Barking and Dagenham": "E09000002",
  Barnet: "E09000003",
  Bexley: "E09000004",
  Brent: "E09000005",
  Bromley: "E09000006",
  Camden: "E09000007",
  Croydon: "E09000008",
  Ealing: "E09000009",
  Enfield: "E09000010",
  Greenwich: "E09000011",
  Hackney: "E09000012",
  "Hammersmith and Fulham": "E09000013",
  Haringey: "E09000014",
  Harrow: "E09000015",
  Havering: "E09000016",
  Hillingdon: "E09000017",
  Hounslow: "E09000018",
  Islington: "E09000019",
  "Kensington and Chelsea": "E09000020",
  "Kingston upon Thames": "E09000021",
  Lambeth: "E09000022",
  Lewisham: "E09000023",
  Merton: "E09000024",
  Newham: "E09000025",
  Redbridge: "E09000026",
  "Richmond upon Thames": "E09000027",
  Southwark: "E09000028",
  Sutton: "E09000029",
  "Tower Hamlets": "E09000030",
  "Waltham Forest": "E09000031",
  Wandsworth: "E09000032",
  Westminster: "E09000033",
};

function fail(message) {
  console.error(`build-boroughs: ${message}`);
  process.exit(1);
}

function readInput(dir, name) {
  const bytes = readFileSync(join(dir, name));
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== INPUTS[name]) {
    fail(`${name}: sha256 ${sha256}, expected ${INPUTS[name]} (vega-datasets 3.2.1)`);
  }
  return JSON.parse(bytes.toString("utf8"));
}

function round6(x) {
  if (!Number.isFinite(x)) fail(`non-finite coordinate ${x}`);
  const r = Number(x.toFixed(6));
  return Object.is(r, -0) ? 0 : r;
}

// Decodes every arc to absolute [lon, lat] positions (unrounded).
function decodeArcs(topology) {
  const t = topology.transform;
  if (!t) fail("expected a quantised topology with a transform");
  const [sx, sy] = t.scale;
  const [tx, ty] = t.translate;
  return topology.arcs.map((arc) => {
    let x = 0;
    let y = 0;
    return arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
  });
}

// Joins a ring's arcs; consecutive arcs share their end point, which is kept once.
function ring(arcIndexes, arcs) {
  const points = [];
  for (const i of arcIndexes) {
    const arc = i >= 0 ? arcs[i] : arcs[~i];
    if (!arc) fail(`arc ${i} does not exist`);
    const ordered = i >= 0 ? arc : arc.slice().reverse();
    if (points.length > 0) points.pop();
    points.push(...ordered);
  }
  // As topojson-client does: a ring of two arcs of two points each (a zero-area sliver, e.g. one
  // of Newham's) decodes to 3 positions; repeat the first so it is a valid GeoJSON ring.
  if (points.length < 4) points.push(points[0]);
  const rounded = points.map(([lon, lat]) => [round6(lon), round6(lat)]);
  const first = rounded[0];
  const last = rounded[rounded.length - 1];
  if (rounded.length < 4 || first[0] !== last[0] || first[1] !== last[1]) {
    fail(`ring of arcs ${JSON.stringify(arcIndexes)} is not a closed ring of 4+ points`);
  }
  return rounded;
}

function polygons(geometry, arcs) {
  switch (geometry.type) {
    case "Polygon":
      return [geometry.arcs.map((r) => ring(r, arcs))];
    case "MultiPolygon":
      return geometry.arcs.map((p) => p.map((r) => ring(r, arcs)));
    default:
      return fail(`${geometry.id}: unsupported geometry type ${geometry.type}`);
  }
}

const dir = process.argv[2];
if (!dir || process.argv.length !== 3) {
  fail("usage: node build-boroughs.mjs <vega-datasets package>/data");
}

const topology = readInput(dir, "londonBoroughs.json");
const centroids = readInput(dir, "londonCentroids.json");
if (topology.type !== "Topology" || !topology.objects?.boroughs) {
  fail("londonBoroughs.json is not a TopoJSON topology with a 'boroughs' object");
}

const centroidByName = new Map();
for (const { name, cx, cy } of centroids) {
  if (centroidByName.has(name)) fail(`duplicate centroid for ${name}`);
  centroidByName.set(name, [round6(cx), round6(cy)]);
}

const arcs = decodeArcs(topology);
const seen = new Set();
const boroughs = topology.objects.boroughs.geometries.map((geometry) => {
  const name = geometry.id;
  const gss_code = GSS[name];
  if (!gss_code) fail(`no GSS code for borough name ${JSON.stringify(name)}`);
  if (seen.has(gss_code)) fail(`${name} appears twice`);
  seen.add(gss_code);
  const centroid = centroidByName.get(name);
  if (!centroid) fail(`no centroid for ${name}`);
  return { gss_code, name, centroid, polygons: polygons(geometry, arcs) };
});

const missing = Object.entries(GSS).filter(([, code]) => !seen.has(code));
if (missing.length > 0) fail(`boroughs missing from the input: ${missing.map(([n]) => n).join(", ")}`);
if (centroidByName.size !== boroughs.length) fail("centroids and boroughs do not match one to one");

boroughs.sort((a, b) => (a.gss_code < b.gss_code ? -1 : a.gss_code > b.gss_code ? 1 : 0));

const out = {
  source: SOURCE,
  licence: "OGL v3",
  attribution: "Contains National Statistics data © Crown copyright and database right",
  boroughs,
};
const path = fileURLToPath(new URL("boroughs.json", import.meta.url));
writeFileSync(path, JSON.stringify(out) + "\n");
const points = boroughs.flatMap((b) => b.polygons.flat(2)).length;
console.error(`wrote ${path}: ${boroughs.length} boroughs, ${points} points`);
