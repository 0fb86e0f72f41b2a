"""Campaign mails through the e-mail plugin: the member's opens and clicks are tracked and
reach the marketing pack's campaign member (the ``email_marketing`` pack); its unsubscribe
link withdraws the member's and the contact's consent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine.app import create_app
from engine.automation.jobs import InProcessRunner
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, sign_in

SPRING = "<p>See <a href='https://example.com/spring'>spring</a></p><a href='{{ unsubscribe_url }}'>unsubscribe</a>"


@pytest.fixture
def campaign_ws(database_url: str, tmp_path: Any, smtp: Any) -> Iterator[Workspace]:
    config = make_config(
        database_url,
        tmp_path,
        packs=("email_marketing",),
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_from="crm@example.com",
        public_url="http://crm.test",
    )
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    yield ws
    ws.close()


def test_opening_clicking_and_unsubscribing_a_campaign_mail_moves_the_member(campaign_ws: Any, smtp: Any) -> None:
    client = create_app(campaign_ws.config, campaign_ws).test_client()
    admin = sign_in(client, "admin@test.dev")
    made = admin.post(
        "email_template",
        {"name": "Spring", "subject": "Hello {{ first_name }}", "body_html": SPRING},
    )
    assert made.status_code == 201, made.get_json()["errors"]
    template = made.get_json()
    campaign = admin.post("campaign", {"name": "Spring 2027", "email_template": template["id"]}).get_json()
    members = []
    for first, email in (("Ann", "ann@example.org"), ("Bob", "bob@example.org")):
        person = admin.post("contact", {"first_name": first, "last_name": "Lee", "email": email}).get_json()
        members.append(admin.post("campaign_member", {"campaign": campaign["id"], "contact": person["id"]}).get_json())
    for member in members:
        sent = admin.patch(f"campaign_member/{member['id']}", {"sent_at": "2027-03-01T09:00:00Z"})
        assert sent.status_code == 200, sent.get_json()
    assert InProcessRunner(campaign_ws).tick().outbox["sent"] == 2
    mails = {str(m["To"]): m for m in smtp[0].messages}
    assert mails["ann@example.org"]["Subject"] == "Hello Ann"

    def local(url: str) -> str:
        return urlsplit(url).path

    ann_html = mails["ann@example.org"].get_body(("html",)).get_content()
    pixel = re.search(r'src="(http://crm\.test/public/plugins/email/open/[^"]+)"', ann_html)
    assert pixel is not None and client.get(local(pixel.group(1))).status_code == 200
    ann = admin.get(f"campaign_member/{members[0]['id']}").get_json()
    assert ann["opened_at"] and ann["status"] == "opened" and not ann["clicked_at"]

    click = re.search(r'href="(http://crm\.test/public/plugins/email/click/[^"]+)"', ann_html)
    assert click is not None and client.get(local(click.group(1))).status_code == 302
    assert admin.get(f"campaign_member/{members[0]['id']}").get_json()["status"] == "clicked"

    bob = admin.get(f"campaign_member/{members[1]['id']}").get_json()
    assert bob["status"] == "sent" and not bob["opened_at"]  # Bob's mail was not opened

    # the template's {{ unsubscribe_url }} became Bob's unsubscribe link; following it
    # unsubscribes the member and withdraws the contact's marketing consent
    bob_html = mails["bob@example.org"].get_body(("html",)).get_content()
    assert "{{ unsubscribe_url }}" not in bob_html
    unsubscribe = mails["bob@example.org"]["List-Unsubscribe"].strip("<>")
    assert f"href='{unsubscribe}'" in bob_html.replace("&amp;", "&")
    assert client.post(local(unsubscribe)).status_code == 200
    bob = admin.get(f"campaign_member/{members[1]['id']}").get_json()
    assert (bob["status"], bob["consent_marketing"]) == ("unsubscribed", False)
    assert admin.get(f"contact/{bob['contact']}").get_json()["consent_marketing"] is False
