"""Flow 10 (PACKS.md): deployed assets link to the customer, with installation tracked and
every move on record. Walked through the REST API only, as the roles that do the work.

Tickets on deployed assets and AMC coverage (``asset.amc_contract``) need the tickets and
amc packs: those tests are skipped without them.
"""

from __future__ import annotations

from pathlib import Path

import metadata
from tests.sales.rest import account, act, create, day, get, listing, ok, patch, user_id

PACKS = Path(metadata.__file__).parent


def test_flow_10_deployed_assets_link_to_the_account_with_installation_and_history(sales_workspace, api_client):
    ws = sales_workspace("assets")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    lead, tech, agent = api_client(ws, "support_lead"), api_client(ws, "technician"), api_client(ws, "support_agent")
    firewall = create(
        admin,
        "product",
        {"sku": "FG-100F", "name": "FortiGate 100F", "category": "hardware", "oem": "Fortinet", "warranty_months": 36},
    )
    customer = account(admin, "Klinikum Nord gGmbH")
    portal_user = ok(admin.get("/api/v1/user?email=customer@test.dev"))["data"][0]
    patch(admin, "user", portal_user["id"], {"account": customer["id"]})

    # finance buys two firewalls for the customer; delivery puts them in our stock
    vendor = create(finance, "vendor", {"name": "Exclusive Networks", "tier": "gold"})
    order = create(
        finance,
        "purchase_order",
        {"vendor": vendor["id"], "account": customer["id"], "lines": [{"product": firewall["id"], "qty": 2}]},
    )
    for action in ("send", "deliver"):
        ok(act(finance, "purchase_order", order["id"], action))
    first, second = listing(lead, "asset", purchase_order=order["id"], sort="asset_tag")
    assert {first["status"], second["status"]} == {"in_stock"}
    assert first["warranty_end"][:4] == str(int(day(0)[:4]) + 3)

    # the support lead records serial numbers and ships; the technician installs on site
    patch(lead, "asset", first["id"], {"serial_no": "FGT100FTK2209A1"})
    ok(act(lead, "asset", first["id"], "ship"))
    patch(
        lead,
        "asset",
        first["id"],
        {"location": "Klinikum Nord, Haus B, server room", "movement_reason": "Arrived on site"},
    )
    installer = user_id(admin, "technician")
    installed = ok(
        act(
            lead,
            "asset",
            first["id"],
            "deploy",
            {"installed_by": installer, "installed_at": f"{day(0)}T09:30:00Z"},
        )
    )
    assert (installed["status"], installed["account"], installed["installed_by"]) == (
        "deployed",
        customer["id"],
        installer,
    )

    # the account is the hub: its assets, deployed and not
    at_customer = ok(tech.get(f"/api/v1/account/{customer['id']}/related/asset?sort=asset_tag"))["data"]
    assert [(a["id"], a["status"]) for a in at_customer] == [(first["id"], "deployed"), (second["id"], "in_stock")]
    figures = get(tech, "account", customer["id"])
    assert (figures["deployed_asset_count"], figures["pending_installation_count"]) == (1, 1)
    assert [a["id"] for a in listing(lead, "asset", installation_pending="true")] == [second["id"]]
    deployed = ok(agent.get(f"/api/v1/asset?account={customer['id']}&status=deployed"))["data"]
    assert [a["serial_no"] for a in deployed] == ["FGT100FTK2209A1"]

    # the history tells where it has been, who moved it and why
    history = listing(agent, "asset_movement", asset=first["id"], sort="created_at")
    assert [(m["to_status"], m["to_location"], m["reason"]) for m in history] == [
        ("ordered", "Warehouse", f"Delivered with {order['number']}"),
        ("in_stock", "Warehouse", "Status ordered -> in_stock"),
        ("in_transit", "Warehouse", "Status in_stock -> in_transit"),
        ("in_transit", "Klinikum Nord, Haus B, server room", "Arrived on site"),
        ("deployed", "Klinikum Nord, Haus B, server room", "Status in_transit -> deployed"),
    ]
    assert {m["moved_by"] for m in history[2:]} == {user_id(admin, "support_lead")}

    # a repair and back: both legs are logged, the installation stays on record
    ok(act(lead, "asset", first["id"], "send_to_repair"))
    back = {"installed_by": installer, "installed_at": f"{day(0)}T15:00:00Z"}
    ok(act(lead, "asset", first["id"], "deploy", back))
    statuses = [m["to_status"] for m in listing(agent, "asset_movement", asset=first["id"], sort="created_at")]
    assert statuses[-2:] == ["under_repair", "deployed"]
    assert get(tech, "asset", first["id"])["installed_at"] == f"{day(0)}T15:00:00+00:00"

    # the customer sees their assets and their history in the portal, nothing else
    portal = api_client(ws, "customer")
    assert {a["id"] for a in listing(portal, "asset")} == {first["id"], second["id"]}
    assert len(listing(portal, "asset_movement", asset=first["id"])) == 7
    assert portal.patch(f"/api/v1/asset/{first['id']}", json={"notes": "x"}).status_code == 403


def test_flow_10_tickets_on_a_deployed_asset_go_to_a_certified_technician(sales_workspace, api_client):
    ws = sales_workspace("assets", "certifications", "tickets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    router = create(
        admin, "product", {"sku": "ISR4331", "name": "ISR 4331 router", "category": "hardware", "oem": "Cisco"}
    )
    customer = account(admin, "Stadtwerke Süd GmbH")
    portal_user = ok(admin.get("/api/v1/user?email=customer@test.dev"))["data"][0]
    patch(admin, "user", portal_user["id"], {"account": customer["id"]})
    technician = user_id(admin, "technician")
    ccna = create(lead, "certification", {"oem": "Cisco", "name": "Cisco CCNA", "level": "associate"})
    create(lead, "exam_attempt", {"user": technician, "certification": ccna["id"], "score": 900, "passed": True})

    asset = create(lead, "asset", {"product": router["id"], "serial_no": "FDO2231X0AB", "account": customer["id"]})
    install = {"installed_by": technician, "installed_at": f"{day(0)}T08:00:00Z"}
    ok(act(lead, "asset", asset["id"], "deploy", install))

    # the customer reports a fault on the router in the portal
    portal = api_client(ws, "customer")
    ticket = create(portal, "ticket", {"subject": "Branch offline", "asset": asset["id"]})
    assert ticket["account"] == customer["id"]
    # the asset's record lists its tickets; the technician certified for Cisco has it
    (listed,) = ok(lead.get(f"/api/v1/asset/{asset['id']}/related/ticket"))["data"]
    assert (listed["id"], listed["assignee"]) == (ticket["id"], technician)
    # a ticket cannot name another customer's asset
    other = create(lead, "asset", {"product": router["id"], "serial_no": "OTHER-1"})
    assert (
        lead.post("/api/v1/ticket", json={"subject": "x", "account": customer["id"], "asset": other["id"]}).status_code
        == 422
    )


def test_flow_10_deployed_assets_link_to_their_amc_coverage(sales_workspace, api_client):
    ws = sales_workspace("amc")
    admin, lead, manager = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "sales_manager")
    switch = create(admin, "product", {"sku": "C9300", "name": "Catalyst 9300", "category": "hardware", "oem": "Cisco"})
    customer = account(admin, "Hochschule Nord")
    install = {"installed_by": user_id(admin, "technician"), "installed_at": f"{day(0)}T08:00:00Z"}
    covered, spare = (
        create(lead, "asset", {"product": switch["id"], "serial_no": serial, "account": customer["id"]})
        for serial in ("FOC-1", "FOC-2")
    )
    ok(act(lead, "asset", covered["id"], "deploy", install))

    contract = create(
        manager,
        "amc_contract",
        {"title": "Campus network 24x7", "account": customer["id"], "tier": "gold", "assets": [covered["id"]]},
    )
    ok(act(manager, "amc_contract", contract["id"], "activate"))
    assert get(lead, "asset", covered["id"])["amc_contract"] == contract["id"]
    assert get(lead, "asset", spare["id"])["amc_contract"] is None
    assert [
        a["id"] for a in ok(lead.get(f"/api/v1/amc_contract/{contract['id']}/related/asset.amc_contract"))["data"]
    ] == [covered["id"]]
    assert get(lead, "amc_contract", contract["id"])["covered_asset_count"] == 1
    # the deployed, covered assets of the account: what the delivery dashboard counts
    rows = listing(lead, "asset", account=customer["id"], status="deployed", filter="amc_contract != null")
    assert [a["id"] for a in rows] == [covered["id"]]
