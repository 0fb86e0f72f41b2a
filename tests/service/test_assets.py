"""The assets pack: asset tags, warranty from the product, the lifecycle workflow with
installation tracking, the movement log, assets from delivered purchase orders, grants.

Walked through the REST API as the demo roles, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from tests.sales.rest import account, act, create, day, get, listing, money, ok, patch, refused, user_id


def product(admin: Any, sku: str = "C9300-48P", category: str = "hardware", **values: Any) -> dict[str, Any]:
    return create(
        admin,
        "product",
        {"sku": sku, "name": f"Product {sku}", "category": category, "oem": "Cisco", "warranty_months": 12, **values},
    )


def moves(api: Any, asset_id: str) -> list[tuple[Any, ...]]:
    """The asset's movement log, oldest first: (from, to) of location, status and account."""
    rows = listing(api, "asset_movement", asset=asset_id, sort="created_at")
    return [
        (m["from_location"], m["to_location"], m["from_status"], m["to_status"], m["from_account"], m["to_account"])
        for m in rows
    ]


def test_an_asset_gets_a_tag_a_warranty_from_the_product_and_a_first_movement(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    switch = product(admin)
    asset = create(
        lead,
        "asset",
        {"product": switch["id"], "serial_no": "FOC2231X0AB", "purchase_date": "2030-01-31", "location": "Warehouse"},
    )
    assert asset["asset_tag"].startswith("AST-")
    assert asset["name"] == f"{asset['asset_tag']} Product C9300-48P"
    assert (asset["status"], asset["oem"]) == ("ordered", "Cisco")
    assert asset["warranty_end"] == "2031-01-31"  # 12 months of warranty from the purchase date
    assert moves(lead, asset["id"]) == [(None, "Warehouse", None, "ordered", None, None)]
    (first,) = listing(lead, "asset_movement", asset=asset["id"])
    assert (first["moved_by"], first["reason"]) == (user_id(admin, "support_lead"), "Asset recorded")

    # an explicit warranty end wins; a product without warranty months gives none
    other = create(lead, "asset", {"product": switch["id"], "serial_no": "X2", "warranty_end": "2032-06-30"})
    assert other["warranty_end"] == "2032-06-30"
    bare = product(admin, "SW-NOWARRANTY", warranty_months=None)
    assert create(lead, "asset", {"product": bare["id"], "serial_no": "X3"})["warranty_end"] is None

    # serial numbers are unique; services are not assets
    assert lead.post("/api/v1/asset", json={"product": switch["id"], "serial_no": "FOC2231X0AB"}).status_code == 409
    service = product(admin, "SVC-INSTALL", category="service")
    assert "product" in refused(lead.post("/api/v1/asset", json={"product": service["id"]}))


def test_deploying_needs_the_account_and_the_installation(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    customer = account(admin)
    asset = create(lead, "asset", {"product": product(admin)["id"], "serial_no": "SN-1", "location": "Warehouse"})
    ok(act(lead, "asset", asset["id"], "receive"))
    assert set(refused(act(lead, "asset", asset["id"], "deploy"))) == {"account", "installed_by", "installed_at"}
    # the state is the workflow's: a PATCH cannot deploy
    assert "status" in refused(lead.patch(f"/api/v1/asset/{asset['id']}", json={"status": "deployed"}))

    installer = user_id(admin, "technician")
    body = {"account": customer["id"], "installed_by": installer, "installed_at": "2030-03-05T10:00:00Z"}
    deployed = ok(act(lead, "asset", asset["id"], "deploy", body))
    assert (deployed["status"], deployed["account"], deployed["installed_by"]) == (
        "deployed",
        customer["id"],
        installer,
    )
    assert deployed["installed_at"] == "2030-03-05T10:00:00+00:00"
    assert ok(lead.get(f"/api/v1/account/{customer['id']}/related/asset"))["data"][0]["id"] == asset["id"]
    # a deployed asset keeps its installer and account
    errors = refused(lead.patch(f"/api/v1/asset/{asset['id']}", json={"installed_by": None, "account": None}))
    assert set(errors) == {"installed_by", "account"}


def test_every_change_of_location_status_or_account_is_logged(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead, tech = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "technician")
    first, second = account(admin, "Klinikum Nord"), account(admin, "Stadtwerke Süd")
    asset = create(lead, "asset", {"product": product(admin)["id"], "serial_no": "SN-2", "location": "Warehouse"})
    ok(act(lead, "asset", asset["id"], "receive"))
    ok(act(lead, "asset", asset["id"], "ship", {"account": first["id"]}))
    patch(lead, "asset", asset["id"], {"location": "Klinikum Nord, DC1, rack 4", "movement_reason": "Racked"})
    body = {"installed_by": user_id(admin, "technician"), "installed_at": "2030-03-05T10:00:00Z"}
    ok(act(lead, "asset", asset["id"], "deploy", body))
    patch(lead, "asset", asset["id"], {"account": second["id"], "location": "Stadtwerke Süd, rack 1"})
    patch(lead, "asset", asset["id"], {"hostname": "core-sw-01", "notes": "no movement"})  # not logged
    assert moves(tech, asset["id"]) == [
        (None, "Warehouse", None, "ordered", None, None),
        ("Warehouse", "Warehouse", "ordered", "in_stock", None, None),
        ("Warehouse", "Warehouse", "in_stock", "in_transit", None, first["id"]),
        ("Warehouse", "Klinikum Nord, DC1, rack 4", "in_transit", "in_transit", first["id"], first["id"]),
        (
            "Klinikum Nord, DC1, rack 4",
            "Klinikum Nord, DC1, rack 4",
            "in_transit",
            "deployed",
            first["id"],
            first["id"],
        ),
        ("Klinikum Nord, DC1, rack 4", "Stadtwerke Süd, rack 1", "deployed", "deployed", first["id"], second["id"]),
    ]
    reasons = [m["reason"] for m in listing(tech, "asset_movement", asset=asset["id"], sort="created_at")]
    assert reasons[1:4] == ["Status ordered -> in_stock", "Status in_stock -> in_transit", "Racked"]
    assert get(lead, "asset", asset["id"])["movement_reason"] is None  # used once, then cleared
    # the log is the engine's: nobody writes movements by hand
    assert lead.post("/api/v1/asset_movement", json={"asset": asset["id"]}).status_code == 403
    assert ok(lead.get(f"/api/v1/asset/{asset['id']}/related/asset_movement"))["data"]


def test_retired_is_final(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead, tech = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "technician")
    asset = create(lead, "asset", {"product": product(admin)["id"], "serial_no": "SN-3", "location": "Warehouse"})
    ok(act(lead, "asset", asset["id"], "receive"))
    ok(act(lead, "asset", asset["id"], "send_to_repair"))
    retired = ok(act(lead, "asset", asset["id"], "retire"))
    assert (retired["status"], retired["retired_at"]) == ("retired", day(0))
    for action in ("receive", "return_to_stock", "deploy", "send_to_repair"):
        assert act(lead, "asset", asset["id"], action).status_code == 409
    assert "location" in refused(lead.patch(f"/api/v1/asset/{asset['id']}", json={"location": "Somewhere"}))
    # technicians read assets but do not change them
    assert get(tech, "asset", asset["id"])["status"] == "retired"
    assert tech.patch(f"/api/v1/asset/{asset['id']}", json={"notes": "x"}).status_code == 403


def test_a_delivered_purchase_order_creates_one_asset_per_hardware_unit(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, finance, lead = api_client(ws, "admin"), api_client(ws, "finance"), api_client(ws, "support_lead")
    switch, licence = product(admin, warranty_months=36), product(admin, "LIC-DNA", category="license")
    customer = account(admin)
    vendor = create(finance, "vendor", {"name": "TD Synnex", "tier": "gold"})
    order = create(
        finance,
        "purchase_order",
        {
            "vendor": vendor["id"],
            "account": customer["id"],
            "lines": [
                {"product": switch["id"], "qty": 3, "unit_cost": "7420.00"},
                {"product": licence["id"], "qty": 5, "unit_cost": "900.00"},
                {"description": "Freight", "qty": 1, "unit_cost": "80.00"},
            ],
        },
    )
    ok(act(finance, "purchase_order", order["id"], "send"))
    ok(act(finance, "purchase_order", order["id"], "confirm", {"expected_delivery": day(5)}))
    assert listing(lead, "asset", purchase_order=order["id"]) == []  # nothing before delivery
    ok(act(finance, "purchase_order", order["id"], "deliver"))

    assets = listing(lead, "asset", purchase_order=order["id"], sort="asset_tag")
    assert len(assets) == 3  # the switches only, one per unit
    expected_warranty = (day(0)[:4], day(0)[5:])
    for asset in assets:
        assert (asset["status"], asset["product"], asset["vendor"]) == ("in_stock", switch["id"], vendor["id"])
        assert (asset["purchase_date"], asset["account"], money(asset["cost"])) == (day(0), customer["id"], money(7420))
        assert (str(int(asset["warranty_end"][:4]) - 3), asset["warranty_end"][5:]) == expected_warranty
        assert moves(lead, asset["id"])[-1][2:4] == ("ordered", "in_stock")
    reasons = {m["reason"] for m in listing(lead, "asset_movement", sort="created_at")}
    assert f"Delivered with {order['number']}" in reasons
    assert len({a["asset_tag"] for a in assets}) == 3


def test_who_sees_assets(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    mine, other = account(admin, "Portal Kunde GmbH"), account(admin, "Someone Else AG")
    switch = product(admin)
    own = create(lead, "asset", {"product": switch["id"], "serial_no": "P-1", "account": mine["id"]})
    create(lead, "asset", {"product": switch["id"], "serial_no": "P-2", "account": other["id"]})
    portal_user = ok(admin.get("/api/v1/user?email=customer@test.dev"))["data"][0]
    patch(admin, "user", portal_user["id"], {"account": mine["id"]})

    for role in ("technician", "support_agent", "sales_rep", "executive"):
        assert len(listing(api_client(ws, role), "asset")) == 2, role
    for role in ("technician", "support_agent"):
        assert api_client(ws, role).post("/api/v1/asset", json={"product": switch["id"]}).status_code == 403
    customer = api_client(ws, "customer")
    assert [a["id"] for a in listing(customer, "asset")] == [own["id"]]
    assert {m["asset"] for m in listing(customer, "asset_movement")} == {own["id"]}
    # sales managers read assets but do not move them
    assert act(api_client(ws, "sales_manager"), "asset", own["id"], "retire").status_code == 403
