"""An OCPI 2.2.1 CPO sender built with the third-party `extrawest-ocpi` package (py_ocpi),
seeded with the OCPI-shaped fixtures of this repository, served on loopback.

    python seed_app.py --port 8765 --token operator-token

Locations: the three in spec/testdata/ocpi/valid/ plus 117 generated variants of the lamp-post
location (so the module has three pages at the package's default page size of 50, and its
`Link` header is exercised). Tariffs: the two in spec/testdata/ocpi/valid/. Sessions and CDRs:
spec/testdata/ocpi/pull/ (with driver tokens and auth references, which evfed must drop).

Nothing here works around the package's behaviour on the wire: ids are lower-cased by its
CiString type, optional fields come out as explicit nulls, and its Link header is whatever it
builds. Two changes to the data, because py_ocpi's models differ from OCPI 2.2.1 and one object
that fails its validation turns the whole page into `status_code` 3000: `status_schedule` is
removed from EVSEs (py_ocpi: one object; OCPI: a list), and `energy_mix` from locations and
tariffs (py_ocpi: one `environ_impact` object and required `energy_sources`, `supplier_name`,
`energy_product_name`; OCPI: a list and optional fields).
"""

import argparse
import copy
import json
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
TESTDATA = REPO / "spec" / "testdata" / "ocpi"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", default="operator-token")
    return p.parse_args()


ARGS = parse_args()
# py_ocpi reads its settings from the environment when it is imported.
os.environ["PROTOCOL"] = "http"
os.environ["OCPI_HOST"] = f"{ARGS.host}:{ARGS.port}"
os.environ.setdefault("ENVIRONMENT", "production")

import uvicorn  # noqa: E402
from py_ocpi import get_application  # noqa: E402
from py_ocpi.core.enums import ModuleID, RoleEnum  # noqa: E402
from py_ocpi.modules.versions.enums import VersionNumber  # noqa: E402
from py_ocpi.modules.cdrs.v_2_2_1.schemas import Cdr  # noqa: E402
from py_ocpi.modules.locations.v_2_2_1.schemas import Location  # noqa: E402
from py_ocpi.modules.sessions.v_2_2_1.schemas import Session  # noqa: E402
from py_ocpi.modules.tariffs.v_2_2_1.schemas import Tariff  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def seed():
    valid = TESTDATA / "valid"
    locations = [
        load(valid / f"location_{name}.json")
        for name in ["westminster_lamppost", "park_royal_rapid_hub", "southwark_fleet_depot"]
    ]
    lamp_post = load(valid / "location_westminster_lamppost.json")
    for i in range(1, 118):
        loc = copy.deepcopy(lamp_post)
        loc["id"] = f"LPC-GEN-{i:04d}"
        loc["name"] = f"Generated lamp post {i}"
        loc["coordinates"] = {
            "latitude": f"{51.45 + (i % 20) * 0.01:.6f}",
            "longitude": f"{-0.30 + (i // 20) * 0.05:.6f}",
        }
        for evse in loc["evses"]:
            evse["uid"] = f"LPC-GEN-{i:04d}-1"
            evse["evse_id"] = f"GB*LPC*E9{i:04d}"
        locations.append(loc)
    tariffs = [load(p) for p in sorted(valid.glob("tariff_*.json"))]
    for obj in locations + tariffs:
        obj.pop("energy_mix", None)
        for evse in obj.get("evses", []):
            evse.pop("status_schedule", None)
    pull = TESTDATA / "pull"
    return {
        ModuleID.locations: locations,
        ModuleID.tariffs: tariffs,
        ModuleID.sessions: load(pull / "sessions.json"),
        ModuleID.cdrs: load(pull / "cdrs.json"),
    }


DATA = seed()


class Crud:
    """In-memory data; `list` honours offset, limit and date_from as a sender should."""

    @classmethod
    async def list(cls, module, role, filters, *args, **kwargs):
        items = DATA.get(module, [])
        date_from = filters.get("date_from")
        if date_from is not None:
            stamp = date_from.strftime("%Y-%m-%dT%H:%M:%SZ")
            items = [i for i in items if i["last_updated"] >= stamp]
        offset, limit = filters["offset"], filters["limit"]
        page = items[offset : offset + limit]
        return page, len(items), offset + limit >= len(items)

    @classmethod
    async def get(cls, module, role, id, *args, **kwargs):
        return next((i for i in DATA.get(module, []) if i["id"].lower() == id.lower()), None)

    @classmethod
    async def create(cls, *args, **kwargs):
        raise NotImplementedError

    @classmethod
    async def update(cls, *args, **kwargs):
        raise NotImplementedError

    @classmethod
    async def delete(cls, *args, **kwargs):
        raise NotImplementedError

    @classmethod
    async def do(cls, *args, **kwargs):
        raise NotImplementedError


class Adapter:
    @classmethod
    def location_adapter(cls, data, version=VersionNumber.latest):
        return Location(**data)

    @classmethod
    def tariff_adapter(cls, data, version=VersionNumber.latest):
        return Tariff(**data)

    @classmethod
    def session_adapter(cls, data, version=VersionNumber.latest):
        return Session(**data)

    @classmethod
    def cdr_adapter(cls, data, version=VersionNumber.latest):
        return Cdr(**data)


class Authenticator:
    @classmethod
    async def authenticate(cls, auth_token):
        from py_ocpi.core.exceptions import AuthorizationOCPIError

        if auth_token != ARGS.token:
            raise AuthorizationOCPIError

    @classmethod
    async def authenticate_credentials(cls, auth_token):
        return auth_token if auth_token == ARGS.token else None

    @classmethod
    async def get_valid_token_c(cls):
        return [ARGS.token]

    @classmethod
    async def get_valid_token_a(cls):
        return []


app = get_application(
    version_numbers=[VersionNumber.v_2_2_1],
    roles=[RoleEnum.cpo],
    crud=Crud,
    modules=[ModuleID.locations, ModuleID.tariffs, ModuleID.sessions, ModuleID.cdrs],
    authenticator=Authenticator,
    adapter=Adapter,
)

if __name__ == "__main__":
    print(f"extrawest-ocpi sender on http://{ARGS.host}:{ARGS.port}/ocpi/versions", file=sys.stderr)
    uvicorn.run(app, host=ARGS.host, port=ARGS.port, log_level="warning")
