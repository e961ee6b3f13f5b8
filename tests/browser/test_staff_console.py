"""The operator's console on the demo data, in headless Chromium on a desktop: the demo
operator logs in with the printed password and a code from the printed TOTP secret, reads
the overview and the lines at risk, changes a plan's grace days and finds the change in the
audit log with before and after; the demo auditor reads the same plan with no form to
change it. Screenshots go to ``$SIMKEEP_SCREENSHOTS`` or ``var/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from simkeep.demo.service import DEMO_STAFF, DemoStaff
from tests.browser.conftest import Tab, open_tab

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(browser: Browser, demo_server: str) -> Iterator[Tab]:
    with open_tab(
        browser, demo_server, {"width": 1280, "height": 900}, mobile=False, locale="en-GB"
    ) as tab:
        yield tab


def log_in(page: Page, member: DemoStaff) -> None:
    page.goto("/staff/login?lang=en")
    page.fill('input[name="username"]', member.username)
    page.fill('input[name="password"]', member.password)
    page.fill('input[name="code"]', pyotp.TOTP(member.totp_secret).now())
    page.locator("form.form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff$"))


def test_the_operator_changes_a_plan_and_finds_it_in_the_audit_log(
    desk: Tab, screenshots: Path
) -> None:
    page = desk.page
    operator = next(member for member in DEMO_STAFF if member.role == "operator")
    log_in(page, operator)
    expect(page.locator("h1")).to_have_text("Overview")
    page.screenshot(path=str(screenshots / "staff_overview_en.png"), full_page=True)
    page.get_by_role("link", name="Lines at risk").first.click()
    expect(page.locator("h1")).to_have_text("Lines at risk")
    page.screenshot(path=str(screenshots / "staff_lines_en.png"), full_page=True)

    page.goto("/staff/plans")
    page.get_by_role("link", name="HK-KEEP").click()
    page.fill('input[name="grace_days"]', "21")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("The plan was saved.")
    expect(page.locator('input[name="grace_days"]')).to_have_value("21")

    page.goto("/staff/audit?action=plan.update")
    entry = page.locator("table.staff-audit tbody tr").first
    expect(entry).to_contain_text("plan.update")
    expect(entry).to_contain_text("operator")
    expect(entry.locator(".staff-changes")).to_have_text("grace_days: 30 → 21")
    page.screenshot(path=str(screenshots / "staff_audit_en.png"), full_page=True)
    assert desk.outside_requests == []
    assert desk.errors == []


def test_the_auditor_reads_a_plan_with_nothing_to_change(desk: Tab) -> None:
    page = desk.page
    auditor = next(member for member in DEMO_STAFF if member.role == "auditor")
    log_in(page, auditor)

    page.goto("/staff/plans/HK-KEEP")

    expect(page.locator("h1")).to_contain_text("HK-KEEP")
    expect(page.locator("form.form")).to_have_count(0)
    expect(page.locator(".staff-nav__who")).to_contain_text("Auditor")
