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
