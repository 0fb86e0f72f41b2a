"""Documents from records: ``GET /api/v1/ENTITY/ID/render/TEMPLATE?format=html|pdf``.

The ``render_kit`` test pack gives testkit's voucher four templates; sales reps read their
own vouchers without the amount.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from engine.app import create_app
from engine.checking import check_packs
from engine.config import Config
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, TEST_PACKS, Api, make_config, sign_in


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_config(database_url, tmp_path, ("render_kit",)), meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    create_user(workspace, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(workspace, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    create_user(workspace, "other@test.dev", "Olga Other", PASSWORD, ["sales_rep"])
    create_user(workspace, "finance@test.dev", "Finn Finance", PASSWORD, ["finance"])
    yield workspace
    workspace.close()


@pytest.fixture
def client(ws: Workspace) -> Any:
    return create_app(ws.config, ws).test_client()


def _voucher(api: Api, admin: Api | None = None, **values: Any) -> dict[str, Any]:
    """A voucher with two lines and a maker (made by ``admin``: reps may not create makers)."""
    maker = (admin or api).post("maker", {"name": f"Maker {values.get('code', 'V-100')}", "country": "DE"})
    body = {
        "code": "V-100",
        "maker": maker.get_json().get("id"),
        "issued_on": "2030-03-05",
        "valid_until": "2030-04-05",
        "lines": [
            {"item": "Switch <48 port>", "qty": 2, "unit_price": "1234.50"},
            {"item": "Cable", "qty": 1000, "unit_price": "0.99", "discount": 10},
        ],
        **values,
    }
    reply = api.post("voucher", body)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def _text(reply: Any) -> str:
    return reply.get_data(as_text=True)


def test_a_record_renders_to_html_with_its_rows_links_labels_and_formatting(client: Any) -> None:
    admin = sign_in(client, "admin@test.dev")
    voucher = _voucher(admin, amount="99.90")
    reply = admin.get(f"voucher/{voucher['id']}/render/summary")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.headers["Content-Disposition"] == 'inline; filename="V-100.html"'
    html = _text(reply)
    assert "<h1>Voucher V-100</h1>" in html
    assert '<p id="status">Status: draft</p>' in html
    assert '<p id="maker">Maker: Maker V-100</p>' in html  # the link is followed
    assert '<p id="issued">05 Mar 2030</p>' in html
    assert '<p id="amount">99.90 EUR</p>' in html
    assert '<p id="owner">Ada Admin</p>' in html  # system user fields are followed too
    assert "<td>Switch &lt;48 port&gt;</td>" in html  # values are escaped
    assert '<td class="num">1,000</td><td class="num">891.00</td>' in html
    assert '<p id="total">3,360.00 EUR</p>' in html
    assert html.count('<tr class="line">') == 2
    assert '<p id="reason"></p>' in html  # empty values print as nothing, not "None"


def test_a_record_renders_to_pdf(client: Any) -> None:
    admin = sign_in(client, "admin@test.dev")
    voucher = _voucher(admin, code="V-PDF-7")
    reply = admin.get(f"voucher/{voucher['id']}/render/summary?format=pdf")
    assert reply.status_code == 200, _text(reply)
    assert reply.headers["Content-Type"] == "application/pdf"
    assert reply.headers["Content-Disposition"] == 'inline; filename="V-PDF-7.pdf"'
    assert reply.data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(reply.data)).pages)
    assert "Voucher V-PDF-7" in text
    assert "3,360.00 EUR" in text


def test_the_caller_sees_only_what_they_may_read(client: Any) -> None:
    rep, other, finance = (sign_in(client, f"{who}@test.dev") for who in ("rep", "other", "finance"))
    admin = sign_in(client, "admin@test.dev")
    voucher = _voucher(rep, admin)
    html = _text(rep.get(f"voucher/{voucher['id']}/render/summary"))
    assert '<p id="amount">hidden</p>' in html  # the field is hidden from sales reps
    assert '<p id="maker">Maker: Maker V-100</p>' in html
    # another rep's voucher does not exist for them, whatever the template
    for path in (f"voucher/{voucher['id']}/render/summary", f"voucher/{voucher['id']}/render/nope"):
        reply = other.get(path)
        assert reply.status_code == 404, path
        assert reply.headers["Content-Type"] == "application/problem+json"
    # finance may not read vouchers at all
    assert finance.get(f"voucher/{voucher['id']}/render/summary").status_code == 404
    assert admin.get(f"voucher/{voucher['id']}/render/summary").status_code == 200


def test_links_the_caller_may_not_follow_stay_ids(client: Any, ws: Workspace) -> None:
    admin = sign_in(client, "admin@test.dev")
    maker = admin.post("maker", {"name": "Hidden maker", "country": "DE"}).get_json()
    # take the read grant on makers away from sales reps (an admin's permission overlay)
    overlay = admin.put("meta/entities/maker/permissions/sales_rep", {"read": "none"})
    assert overlay.status_code == 200, overlay.get_json()
    rep = sign_in(client, "rep@test.dev")
    voucher = rep.post("voucher", {"code": "V-1", "maker": maker["id"]}).get_json()
    html = _text(rep.get(f"voucher/{voucher['id']}/render/summary"))
    assert f'<p id="maker">Maker: {maker["id"]}</p>' in html


def test_unknown_templates_formats_and_parameters_are_refused(client: Any) -> None:
    admin = sign_in(client, "admin@test.dev")
    voucher = _voucher(admin)
    reply = admin.get(f"voucher/{voucher['id']}/render/invoice")
    assert reply.status_code == 404
    assert reply.get_json()["detail"] == "voucher has no template 'invoice' (templates: broken, escape, plain, summary)"
    reply = admin.get(f"voucher/{voucher['id']}/render/summary?format=docx")
    assert reply.status_code == 400
    assert reply.get_json()["detail"] == "format must be one of: html, pdf"
    assert admin.get(f"voucher/{voucher['id']}/render/summary?lang=de").status_code == 400
    assert admin.get("voucher/not-an-id/render/summary").status_code == 404
    assert admin.get(f"maker/{voucher['maker']}/render/summary").status_code == 404
    assert Api(client, None).get(f"voucher/{voucher['id']}/render/summary").status_code == 401


def test_templates_follow_the_callers_locale(client: Any, ws: Workspace) -> None:
    admin = sign_in(client, "admin@test.dev")
    user_id = admin.get("auth/me").get_json()["id"]
    assert admin.patch(f"user/{user_id}", {"locale": "de"}).status_code == 200
    admin = sign_in(client, "admin@test.dev")
    voucher = _voucher(admin, amount="1234.5")
    html = _text(admin.get(f"voucher/{voucher['id']}/render/summary"))
    assert "<h1>Gutschein V-100</h1>" in html
    assert '<p id="issued">05.03.2030</p>' in html
    assert '<p id="amount">1.234,50 EUR</p>' in html
    assert '<p id="total">3.360,00 EUR</p>' in html


def test_a_failing_template_is_a_clear_server_error_and_the_sandbox_holds(client: Any) -> None:
    admin = sign_in(client, "admin@test.dev")
    voucher = _voucher(admin)
    reply = admin.get(f"voucher/{voucher['id']}/render/broken")
    assert reply.status_code == 500
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.get_json()["detail"].startswith("The template docs/broken.html failed: ")
    reply = admin.get(f"voucher/{voucher['id']}/render/escape")
    assert reply.status_code == 500
    assert "unsafe" in reply.get_json()["detail"] or "access to attribute" in reply.get_json()["detail"]
    assert "subclasses" not in _text(reply).split("failed: ")[0]


def test_the_entity_document_lists_its_templates(client: Any) -> None:
    admin = sign_in(client, "admin@test.dev")
    doc = admin.get("meta/entities/voucher").get_json()
    assert {"name": "summary", "label": {"en": "Voucher", "de": "Gutschein"}} in doc["templates"]
    assert {"name": "plain", "label": "Plain"} in doc["templates"]
    html = _text(admin.get(f"voucher/{_voucher(admin)['id']}/render/plain"))
    assert html.startswith("<p>V-100 / Voucher / ")
    paths = admin.get("openapi.json").get_json()["paths"]
    operation = paths["/api/v1/voucher/{id}/render/summary"]["get"]
    assert operation["operationId"] == "render_voucher_summary"
    assert set(operation["responses"]["200"]["content"]) == {"text/html", "application/pdf"}


BAD_PACK = {
    "entities/voucher.yaml": """\
        extends: voucher
        templates:
          missing: nowhere.html
          bad: bad.html
          wrong: {file: ../secrets.html}
        """,
    "entities/voucher_line.yaml": """\
        extends: voucher_line
        templates:
          row: bad.html
        """,
    "templates/bad.html": """\
        <p>{{ record.code }</p>
        {% for x in record.lines %}
        """,
}


def test_the_checker_reports_missing_and_broken_templates(tmp_path: Path) -> None:
    pack = tmp_path / "bad_render"
    for name, text in {"pack.yaml": "name: bad_render\nversion: 1.0.0\ndepends: [testkit]\n", **BAD_PACK}.items():
        (pack / name).parent.mkdir(parents=True, exist_ok=True)
        (pack / name).write_text(textwrap.dedent(text))
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, tmp_path))
    problems, _ = check_packs(config, [tmp_path])
    messages = [str(p) for p in problems.items]
    assert [m.split(": ")[0] for m in messages] == [f"{pack}/entities/voucher.yaml:5:3"], messages  # ../ is refused
    problems.items.clear()
    (pack / "entities/voucher.yaml").write_text(
        textwrap.dedent(BAD_PACK["entities/voucher.yaml"]).replace("  wrong: {file: ../secrets.html}\n", "")
    )
    problems, _ = check_packs(config, [tmp_path])
    messages = [str(p) for p in problems.items]
    missing = "template voucher.missing: no file 'nowhere.html' in any pack's templates/ folder"
    assert f"{pack}/entities/voucher.yaml:3:3: {missing}" in messages
    assert f"{pack}/templates/bad.html:1:1: template error: unexpected '}}'" in messages
    child = "voucher_line is a child-row entity: its rows are rendered with their parent"
    assert f"{pack}/entities/voucher_line.yaml:3:3: {child}" in messages
    assert len(messages) == 3, messages


def test_two_packs_may_not_define_one_template_differently(tmp_path: Path) -> None:
    for name, file in (("first_docs", "a.html"), ("second_docs", "b.html")):
        pack = tmp_path / name
        (pack / "entities").mkdir(parents=True)
        (pack / "templates").mkdir()
        (pack / "pack.yaml").write_text(f"name: {name}\nversion: 1.0.0\ndepends: [testkit]\n")
        (pack / "entities" / "voucher.yaml").write_text(f"extends: voucher\ntemplates:\n  letter: {file}\n")
        (pack / "templates" / file).write_text("<p>{{ record.code }}</p>\n")
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, tmp_path))
    problems, _ = check_packs(config, [tmp_path])
    messages = [str(p) for p in problems.items]
    assert len(messages) == 1, messages
    assert "template voucher.letter is already defined differently in" in messages[0]


def test_a_number_of_any_size_is_formatted_not_a_500() -> None:
    """A virtual computed value may have more digits than decimal rounding's default 28."""
    from engine.render.formatting import format_number

    assert format_number("1e40", 2) == "10," + "000," * 12 + "000.00"
    assert format_number("1e40", 2, "de") == "10." + "000." * 12 + "000,00"
    assert format_number("-0.005", 2) == "-0.01"  # half away from zero, as before
    assert format_number("0.004", 2) == "0.00"  # rounded to zero, not left as it was
    assert format_number("Infinity", 2) == "Infinity"  # no number: shown as it is
