"""The chat capture plugin: the embeddable widget and its public endpoint, which turns a
visitor's message into a record through a capture hook, with validation and rate limits."""

from __future__ import annotations

from typing import Any

import pytest

SITE = "https://www.example.com"
ENDPOINT = "/public/plugins/chat/website/messages"


@pytest.fixture
def widget(mail_admin: Any) -> dict[str, Any]:
    body = {
        "name": "website",
        "hook": "inquiry_chat",
        "allowed_origins": f"{SITE}\nhttps://shop.example.com",
        "rate_limit": "4 per minute",
        "greeting": "Ask us anything",
    }
    response = mail_admin.post("chat_widget", body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def say(client: Any, body: dict[str, Any], origin: str | None = SITE, path: str = ENDPOINT) -> Any:
    return client.post(path, json=body, headers={"Origin": origin} if origin else {})


def test_the_widget_script_and_its_texts_are_served_to_allowed_sites(mail_client: Any, widget: Any) -> None:
    script = mail_client.get("/public/plugins/chat/widget.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert b"data-widget" in script.data and b"innerHTML" not in script.data
    config = mail_client.get("/public/plugins/chat/website/config", headers={"Origin": SITE})
    assert config.get_json() == {"widget": "website", "title": "Chat with us", "greeting": "Ask us anything"}
    assert config.headers["Access-Control-Allow-Origin"] == SITE
    preflight = mail_client.options(ENDPOINT, headers={"Origin": SITE, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == SITE


def test_a_visitor_message_becomes_a_record_through_the_widget_s_hook(
    mail_client: Any, mail_admin: Any, widget: Any
) -> None:
    answer = say(mail_client, {"name": "Ada King Lovelace", "email": "ada@example.org", "message": " Do you ship? "})
    assert answer.status_code == 202
    assert answer.get_json() == {"status": "received", "message": "Thank you, we have received your message."}
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    [inquiry] = mail_admin.get("inquiry").get_json()["data"]
    assert (inquiry["first_name"], inquiry["last_name"], inquiry["email"]) == (
        "Ada King",
        "Lovelace",
        "ada@example.org",
    )
    assert (inquiry["source"], inquiry["description"]) == ("chat", "Do you ship?")
    assert say(mail_client, {"message": "Just looking"}).status_code == 202  # anonymous: the hook's defaults
    assert mail_admin.get("inquiry?sort=created_at").get_json()["data"][1]["last_name"] == "Chat visitor"


def test_bad_input_gets_the_fields_to_correct_and_nothing_is_written(
    mail_client: Any, mail_admin: Any, widget: Any
) -> None:
    empty = say(mail_client, {"name": "Ann", "message": "  "})
    assert empty.status_code == 422
    assert [e["field"] for e in empty.get_json()["errors"]] == ["message"]
    bad = say(mail_client, {"email": "not-an-address", "message": "x" * 4001})
    assert sorted(e["field"] for e in bad.get_json()["errors"]) == ["email", "message"]
    assert say(mail_client, {"message": "hi", "phone_home": "1"}).status_code == 400
    assert mail_client.post(ENDPOINT, data="hi", headers={"Origin": SITE}).status_code == 400
    assert mail_admin.get("inquiry").get_json()["data"] == []


def test_only_allowed_sites_active_widgets_and_people_are_heard_and_at_the_widget_s_rate(
    mail_client: Any, mail_admin: Any, widget: Any
) -> None:
    assert say(mail_client, {"message": "hi"}, origin="https://evil.example").status_code == 403
    assert say(mail_client, {"message": "hi"}, origin=None).status_code == 403
    # the hook itself is not public: only a widget naming it opens it
    assert say(mail_client, {"message": "hi"}, path="/public/plugins/chat/inquiry_chat/messages").status_code == 404
    bot = say(mail_client, {"message": "cheap pills", "website": "http://spam.example"})
    assert bot.status_code == 202  # a bot learns nothing
    assert mail_admin.get("inquiry").get_json()["data"] == []
    assert [say(mail_client, {"message": f"m{i}"}).status_code for i in range(4)] == [202, 202, 202, 429]
    mail_admin.patch(f"chat_widget/{widget['id']}", {"active": False})
    assert say(mail_client, {"message": "hi"}).status_code == 404
