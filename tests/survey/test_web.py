"""The web rater's ASGI app through an HTTP test client: answers, tokens, CSRF, limits, blinding."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx  # noqa: E402, F401 - hard dependencies: a broken install fails, never skips
import pytest
import starlette  # noqa: E402, F401
from starlette.testclient import TestClient  # noqa: E402
from survey_support import add_flipped_samples, paper_answer  # noqa: E402

from backend import survey as sv  # noqa: E402
from backend.cli import main as cli_main  # noqa: E402
from backend.data.importer import import_dataset  # noqa: E402
from backend.errors import BadInputError  # noqa: E402
from backend.survey.links import issue_link, token_hash, verify_token  # noqa: E402
from backend.web import ServeConfig, create_app, running_server  # noqa: E402
from backend.workspace import Workspace  # noqa: E402

QUESTIONS = ("image_quality", "mask_quality", "real_fake")
KIND_WORDS = re.compile(r"inpaint|\bstyled\b|\bdiff\b|sample|truth|\bgan\b|generated|\.png", re.I)


@pytest.fixture(scope="module")
def web_ws(tmp_path_factory, demo_dataset) -> Workspace:
    """One workspace for the module (each test makes its own survey): 12 real, 12+12 synthetic."""
    ws = Workspace.create(tmp_path_factory.mktemp("web") / "ws")
    import_dataset(ws, demo_dataset)
    add_flipped_samples(ws)
    return ws


_names = iter(range(1000))


def new_survey(ws: Workspace, counts: dict[str, int] | None = None) -> sv.Survey:
    name = f"web{next(_names)}"
    return sv.create_survey(ws, sv.SurveyConfig(name, counts or {"real": 4, "inpainted": 3, "styled": 3}))


def rater_with_link(ws: Workspace, survey: sv.Survey, name: str) -> tuple[sv.Rater, str]:
    rater = sv.add_rater(ws, survey, name)
    return rater, issue_link(ws, rater)


class Rater:
    """A rater's browser: their token, state and CSRF header."""

    def __init__(self, client: TestClient, token: str):
        self.client, self.token = client, token
        self.state = self.get("/state").json()

    def get(self, path: str = ""):
        return self.client.get(f"/r/{self.token}{path}")

    def post(self, path: str, body, **headers):
        return self.client.post(f"/r/{self.token}{path}", json=body, headers={"X-CSRF-Token": self.state["csrf"]} | headers)

    def answer(self, code: str, question: str, value: str):
        return self.post("/answer", {"item": code, "question": question, "value": value})

    @property
    def codes(self) -> list[str]:
        return [it["code"] for it in self.state["items"]]


def item_of_code(ws: Workspace, survey: sv.Survey, token: str) -> dict[str, int]:
    link = verify_token(ws, survey, token)
    return {link.code(i): i for i in sv.rater_order(ws, survey, link.rater)}


def test_answers_are_stored_through_the_rater_session_and_resume(web_ws):
    survey = new_survey(web_ws)
    rater, token = rater_with_link(web_ws, survey, "dr-web")
    client = TestClient(create_app(web_ws, survey))
    r = Rater(client, token)
    assert r.state["total"] == 10 and r.state["position"] == 0 and not r.state["submitted"]
    ids = item_of_code(web_ws, survey, token)
    assert [ids[c] for c in r.codes] == sv.rater_order(web_ws, survey, rater)  # the desktop window's order
    first, second = r.codes[:2]
    for q, v in zip(QUESTIONS, ("good", "moderate", "fake")):
        resp = r.answer(first, q, v)
        assert resp.status_code == 200 and resp.json()["saved"]
    assert r.answer(first, "real_fake", "fake").json()["complete"] == 1  # the same answer again: idempotent
    assert r.answer(second, "comment", "  blurry rim ").status_code == 200
    fresh = Workspace.open(web_ws.root)  # committed before the response: another connection sees it
    assert sv.answers_of(fresh, rater) == {
        ids[first]: paper_answer("good", "moderate", "fake", ""),
        ids[second]: paper_answer(None, None, None, "blurry rim"),
    }
    assert fresh.query("SELECT COUNT(*) FROM survey_answers WHERE rater_id = ?", (rater.id,))[0][0] == 2
    # resume: a reload (and a restarted server) start at the first unanswered item, as the desktop does
    again = Rater(TestClient(create_app(fresh, survey)), token)
    assert again.codes == r.codes and again.state["position"] == 1
    assert again.state["items"][1]["answer"]["comment"] == "blurry rim"
    desktop = sv.RaterSession.open(fresh, survey.name, "dr-web")
    assert desktop.index == 1 and desktop.current.item_id == ids[second]
    # submit: refused while incomplete, then final; repeating it changes nothing
    resp = r.post("/submit", {})
    assert resp.status_code == 400 and "9 items still need an answer" in resp.json()["error"]
    for code in r.codes[1:]:
        for q in QUESTIONS:
            assert r.answer(code, q, "real" if q == "real_fake" else "poor").status_code == 200
    assert r.post("/submit", {}).json() == {"submitted": True}
    when = sv.get_rater(fresh, survey, "dr-web").submitted_at
    assert when and r.post("/submit", {}).status_code == 200
    assert sv.get_rater(fresh, survey, "dr-web").submitted_at == when
    resp = r.answer(first, "image_quality", "poor")
    assert resp.status_code == 409 and "submitted" in resp.json()["error"]
    assert sv.answers_of(fresh, rater)[ids[first]].values.get("image_quality") == "good"
    assert Rater(client, token).state["submitted"] is True


def test_wrong_missing_revoked_or_foreign_tokens_get_403_without_detail(web_ws):
    survey, other_survey = new_survey(web_ws), new_survey(web_ws, {"real": 3})
    a, token_a = rater_with_link(web_ws, survey, "a")
    b, token_b = rater_with_link(web_ws, survey, "b")
    _, token_other = rater_with_link(web_ws, other_survey, "a")
    client = TestClient(create_app(web_ws, survey))
    ra, rb = Rater(client, token_a), Rater(client, token_b)
    code_b = rb.codes[0]
    assert rb.answer(code_b, "image_quality", "poor").status_code == 200
    wrong = token_a[:-2] + ("AA" if not token_a.endswith("AA") else "BB")
    refused = [
        client.get("/"),
        client.get("/r/"),
        client.get("/r"),
        client.get(f"/r/{wrong}"),
        client.get(f"/r/{wrong}/state"),
        client.get(f"/r/{token_other}"),  # a rater of another survey
        client.get(f"/r/{token_other}/state"),
        client.get(f"/r/{token_a}/image/{code_b}"),
        client.get(f"/r/{token_a}/mask/{code_b}"),
        client.get(f"/r/{token_a}/nothing"),
        client.post(
            f"/r/{wrong}/answer",
            json={"item": code_b, "question": "image_quality", "value": "good"},
            headers={"X-CSRF-Token": rb.state["csrf"]},
        ),
    ]
    for resp in refused:
        assert resp.status_code == 403 and resp.content == b"", (resp.request.url, resp.status_code)
    # one rater can neither read nor change another's answers
    assert code_b not in ra.codes and not set(ra.codes) & set(rb.codes)
    resp = ra.answer(code_b, "image_quality", "good")
    assert resp.status_code == 400 and resp.json() == {"error": "unknown item"}
    assert resp.text.count("poor") == 0 and sv.answers_of(web_ws, a) == {}
    assert sv.answers_of(web_ws, b)[item_of_code(web_ws, survey, token_b)[code_b]].values.get("image_quality") == "poor"
    assert all(it["answer"]["image_quality"] is None for it in ra.state["items"])
    # tokens are stored hashed only: not in the database file (nor its WAL)
    db_bytes = b"".join(p.read_bytes() for p in Path(web_ws.root).glob("workspace.sqlite*"))
    assert token_a.encode() not in db_bytes and token_hash(token_a).encode() in db_bytes
    # a new link revokes the old one at once, the answers stay
    token_b2 = issue_link(web_ws, b)
    assert client.get(f"/r/{token_b}/state").status_code == 403
    assert Rater(client, token_b2).state["items"][0]["answer"]["image_quality"] == "poor"
    sim = sv.simulate_raters(web_ws, survey, 1)[0]
    with pytest.raises(BadInputError, match="simulated rater and gets no link"):
        issue_link(web_ws, sim)


def test_posts_need_the_csrf_token_valid_values_and_small_bodies(web_ws):
    survey = new_survey(web_ws)
    a, token_a = rater_with_link(web_ws, survey, "a")
    _, token_b = rater_with_link(web_ws, survey, "b")
    client = TestClient(create_app(web_ws, survey))
    ra, rb = Rater(client, token_a), Rater(client, token_b)
    code = ra.codes[0]
    body = {"item": code, "question": "image_quality", "value": "good"}
    url = f"/r/{token_a}/answer"
    forged = [
        client.post(url, json=body),  # no token
        client.post(url, json=body, headers={"X-CSRF-Token": rb.state["csrf"]}),  # another rater's
        ra.post("/answer", body, Origin="http://evil.example"),
        ra.post("/answer", body, **{"Sec-Fetch-Site": "cross-site"}),
        client.post(
            url,
            content=f"item={code}",
            headers={
                "X-CSRF-Token": ra.state["csrf"],  # a form post
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ),
        client.post(f"/r/{token_a}/submit", json={}),
    ]
    for resp in forged:
        assert resp.status_code == 403 and resp.content == b""
    assert ra.post("/answer", body, Origin="http://testserver").status_code == 200  # its own origin is fine
    bad = {"image_quality": "excellent", "real_fake": "maybe"}
    for q, v in bad.items():
        resp = ra.answer(code, q, v)
        assert resp.status_code == 400 and f"{v!r} is not a valid answer to {q}" in resp.json()["error"]
    for wrong, message in (
        ({"item": code, "question": "truth", "value": "real"}, "question must be one of"),
        ({"item": code, "question": "image_quality", "value": 3}, "value must be text"),
        ({**body, "extra": 1}, "exactly: item, question, value"),
        ([1, 2], "exactly: item, question, value"),
        ({"item": code, "question": "comment", "value": "x" * 1001}, "at most 1000"),
    ):
        resp = ra.post("/answer", wrong)
        assert resp.status_code == 400 and message in resp.json()["error"], resp.text
    resp = client.post(url, content=b"{not json", headers={"X-CSRF-Token": ra.state["csrf"], "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json() == {"error": "the body is not JSON"}
    big = {"item": code, "question": "comment", "value": "x" * 5000}
    assert ra.post("/answer", big).status_code == 413

    def chunks():  # no Content-Length: the limit still holds
        for _ in range(10):
            yield b" " * 1000

    resp = client.post(url, content=chunks(), headers={"X-CSRF-Token": ra.state["csrf"], "Content-Type": "application/json"})
    assert resp.status_code == 413
    stored = sv.answers_of(web_ws, a)
    assert list(stored.values()) == [paper_answer("good", None, None, "")]


def _check_headers(resp, ws: Workspace) -> None:
    h = resp.headers
    assert h["cache-control"] == "no-store" and h["referrer-policy"] == "no-referrer"
    assert h["x-content-type-options"] == "nosniff" and "frame-ancestors 'none'" in h["content-security-policy"]
    assert not {"etag", "last-modified", "server", "set-cookie"} & set(h)
    joined = "\n".join(f"{k}: {v}" for k, v in h.items())
    assert not KIND_WORDS.search(joined) and str(ws.root) not in joined


def test_every_response_is_blinded(web_ws):
    survey = new_survey(web_ws, {"real": 4, "inpainted": 4, "styled": 4})
    _, token_a = rater_with_link(web_ws, survey, "a")
    _, token_b = rater_with_link(web_ws, survey, "b")
    client = TestClient(create_app(web_ws, survey))
    ra, rb = Rater(client, token_a), Rater(client, token_b)
    items = {it["id"]: it for it in sv.items(web_ws, survey)}
    secrets_ = [str(web_ws.root), survey.params["folder"], survey.name]
    for it in items.values():
        secrets_ += [it["code"], it["image_path"], Path(it["image_path"]).name, it["truth"]]
    pages = [ra.get(), rb.get(), client.get("/assets/rater.js"), client.get("/assets/rater.css")]
    assert pages[0].content == pages[1].content  # the page is the same for every rater: nothing per item
    texts = pages + [ra.get("/state"), ra.answer(ra.codes[0], "real_fake", "real")]
    for resp in texts:
        assert resp.status_code == 200
        _check_headers(resp, web_ws)
        body = resp.text
        assert not any(s in body for s in secrets_ if s != "real"), resp.request.url
        assert not KIND_WORDS.search(body), (resp.request.url, KIND_WORDS.search(body))
    state = ra.state
    assert set(state) == {"rater", "total", "position", "submitted", "csrf", "items"}
    assert all(set(it) == {"code", "answer", "feedback"} and it["feedback"] == "" for it in state["items"])
    # image codes: opaque per rater, not item ids, not sequential, different for every rater
    ids = item_of_code(web_ws, survey, token_a)
    codes = ra.codes
    assert all(re.fullmatch(r"[0-9a-f]{24}", c) for c in codes) and len(set(codes)) == len(codes)
    assert not set(codes) & set(rb.codes) and codes != sorted(codes)
    assert not any(str(i) == c or items[i]["code"].lower() in c for c, i in ids.items())
    # every picture: the stored blinded bytes, identical headers for every kind (bar the length)
    header_sets = set()
    for code in codes:
        for which, column in (("image", "image_path"), ("mask", "mask_path")):
            resp = ra.get(f"/{which}/{code}")
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
            assert resp.content == web_ws.path(items[ids[code]][column]).read_bytes()
            _check_headers(resp, web_ws)
            header_sets.add(tuple((k, v) for k, v in resp.headers.items() if k != "content-length"))
    assert len(header_sets) == 1
    # refusals and errors are blinded too
    for resp in (client.get("/r/nope"), ra.answer(codes[0], "image_quality", "bad")):
        _check_headers(resp, web_ws)


def test_survey_serve_cli_warns_off_localhost_and_serves(web_ws, monkeypatch, capsys):
    import backend.web as web

    survey = new_survey(web_ws, {"real": 3})
    w = str(web_ws.root)
    assert (
        cli_main(
            [
                "survey",
                "add-rater",
                "-w",
                w,
                "--survey",
                survey.name,
                "--rater",
                "dr-cli",
                "--base-url",
                "https://rating.example:9000/",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    token = re.search(r"https://rating\.example:9000/r/(\S+)", out).group(1)
    assert verify_token(web_ws, survey, token).rater.name == "dr-cli"
    assert cli_main(["survey", "list", "-w", w]) == 0
    listing = capsys.readouterr().out
    assert f"dr-cli: 0 / 3 answered, in progress; web link /r/{token[:4]}..." in listing and token not in listing
    servers = []
    real_make = web.make_server
    monkeypatch.setattr(web, "make_server", lambda *a: servers.append(real_make(*a)) or servers[-1])
    rc = []
    thread = threading.Thread(
        target=lambda: rc.append(
            cli_main(["survey", "serve", "-w", w, "--survey", survey.name, "--host", "0.0.0.0", "--port", "0"])
        )
    )
    thread.start()
    try:
        while not (servers and servers[0].started) and thread.is_alive():
            thread.join(0.05)
        text = "".join(capsys.readouterr())
        port = re.search(r"at http://[\d.]+:(\d+)", text).group(1)
        assert "warning: listening on 0.0.0.0" in text and "unencrypted" in text
        assert f"http://{web.serve.lan_address()}:{port}/r/<token>" in text
        import httpx

        resp = httpx.get(f"http://127.0.0.1:{port}/r/{token}/state")
        assert resp.status_code == 200 and resp.json()["total"] == 3
        assert httpx.get(f"http://127.0.0.1:{port}/r/{token}x").status_code == 403
    finally:
        if servers:
            servers[0].should_exit = True
        thread.join(10)
    assert rc == [0]
    assert cli_main(["survey", "link", "-w", w, "--survey", survey.name, "--rater", "dr-cli"]) == 0
    assert verify_token(web_ws, survey, token) is None and "no longer works" in capsys.readouterr().out
    assert cli_main(["survey", "serve", "-w", w, "--survey", survey.name, "--certfile", "nope.pem"]) == 1
    assert "TLS needs both --certfile and --keyfile" in capsys.readouterr().err
    assert cli_main(["survey", "serve", "-w", w, "--survey", survey.name, "--certfile", "nope.pem", "--keyfile", "nope.key"]) == 1
    assert "--certfile nope.pem: no such file" in capsys.readouterr().err


def test_tls_and_a_taken_port(web_ws, tmp_path):
    import shutil
    import ssl
    import subprocess

    from _ci import missing_system_tool

    if shutil.which("openssl") is None:
        missing_system_tool("openssl is not installed (needed to make a test certificate; apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    survey = new_survey(web_ws, {"real": 3})
    _, token = rater_with_link(web_ws, survey, "dr-tls")
    with running_server(web_ws, survey, ServeConfig("127.0.0.1", 0, str(cert), str(key))) as url:
        assert url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        assert httpx.get(f"{url}/r/{token}/state", verify=trust).json()["total"] == 3
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(BadInputError, match=rf"cannot listen on 127\.0\.0\.1:{port}: .*Choose another --port"):
            with running_server(web_ws, survey, ServeConfig("127.0.0.1", port)):
                pass
    with pytest.raises(BadInputError, match="cannot use --certfile .* for TLS"):
        with running_server(web_ws, survey, ServeConfig("127.0.0.1", 0, str(key), str(key))):
            pass


def test_the_page_says_the_keys_it_binds():
    """The web rater's hint, buttons and key handling come from the desktop rater's table (issue 35:
    no key that means something else in the app; 'R' was 'real' here and 'reject' in Review)."""
    import json

    from backend.web.page import html, script

    HTML, JS = html(), script()  # noqa: N806 (the default template's page)

    answers = json.loads(re.search(r"const KEYS = (\{.*?\});", JS).group(1))
    commands = json.loads(re.search(r"const COMMAND_KEYS = (\{.*?\});", JS).group(1))
    assert answers["1"] == ["image_quality", "good"] and answers["6"] == ["mask_quality", "poor"]
    assert answers["7"] == ["real_fake", "real"] and answers["8"] == ["real_fake", "fake"]
    assert not {"r", "f", "e", "q", "w", "k", "u", "n", " "} & (set(answers) | set(commands))
    buttons = re.findall(r'data-q="(\w+)" data-v="(\w+)">(\w)&nbsp;', HTML)
    assert sorted([k, [q, v]] for q, v, k in buttons) == sorted([k, v] for k, v in answers.items())
    hint = re.search(r'<p class="hint">Keys: (.*?)\.\n', HTML).group(1).replace("&larr;", "←").replace("&rarr;", "→")
    said = {k for part in hint.split(" · ") for k in part.split(" ", 1)[0].split("/")}
    names = {"←": "ArrowLeft", "→": "ArrowRight"}
    assert {names.get(k, k if len(k) > 1 else k.lower()) for k in said} == set(answers) | set(commands)


def test_the_web_page_records_when_an_item_was_first_shown(web_ws):
    """The page fetches an item's image when it shows the item: that is its first showing,
    stored with the first answer (issue 32 item 7)."""
    survey = new_survey(web_ws)
    rater, token = rater_with_link(web_ws, survey, "dr-timed")
    r = Rater(TestClient(create_app(web_ws, survey)), token)
    code = r.codes[0]
    assert r.get(f"/image/{code}").status_code == 200
    for q, v in zip(QUESTIONS, ("good", "good", "real")):
        assert r.answer(code, q, v).status_code == 200
    assert r.answer(code, "real_fake", "fake").status_code == 200
    row = web_ws.query(
        "SELECT shown_at, first_answered_at, answered_at, changes FROM survey_answers WHERE rater_id = ?", (rater.id,)
    )[0]
    assert row["shown_at"] <= row["first_answered_at"] <= row["answered_at"] and row["changes"] == 1


def test_calibration_feedback_reaches_the_page_only_for_calibration_items(web_ws):
    survey = sv.create_survey(web_ws, sv.SurveyConfig(f"web{next(_names)}", {"real": 3, "inpainted": 3}, calibration=2))
    rater, token = rater_with_link(web_ws, survey, "dr-cal")
    r = Rater(TestClient(create_app(web_ws, survey)), token)
    feedback = [it["feedback"] for it in r.state["items"]]
    assert feedback[:2] == ["Calibration item (not counted): its truth is shown after your call."] * 2
    assert feedback[2:] == [""] * 6
    truth = {it["code"]: it["truth"] for it in sv.items(web_ws, survey)}
    link = verify_token(web_ws, survey, token)
    for code in r.codes[:3]:
        told = r.answer(code, "real_fake", "real").json()["feedback"]
        kind = truth[{link.code(i["id"]): i["code"] for i in sv.items(web_ws, survey)}[code]]
        expected = "real" if kind == "real" else "synthetic (Diff)"
        assert told == (f"Calibration item (not counted): this one was {expected}." if code in r.codes[:2] else "")


def test_a_template_survey_over_http_asks_and_takes_only_its_questions(web_ws):
    """Issue 32 item 10: the page, the state and the answer endpoint follow the survey's template."""
    template = Path(__file__).resolve().parents[2] / "docs" / "survey-questions.toml"
    survey = sv.create_survey(web_ws, sv.SurveyConfig("web-likert", {"real": 2, "inpainted": 2}, questions=str(template)))
    _, token = rater_with_link(web_ws, survey, "dr-likert")
    r = Rater(TestClient(create_app(web_ws, survey)), token)
    page = r.get().text
    assert "How realistic is the image?" in page and "Image quality" not in page
    assert r.state["items"][0]["answer"] == {"realism": None, "clinical_utility": None, "real_fake": None, "comment": ""}
    code = r.codes[0]
    refused = r.answer(code, "image_quality", "good")
    assert refused.status_code == 400 and "realism, clinical_utility, real_fake, comment" in refused.json()["error"]
    assert r.answer(code, "realism", "9").status_code == 400
    assert r.answer(code, "realism", "3").json()["answer"]["realism"] == "3"
    script = r.client.get("/assets/rater.js").text
    assert '"a": ["real_fake", "real"]' in script and 'const QUESTIONS = ["realism", "clinical_utility", "real_fake"]' in script
