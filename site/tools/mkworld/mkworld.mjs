// mkworld converts the Natural Earth 1:110m land outlines, as packaged on
// the npm registry by world-atlas, into the SVG path data the status site
// draws its map with: site/world.path.
//
// Projection: equirectangular (plate carrée) on a 720×360 canvas,
// x = (lon + 180) * 2, y = (90 - lat) * 2, so the site places a mirror
// with the same two multiplications. Coordinates are rounded to whole
// canvas units (half a degree) and written relative ("m" then "l" pairs),
// which keeps the asset near 20 KB; rings that round to fewer than three
// distinct points (islands smaller than the grid) are left out.
//
// Run once, from this directory, and commit site/world.path:
//
//	npm install && node mkworld.mjs > ../../world.path
//
// The output is deterministic: the same world-atlas version gives the same
// bytes.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const file = require.resolve("world-atlas/land-110m.json");
const topo = JSON.parse(readFileSync(file, "utf8"));
const version = JSON.parse(readFileSync(require.resolve("world-atlas/package.json"), "utf8")).version;

const K = 2; // canvas units per degree

// Decode the quantized, delta-encoded arcs into degrees.
const [sx, sy] = topo.transform.scale;
const [tx, ty] = topo.transform.translate;
const arcs = topo.arcs.map((arc) => {
  let x = 0, y = 0;
  return arc.map(([dx, dy]) => {
    x += dx;
    y += dy;
    return [x * sx + tx, y * sy + ty];
  });
});

function ring(indices) {
  const pts = [];
  for (const i of indices) {
    const a = i < 0 ? arcs[~i].slice().reverse() : arcs[i];
    a.forEach((p, j) => {
      if (j > 0 || pts.length === 0) pts.push(p);
    });
  }
  return pts;
}

function project([lon, lat]) {
  return [Math.round((lon + 180) * K), Math.round((90 - lat) * K)];
}

const polys = [];
for (const g of topo.objects.land.geometries) {
  if (g.type === "Polygon") polys.push(g.arcs);
  else if (g.type === "MultiPolygon") polys.push(...g.arcs);
}

// unwrap makes a ring that crosses the antimeridian (Chukotka, Fiji)
// continuous by carrying longitudes past ±180. The data is meant for
// spherical rendering, so a ring around a pole (Antarctica) does not come
// back to where it started: on a flat map it is closed along the pole.
function unwrap(pts) {
  const out = [];
  let off = 0;
  for (let i = 0; i < pts.length; i++) {
    if (i > 0) {
      const d = pts[i][0] - pts[i - 1][0];
      if (d > 180) off -= 360;
      else if (d < -180) off += 360;
    }
    out.push([pts[i][0] + off, pts[i][1]]);
  }
  if (off !== 0) {
    const pole = out.reduce((s, p) => s + p[1], 0) < 0 ? -90 : 90;
    out.push([out[out.length - 1][0], pole], [out[0][0], pole]);
  }
  return out;
}

let out = "";
let rings = 0;
const drawn = [];
for (const poly of polys) {
  for (const r of poly) {
    const pts = unwrap(ring(r));
    const lons = pts.map((p) => p[0]);
    drawn.push(pts);
    // A ring past an edge is drawn again from the other side; the map's
    // canvas clips both copies.
    if (Math.max(...lons) > 180) drawn.push(pts.map(([lon, lat]) => [lon - 360, lat]));
    if (Math.min(...lons) < -180) drawn.push(pts.map(([lon, lat]) => [lon + 360, lat]));
  }
}
for (const ringPts of drawn) {
  {
    const pts = [];
    for (const p of ringPts.map(project)) {
      const last = pts[pts.length - 1];
      if (!last || last[0] !== p[0] || last[1] !== p[1]) pts.push(p);
    }
    if (pts.length > 1 && pts[0][0] === pts[pts.length - 1][0] && pts[0][1] === pts[pts.length - 1][1]) pts.pop();
    if (new Set(pts.map((p) => p.join())).size < 3) continue;
    out += `M${pts[0][0]} ${pts[0][1]}l`;
    for (let j = 1; j < pts.length; j++) {
      const dx = pts[j][0] - pts[j - 1][0], dy = pts[j][1] - pts[j - 1][1];
      out += (j > 1 && dx >= 0 ? " " : "") + dx + (dy >= 0 ? " " : "") + dy;
    }
    out += "z";
    rings++;
  }
}
process.stderr.write(`mkworld: world-atlas ${version} land-110m: ${rings} rings, ${out.length} bytes\n`);
process.stdout.write(out + "\n");
