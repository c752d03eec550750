"""Logins on the real service (uvicorn on a free port, SeaweedFS for the audit trail): the login
form and its cookie, CSRF, failed-login limits, bearer tokens, disabling, /auth/token, the access
audit, and OpenID Connect against a loopback provider that signs real ID tokens."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from activities.audit import AuditAction, AuditTrail
from caseflow.settings import CaseflowSettings
from client.identities import IdentityStore
from infra.server_process import free_port
from tests.integration.web_service import ServiceThread, running_service
from web.auth import TOKEN_CACHE_SECONDS

pytestmark = pytest.mark.integration

PASSWORD = "a long test password 1"


def service_settings(seaweed, tmp_path, **extra) -> CaseflowSettings:
    return seaweed.settings.model_copy(
        update={
            "identity_db_url": f"sqlite:///{tmp_path / 'identities.db'}",
            "session_secret": "test-session-" + uuid.uuid4().hex,
            "audit_bucket": f"audit-logins-{uuid.uuid4().hex[:12]}",
            **extra,
        }
    )


def add_people(settings: CaseflowSettings) -> IdentityStore:
    store = IdentityStore.from_settings(settings)
    store.add_user("coord-ana", "coordinator", name="Ana Lima", email="ana@example.invalid",
                   password=PASSWORD)
    store.add_user("sup-bo", "supervisor", name="Bo Chen", email="bo@example.invalid",
                   password=PASSWORD, oidc_subject="oidc-sub-bo")
    return store


@pytest.fixture(scope="module")
def service(seaweed, tmp_path_factory) -> Iterator[ServiceThread]:
    settings = service_settings(seaweed, tmp_path_factory.mktemp("logins"),
                                login_attempts_per_minute=50)
    add_people(settings).close()
    with running_service(settings) as running:
        yield running


def refused_within_the_token_cache(call) -> tuple[httpx.Response, int]:
    """A revoked token (or a disabled user's) is refused once the service's short token cache
    has let go of it: within TOKEN_CACHE_SECONDS, never later. Returns the refusal and how many
    calls were still accepted before it."""
    deadline = time.monotonic() + TOKEN_CACHE_SECONDS + 1.0
    accepted = 0
    while True:
        response = call()
        if response.status_code == 401 or time.monotonic() > deadline:
            assert response.status_code == 401, "still accepted after the token cache window"
            return response, accepted
        accepted += 1
        time.sleep(0.1)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def log_in(url: str, login: str = "coord-ana", password: str = PASSWORD) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=10)
    token = csrf_of(browser.get("/login").text)
    response = browser.post(
        "/login", data={"login": login, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return browser


def access_entries(service: ServiceThread):
    service.app.state.authenticator.audit.flush()
    return AuditTrail(service.settings).access_entries()


def raw_access_objects(service: ServiceThread) -> str:
    trail = AuditTrail(service.settings)
    trail.ensure_bucket()
    client = trail._client
    text = []
    for item in client.list_objects_v2(Bucket=trail.bucket, Prefix="audit/").get("Contents", []):
        assert item["Key"].startswith("audit/_access/"), item["Key"]
        text.append(client.get_object(Bucket=trail.bucket, Key=item["Key"])["Body"].read().decode())
    return "\n".join(text)


def test_login_form_sets_a_strict_session_cookie(service):
    browser = httpx.Client(base_url=service.url, timeout=10)
    page = browser.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    assert browser.get("/static/login.css").status_code == 200
    response = browser.post(
        "/login",
        data={"login": "coord-ana", "password": PASSWORD, "csrf_token": csrf_of(page.text),
              "next": "/api/v1/cases"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/api/v1/cases"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("caseflow_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    me = browser.get("/auth/session").json()
    assert me["identity"] == "user:coord-ana" and me["role"] == "coordinator"
    assert me["via"] == "session" and me["coordinator_id"] == "coord-ana"
    assert me["csrf_token"] and me["csrf_token"] != csrf_of(page.text)  # new on login
    entries = access_entries(service)
    assert any(e.action == AuditAction.LOGIN_SUCCEEDED and e.actor == "user:coord-ana"
               for e in entries)


def test_an_open_redirect_is_not_followed(service):
    browser = httpx.Client(base_url=service.url, timeout=10)
    response = browser.post(
        "/login",
        data={"login": "coord-ana", "password": PASSWORD,
              "csrf_token": csrf_of(browser.get("/login").text), "next": "//evil.example"},
    )
    assert response.headers["location"] == "/console"


def test_a_wrong_password_shows_the_error_at_the_field_and_is_audited(service):
    browser = httpx.Client(base_url=service.url, timeout=10)
    typed = "Wrong-Pass-" + uuid.uuid4().hex
    response = browser.post(
        "/login",
        data={"login": "coord-ana", "password": typed,
              "csrf_token": csrf_of(browser.get("/login").text)},
    )
    assert response.status_code == 401
    assert re.search(r'id="password-error">wrong login or password<', response.text)
    assert 'value="coord-ana"' in response.text and typed not in response.text
    assert browser.get("/auth/session").status_code == 401
    # An unknown login is audited by a hash, never as typed (it could be a misplaced password).
    unknown = "My Secret " + uuid.uuid4().hex
    response = browser.post(
        "/login",
        data={"login": unknown, "password": typed,
              "csrf_token": csrf_of(browser.get("/login").text)},
    )
    assert response.status_code == 401 and "wrong login or password" in response.text
    entries = access_entries(service)
    failed = [e for e in entries if e.action == AuditAction.LOGIN_FAILED]
    assert any(e.actor == "user:coord-ana" and e.detail["reason"] == "wrong_password"
               for e in failed)
    assert any(e.actor.startswith("unknown-login:") and e.detail["reason"] == "unknown_login"
               for e in failed)
    raw = raw_access_objects(service)
    assert typed not in raw and unknown not in raw and PASSWORD not in raw


def test_a_login_without_the_forms_csrf_token_is_refused(service):
    browser = httpx.Client(base_url=service.url, timeout=10)
    browser.get("/login")
    response = browser.post("/login", data={"login": "coord-ana", "password": PASSWORD})
    assert response.status_code == 403 and "the form expired" in response.text
    assert browser.get("/auth/session").status_code == 401


def test_writes_with_a_session_need_the_csrf_token(service):
    browser = log_in(service.url)
    token = browser.get("/auth/session").json()["csrf_token"]
    missing = browser.post("/logout", json={})
    assert missing.status_code == 403 and "CSRF" in missing.json()["error"]
    wrong = browser.post("/logout", headers={"X-CSRF-Token": token[:-2] + "xx"}, json={})
    assert wrong.status_code == 403
    assert browser.get("/auth/session").status_code == 200  # nothing changed
    done = browser.post("/logout", headers={"X-CSRF-Token": token}, json={})
    assert done.status_code == 200 and done.json() == {"logged_out": True}
    assert browser.get("/auth/session").status_code == 401
    # A plain HTML form carries the token as a field instead.
    browser = log_in(service.url)
    token = browser.get("/auth/session").json()["csrf_token"]
    done = browser.post("/logout", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert browser.get("/auth/session").status_code == 401
    assert any(e.action == AuditAction.LOGGED_OUT and e.actor == "user:coord-ana"
               for e in access_entries(service))


def test_a_case_write_with_a_session_and_no_csrf_token_is_refused(service):
    browser = log_in(service.url, "sup-bo")
    response = browser.post("/api/v1/cases", json={})
    assert response.status_code == 403 and "CSRF" in response.json()["error"]


def test_bearer_tokens_work_until_revoked(service):
    store = IdentityStore.from_settings(service.settings)
    try:
        issued = store.create_token(user="sup-bo", label="script")
        hospital = store.create_token(hospital_id="in-mumbai-rlt")
        api = httpx.Client(base_url=service.url, timeout=10,
                           headers={"Authorization": f"Bearer {issued.secret}"})
        for _ in range(3):
            me = api.get("/auth/session")
            assert me.status_code == 200
        assert me.json() == {
            "identity": "user:sup-bo", "role": "supervisor", "via": "token", "login": "sup-bo",
            "name": "Bo Chen", "coordinator_id": None, "hospital_id": None, "csrf_token": None,
        }
        # A token-authenticated write needs no CSRF token (no cookie a browser could replay),
        # and a token is no session to log out of.
        assert api.post("/logout", json={}).json() == {"logged_out": False}
        as_hospital = httpx.get(f"{service.url}/auth/session",
                                headers={"Authorization": f"Bearer {hospital.secret}"}).json()
        assert as_hospital["identity"] == "hospital:in-mumbai-rlt"
        assert as_hospital["role"] == "hospital"
        store.revoke_token(issued.token_id)
        refused, late = refused_within_the_token_cache(lambda: api.get("/auth/session"))
        assert set(refused.json()) == {"error"}
        bogus = httpx.get(f"{service.url}/auth/session",
                          headers={"Authorization": "Bearer cf_forged"})
        assert bogus.status_code == 401
    finally:
        store.close()
    used = [e for e in access_entries(service)
            if e.action == AuditAction.TOKEN_USED and e.subject == issued.token_id]
    assert used and all(e.actor == "user:sup-bo" for e in used)
    # 3 reads, the logout, and the reads the token cache still let through after the revocation.
    assert sum(int(e.detail["requests"] or 0) for e in used) == 4 + late
    assert issued.secret not in raw_access_objects(service)


def test_a_disabled_users_session_and_tokens_end_at_once(service, tmp_path):
    store = IdentityStore.from_settings(service.settings)
    try:
        store.add_user("coord-cy", "coordinator", name="Cy Park", email="cy@example.invalid",
                       password=PASSWORD)
        issued = store.create_token(user="coord-cy")
        browser = log_in(service.url, "coord-cy")
        assert browser.get("/auth/session").status_code == 200
        store.disable_user("coord-cy")
        assert browser.get("/auth/session").status_code == 401
        refused_within_the_token_cache(
            lambda: httpx.get(f"{service.url}/auth/session",
                              headers={"Authorization": f"Bearer {issued.secret}"})
        )
        browser = httpx.Client(base_url=service.url, timeout=10)
        response = browser.post(
            "/login", data={"login": "coord-cy", "password": PASSWORD,
                            "csrf_token": csrf_of(browser.get("/login").text)})
        assert response.status_code == 401 and "wrong login or password" in response.text
    finally:
        store.close()


def test_auth_token_gives_curl_a_short_bearer_token(service):
    response = httpx.post(f"{service.url}/auth/token",
                          json={"login": "coord-ana", "password": PASSWORD})
    assert response.status_code == 201, response.text
    grant = response.json()
    assert grant["token_type"] == "Bearer" and grant["token"].startswith("cf_")
    me = httpx.get(f"{service.url}/auth/session",
                   headers={"Authorization": f"Bearer {grant['token']}"})
    assert me.json()["identity"] == "user:coord-ana"
    wrong = httpx.post(f"{service.url}/auth/token",
                       json={"login": "coord-ana", "password": "not it at all"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "wrong login or password"}
    missing = httpx.post(f"{service.url}/auth/token", json={"login": "coord-ana"})
    assert missing.status_code == 400 and missing.json() == {"error": "password: Field required"}
    entries = access_entries(service)
    assert any(e.action == AuditAction.TOKEN_CREATED and e.subject == grant["token_id"]
               for e in entries)
    assert PASSWORD not in raw_access_objects(service)


def test_failed_logins_are_limited_without_telling_who_exists(seaweed, tmp_path):
    settings = service_settings(seaweed, tmp_path, login_attempts_per_minute=3)
    add_people(settings).close()
    with running_service(settings) as limited:
        browser = httpx.Client(base_url=limited.url, timeout=10)

        def attempt(login: str, password: str) -> httpx.Response:
            token = csrf_of(browser.get("/login").text)
            return browser.post(
                "/login", data={"login": login, "password": password, "csrf_token": token}
            )

        for _ in range(3):
            assert attempt("coord-ana", "wrong password here").status_code == 401
        blocked = attempt("coord-ana", PASSWORD)  # even the right password, for a minute
        assert blocked.status_code == 429 and "too many failed logins" in blocked.text
        nobody = attempt("nobody-here", "wrong password here")
        assert nobody.status_code == 429 and "too many failed logins" in nobody.text
        as_json = httpx.post(f"{limited.url}/auth/token",
                             json={"login": "sup-bo", "password": PASSWORD})
        assert as_json.status_code == 429
        assert as_json.json() == {"error": "too many failed logins; wait a minute and try again"}
        entries = access_entries(limited)
        assert any(e.detail.get("reason") == "rate_limited" for e in entries)


# OpenID Connect against a provider on loopback that signs its ID tokens with its own key.

class LoopbackProvider:
    def __init__(self, client_id: str, subject: str, email: str, email_verified: bool):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.client_id = client_id
        self.claims = {"sub": subject, "email": email, "email_verified": email_verified}
        self.nonces: dict[str, str] = {}
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)
        self.runner = web.AppRunner(app)

    async def start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def discovery(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        code = uuid.uuid4().hex
        self.nonces[code] = query["nonce"]
        raise web.HTTPFound(f"{query['redirect_uri']}?code={code}&state={query['state']}")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        nonce = self.nonces.pop(str(form["code"]))
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": nonce, **self.claims}
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
        return web.json_response({"access_token": uuid.uuid4().hex, "token_type": "Bearer",
                                  "expires_in": 300, "id_token": id_token})

    async def jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})


async def oidc_round_trip(seaweed, tmp_path, subject: str, email: str, verified: bool):
    provider = LoopbackProvider("caseflow-test", subject, email, verified)
    await provider.start()
    settings = service_settings(
        seaweed, tmp_path,
        oidc_discovery_url=f"{provider.issuer}/.well-known/openid-configuration",
        oidc_client_id="caseflow-test", oidc_client_secret="client-secret",
    )
    add_people(settings).close()
    service = ServiceThread(settings)
    service.start()
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as browser:
            assert "Sign in with your organisation" in (await browser.get("/login")).text
            start = await browser.get("/auth/oidc/login")
            assert start.status_code == 302
            target = urlparse(start.headers["location"])
            endpoint = f"{target.scheme}://{target.netloc}{target.path}"
            assert endpoint == f"{provider.issuer}/authorize"
            query = parse_qs(target.query)
            assert query["redirect_uri"] == [f"{service.url}/auth/oidc/callback"]
            assert query["client_id"] == ["caseflow-test"] and "openid" in query["scope"][0]
            async with httpx.AsyncClient(timeout=10) as outside:
                back = await outside.get(start.headers["location"])
            assert back.status_code == 302
            callback = await browser.get(back.headers["location"])
            me = await browser.get("/auth/session")
            return callback, me
    finally:
        service.stop()
        await provider.stop()


async def test_oidc_login_by_subject(seaweed, tmp_path):
    callback, me = await oidc_round_trip(seaweed, tmp_path, "oidc-sub-bo", "x@example.invalid",
                                         verified=False)
    assert callback.status_code == 303
    assert me.status_code == 200
    assert me.json()["identity"] == "user:sup-bo" and me.json()["via"] == "oidc"


async def test_oidc_login_by_verified_email(seaweed, tmp_path):
    callback, me = await oidc_round_trip(seaweed, tmp_path, "new-sub", "ana@example.invalid",
                                         verified=True)
    assert callback.status_code == 303 and me.json()["identity"] == "user:coord-ana"


async def test_oidc_login_without_a_caseflow_user_is_refused(seaweed, tmp_path):
    callback, me = await oidc_round_trip(seaweed, tmp_path, "stranger", "ana@example.invalid",
                                         verified=False)  # an unverified e-mail maps to no one
    assert callback.status_code == 403 and "no caseflow role" in callback.text
    assert me.status_code == 401
