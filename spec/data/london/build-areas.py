#!/usr/bin/env python3
"""Builds areas.geojson, London's embedded area set (STANDARD.md §4.4; spec/src/areas.rs).

An area set is a GeoJSON FeatureCollection (WGS84) whose features carry the properties
{"code", "name", "level": "authority" | "ward", "parent", "vintage"}. London's holds the 33
boroughs (geometry from boroughs.json, beside this file) and the 704 wards of the ONS
"Wards (December 2022) Boundaries UK BGC" set (WD22), whose geometry is copied unchanged from
london_wards.geojson (README.md says where that file comes from and how it was checked).
Wards carry their Census 2021 figures from census2021.csv (beside this file) as the optional
properties population, households, households_no_car and share_flats; a ward without figures
(15 City of London wards) has none of them.

Usage: python3 build-areas.py PATH/london_wards.geojson   (writes areas.geojson beside this script)
Running it twice gives byte-identical output.
"""
import csv
import json
import pathlib
import sys

here = pathlib.Path(__file__).resolve().parent
boroughs = json.loads((here / "boroughs.json").read_text())["boroughs"]
wards = json.loads(pathlib.Path(sys.argv[1]).read_text())["features"]
census = {}
with open(here / "census2021.csv", newline="") as f:
    for row in csv.DictReader(f):
        if row["population"]:
            census[row["ward"]] = {
                "population": int(row["population"]),
                "households": int(row["households"]),
                "households_no_car": int(row["households_no_car"]),
                "share_flats": float(row["share_flats"]),
            }

features = []
for b in boroughs:
    features.append({
        "type": "Feature",
        "properties": {"code": b["gss_code"], "name": b["name"], "level": "authority"},
        "geometry": {"type": "MultiPolygon", "coordinates": b["polygons"]},
    })
codes = {b["gss_code"] for b in boroughs}
for w in wards:
    p = w["properties"]
    if p["borough"] not in codes:
        sys.exit(f"ward {p['ward']}: borough {p['borough']} is not in boroughs.json")
    features.append({
        "type": "Feature",
        "properties": {"code": p["ward"], "name": p["name"], "level": "ward",
                       "parent": p["borough"], "vintage": "2022",
                       **census.get(p["ward"], {})},
        "geometry": w["geometry"],
    })
# Set-wide members (foreign members of the FeatureCollection, read by spec/src/areas.rs): the
# words for an authority, the census the figures come from, the attribution the data needs and
# a note for the dashboard's "where more are needed" view.
meta = {
    "type": "FeatureCollection",
    "name": "London",
    "authority_label": "borough",
    "authorities_label": "boroughs",
    "census_source": "Census 2021",
    "attribution": "Boundaries and Census 2021: Source: Office for National Statistics licensed "
    "under the Open Government Licence v.3.0. Contains National Statistics data © Crown "
    "copyright and database right 2022–2023. Contains OS data © Crown copyright and database "
    "right 2022.",
    "needs_note": "The City of London counts as one area: most of its wards have too few "
    "residents for ward figures.",
}
out = [json.dumps(meta, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"features":[']
out.append(",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features))
out.append("]}\n")
(here / "areas.geojson").write_text("\n".join(out))
print(f"{len(boroughs)} authorities, {len(wards)} wards")
