"""A server listening beyond localhost, in a real browser: Settings are read-only until sign-in."""
import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright cannot be imported; "
                             "pip install -r requirements.txt").expect

TIMEOUT_MS = 30_000
PASSWORD = "correct horse battery staple"


def open_settings(page, base):
    page.goto(base + "/Settings")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("max_jobs").or_(page.locator('[data-testid="stDataFrame"]')).first).to_be_visible(
        timeout=TIMEOUT_MS)


def test_settings_on_every_interface_without_sign_in_are_read_only(store, app_server, page, screenshot):
    open_settings(page, app_server(store, address="0.0.0.0"))
    expect(page.get_by_text("Read-only: this server listens on 0.0.0.0 and no sign-in is set up",
                            exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    expect(page.get_by_label("Import roots (one per line)")).to_have_count(0)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot("settings-read-only")


def test_settings_on_every_interface_unlock_with_the_password(store, app_server, page, screenshot):
    open_settings(page, app_server(store, address="0.0.0.0", env={"FER_ADMIN_PASSWORD": PASSWORD}))
    expect(page.get_by_text("Read-only until you sign in", exact=False)).to_be_visible(timeout=TIMEOUT_MS)
    screenshot("settings-sign-in")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_label("Admin password").fill("not it")
    sidebar.get_by_role("button", name="Sign in").click()
    expect(sidebar.get_by_text("Wrong password.")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    sidebar.get_by_label("Admin password").fill(PASSWORD)
    sidebar.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Save settings")).to_be_visible(timeout=TIMEOUT_MS)
    expect(sidebar.get_by_text("Signed in", exact=False)).to_be_visible()
    screenshot("settings-signed-in")


def test_with_auth_configured_sign_in_hands_over_to_streamlit_login(store, app_server, page, tmp_path):
    """The button starts Streamlit's own OIDC flow (its /auth/login); no identity provider is reached
    offline, so the test stops at the hand-over."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n'
                       'cookie_secret = "a test secret, not a real one"\nclient_id = "fer-studio"\n'
                       'client_secret = "test"\n'
                       'server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n')
    open_settings(page, app_server(store, address="0.0.0.0", args=("--secrets.files", str(secrets))))
    expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/auth/login?provider=*", timeout=TIMEOUT_MS)


def test_a_visitor_finds_the_bulk_exclusion_disabled_and_the_local_user_excludes(store, app_server, page, screenshot,
                                                                                 tmp_path):
    """Beyond localhost a visitor (no sign-in set up) may look but not decide: "Exclude everything
    flagged" is disabled with the sign-in message, and nothing is excluded; on a localhost server the
    same click excludes every flagged image (one decision action, in the activity log)."""
    from test_pages_follow_jobs import dark_images

    from fer.actions import history
    from fer.data import exclusions, import_dataset

    import_dataset([str(dark_images(tmp_path / "src"))], "dark", workers=1)
    address = "/Quality?dataset=dark&check=too+dark"
    page.goto(app_server(store, address="0.0.0.0") + address)  # reached over 127.0.0.1, as a visitor
    expect(page.get_by_text("flagged: too dark")).to_be_visible(timeout=TIMEOUT_MS)
    bulk = page.get_by_role("button", name="Exclude everything flagged")
    expect(bulk).to_be_disabled(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Read-only: this server listens on 0.0.0.0 and no sign-in is set up. To keep or exclude "
                            "images", exact=False)).to_be_visible()
    assert page.get_by_role("button", name="Exclude", exact=True).first.is_disabled()
    assert exclusions.excluded("dark") == set() and page.locator('[data-testid="stException"]').count() == 0
    screenshot("quality-visitor")

    page.goto(app_server(store) + address)  # the same page on a localhost server
    flagged = int(page.get_by_test_id("stMetricValue").nth(1).inner_text(timeout=TIMEOUT_MS))
    bulk = page.get_by_role("button", name="Exclude everything flagged")
    expect(bulk).to_be_enabled(timeout=TIMEOUT_MS)
    bulk.click()
    expect(page.get_by_role("button", name="Keep", exact=True)).to_have_count(min(flagged, 30), timeout=TIMEOUT_MS)
    assert len(exclusions.excluded("dark")) == flagged
    record = history.records(limit=1)[0]
    assert (record["action"], record["actor"]["kind"], record["detail"]["images"]) == ("decisions.record", "local",
                                                                                      flagged)
    screenshot("quality-local-excluded")
