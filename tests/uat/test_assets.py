"""UAT of the assets module (docs/uat/assets.md): registration, deployment, movement log,
assets from delivered purchase orders."""

from __future__ import annotations

import pytest

from tests.sales.rest import account, act, create, listing, ok, refused, user_id
from tests.service.test_assets import moves, product


@pytest.mark.uat("UAT-ASSETS-01")
def test_uat_assets_01_a_new_asset_gets_a_tag_and_its_warranty(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    switch = product(admin)
    values = {
        "product": switch["id"],
        "serial_no": "FOC2231X0AB",
        "purchase_date": "2030-01-31",
        "location": "Warehouse",
    }
    asset = create(lead, "asset", values)
    assert asset["asset_tag"].startswith("AST-")
    assert (asset["status"], asset["warranty_end"]) == ("ordered", "2031-01-31")
    assert lead.post("/api/v1/asset", json={"product": switch["id"], "serial_no": "FOC2231X0AB"}).status_code == 409


@pytest.mark.uat("UAT-ASSETS-02")
def test_uat_assets_02_deploying_records_the_installation(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    customer = account(admin)
    asset = create(lead, "asset", {"product": product(admin)["id"], "serial_no": "SN-1", "location": "Warehouse"})
    ok(act(lead, "asset", asset["id"], "receive"))
    assert set(refused(act(lead, "asset", asset["id"], "deploy"))) == {"account", "installed_by", "installed_at"}
    installer = user_id(admin, "technician")
    body = {"account": customer["id"], "installed_by": installer, "installed_at": "2030-03-05T10:00:00Z"}
    deployed = ok(act(lead, "asset", asset["id"], "deploy", body))
    assert (deployed["status"], deployed["account"], deployed["installed_by"]) == (
        "deployed",
        customer["id"],
        installer,
    )
    assert ok(lead.get(f"/api/v1/account/{customer['id']}/related/asset"))["data"][0]["id"] == asset["id"]


@pytest.mark.uat("UAT-ASSETS-03")
def test_uat_assets_03_every_move_is_logged(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead, tech = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "technician")
    asset = create(lead, "asset", {"product": product(admin)["id"], "serial_no": "SN-2", "location": "Warehouse"})
    ok(act(lead, "asset", asset["id"], "receive"))
    ok(lead.patch(f"/api/v1/asset/{asset['id']}", json={"location": "DC1, rack 4", "movement_reason": "Racked"}))
    assert moves(tech, asset["id"]) == [
        (None, "Warehouse", None, "ordered", None, None),
        ("Warehouse", "Warehouse", "ordered", "in_stock", None, None),
        ("Warehouse", "DC1, rack 4", "in_stock", "in_stock", None, None),
    ]
    assert lead.post("/api/v1/asset_movement", json={"asset": asset["id"]}).status_code == 403
    assert tech.patch(f"/api/v1/asset/{asset['id']}", json={"notes": "x"}).status_code == 403


@pytest.mark.uat("UAT-ASSETS-04")
def test_uat_assets_04_a_delivered_order_creates_its_assets(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, finance, lead = api_client(ws, "admin"), api_client(ws, "finance"), api_client(ws, "support_lead")
    switch, licence = product(admin, warranty_months=36), product(admin, "LIC-DNA", category="license")
    vendor = create(finance, "vendor", {"name": "TD Synnex", "tier": "gold"})
    lines = [
        {"product": switch["id"], "qty": 3, "unit_cost": "7420.00"},
        {"product": licence["id"], "qty": 5, "unit_cost": "900.00"},
    ]
    order = create(finance, "purchase_order", {"vendor": vendor["id"], "account": account(admin)["id"], "lines": lines})
    ok(act(finance, "purchase_order", order["id"], "send"))
    assert listing(lead, "asset", purchase_order=order["id"]) == []
    ok(act(finance, "purchase_order", order["id"], "deliver"))
    assets = listing(lead, "asset", purchase_order=order["id"])
    assert len(assets) == 3
    assert {(a["status"], a["product"], a["vendor"]) for a in assets} == {("in_stock", switch["id"], vendor["id"])}
