"""Every hint for its reader: walk every error code and every fix through each interface.

- The command line names only commands that exist, with options they have (read off the
  Typer application itself), and a bare option only when the running command has it.
- The API, the portal and e-mails name no command and no command-line option: their
  readers have no command line.
- Plain hints (advice the same for everyone) and check findings' fixes are read in the
  source: none names a command or an option.

The checks themselves are tested on known-bad sentences, so that they cannot pass by
seeing nothing.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import typer
from anyio.from_thread import start_blocking_portal
from fastapi import FastAPI

import certdesk
from certdesk.acme.problems import Problem
from certdesk.application.compose import open_desk
from certdesk.asgi import create_app
from certdesk.cli import app as cli_app
from certdesk.cli import hints as cli_hints
from certdesk.cli import output
from certdesk.errors import CertdeskError
from certdesk.fixes import Action, Fix, Wording
from certdesk.http import hints as api_hints
from certdesk.reports import hints as mail_hints
from certdesk.settings import Settings
from certdesk.web import hints as web_hints
from certdesk.web.common import PageError
from tests.openssl_pki import OpenSSLPKI

ROOT = Path(certdesk.__file__).parent

# --- what the command line offers, read off the Typer application --------------------


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    options: frozenset[str]
    is_group: bool


def _walk(command: typer.core.TyperGroup | typer.core.TyperCommand, path: tuple[str, ...]):
    options = frozenset(
        name for p in command.params for name in getattr(p, "opts", ()) if name.startswith("--")
    )
    subcommands = getattr(command, "commands", None)
    yield Command(path, options, subcommands is not None)
    for name, sub in (subcommands or {}).items():
        yield from _walk(sub, (*path, name))


ALL = {c.path: c for c in _walk(typer.main.get_command(cli_app), ())}
ROOT_OPTIONS = ALL[()].options  # --home, --version: valid before any command
LEAVES = sorted(path for path, c in ALL.items() if not c.is_group)
TOP = {path[0] for path in ALL if path}

QUOTED = re.compile(r"'certdesk( [^']*)?'")
UNQUOTED = re.compile(r"\bcertdesk ([a-z][a-z-]*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def cli_problems(text: str, running: tuple[str, ...] | None) -> list[str]:
    """What is wrong with ``text`` shown by the command ``running`` (None: by none)."""
    problems = []
    for invocation in QUOTED.finditer(text):
        words = shlex.split(invocation.group(1) or "")
        while words and words[0] in ROOT_OPTIONS:  # certdesk --home DIR check …
            words = words[2:] if words[0] == "--home" else words[1:]
        path: tuple[str, ...] = ()
        for word in words:
            if (*path, word) in ALL:
                path = (*path, word)
            else:
                break
        if not path or ALL[path].is_group:
            problems.append(f"{invocation.group(0)}: no such command")
            continue
        for option in OPTION.findall(invocation.group(0)):
            if option not in ALL[path].options | ROOT_OPTIONS:
                problems.append(
                    f"{invocation.group(0)}: 'certdesk {' '.join(path)}' has no {option}"
                )
    rest = QUOTED.sub("", text)
    for name in UNQUOTED.findall(rest):
        if name in TOP:
            problems.append(f"'certdesk {name}' is named without quotes around the command")
    have = (ALL[running].options if running is not None else frozenset()) | ROOT_OPTIONS
    for option in OPTION.findall(rest):
        if option not in have:
            where = f"'certdesk {' '.join(running)}'" if running else "outside a command"
            problems.append(f"{option} is named for {where}, which has no such option")
    return problems


def foreign_problems(text: str) -> list[str]:
    """What names the command line in ``text``, read by someone without one."""
    found = [f"names the command 'certdesk {n}'" for n in UNQUOTED.findall(text) if n in TOP]
    return found + [f"names the option {o}" for o in OPTION.findall(text)]


def test_the_checks_see_what_they_look_for() -> None:
    submit = ("submit",)
    assert cli_problems("give them with --chain", submit)  # submit has no --chain
    assert cli_problems("give the password with --password-file", ("csr", "complete"))
    assert cli_problems("see 'certdesk tenant lists'", None)  # no such command
    assert cli_problems("run 'certdesk csr'", None)  # a group, not a command
    assert cli_problems("run 'certdesk csr new --chain X'", None)
    assert cli_problems("see certdesk tenant list", None)  # copy-pasteable: quoted
    assert not cli_problems("give the password with --password-file", submit)
    assert not cli_problems(
        "run 'certdesk csr new --san NAME' or 'certdesk --home D check F'", None
    )
    assert not cli_problems("certdesk can make the CSR", None)
    assert not cli_problems("""see 'certdesk domain list --tenant "Acme Hosting"'""", None)
    assert foreign_problems("convert it first: certdesk convert CERT.crt")
    assert foreign_problems("use --password-file")
    assert not foreign_problems("certdesk can make the CSR; POST /api/csr with sans")


# --- every fix, worded by every interface ---------------------------------------------

SAMPLE = {
    "url": "https://shop.example.com",
    "owner": "Acme Hosting",
    "hosts": "www.shop.example.com",
    "key_id": "k-1234",
}


def every_fix() -> Iterator[Fix]:
    """Every action, with its parameters filled in and without them."""
    for action in Action:
        yield Fix(action, SAMPLE, "file")
        yield Fix(action)


@pytest.mark.parametrize(
    "wording",
    [cli_hints.wording(()), api_hints.WORDING, web_hints.WORDING, mail_hints.WORDING],
)
def test_every_interface_words_every_action(wording: Wording) -> None:
    assert set(wording.words) == set(Action)


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_the_command_line_names_real_commands_and_options(path: tuple[str, ...]) -> None:
    for fix in every_fix():
        text = cli_hints.word(fix, ALL[path].options)
        assert text.strip(), fix
        assert not cli_problems(text, path), (fix, text)


def test_the_api_portal_and_mail_name_no_command() -> None:
    for fix in every_fix():
        for module in (api_hints, web_hints, mail_hints):
            text = module.WORDING.word(fix)
            assert text.strip(), fix
            assert not foreign_problems(text), (module.__name__, fix, text)


# --- plain hints and findings' fixes, read in the source ------------------------------


def _texts(node: ast.expr) -> Iterator[str]:
    """The literal text of an expression: constants, f-strings' fixed parts, ``a + b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        yield "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    elif isinstance(node, ast.BinOp):
        yield from _texts(node.left)
        yield from _texts(node.right)
    elif isinstance(node, ast.IfExp):
        yield from _texts(node.body)
        yield from _texts(node.orelse)


def plain_hints() -> Iterator[tuple[Path, int, str]]:
    """Every ``hint=…`` text, every error's message (the first argument of a call to an
    error class), every ``Finding(…)`` fix (its 4th argument) in certdesk, and the
    module-level ``*_HINT`` texts."""
    errors = {cls.__name__ for cls in _errors()}
    for path in sorted(ROOT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg in ("hint", "fix"):
                        for text in _texts(keyword.value):
                            yield path, node.lineno, text
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name in errors and node.args:
                    for text in _texts(node.args[0]):
                        yield path, node.lineno, text
                if name == "Finding" and len(node.args) >= 4:
                    for text in _texts(node.args[3]):
                        yield path, node.lineno, text
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.endswith("_HINT"):
                        for text in _texts(node.value):
                            yield path, node.lineno, text


def test_plain_hints_name_no_command() -> None:
    """Outside the command line, a plain hint or a message reaches readers without one;
    inside it, an option it names exists on some command (each names its own)."""
    seen = 0
    for path, line, text in plain_hints():
        seen += 1
        where = f"{path.relative_to(ROOT)}:{line}: {text!r}"
        if path.is_relative_to(ROOT / "cli"):
            options = frozenset().union(*(c.options for c in ALL.values()))
            assert not [o for o in OPTION.findall(text) if o not in options], where
            assert not cli_problems(QUOTED.sub("", text).replace("--", ""), None), where
        else:
            assert not foreign_problems(text), where
    assert seen > 100  # the walk reads the source: it found the hints


# --- every error code through each interface ------------------------------------------


def _errors() -> list[type[CertdeskError]]:
    for module in pkgutil.walk_packages(certdesk.__path__, "certdesk."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    seen: list[type[CertdeskError]] = []
    todo: list[type[CertdeskError]] = [CertdeskError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("certdesk.") and cls not in seen:
            seen.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: c.__name__)


def instance(cls: type[CertdeskError], fix: Fix) -> CertdeskError:
    """An error of ``cls`` with ``fix``, whatever its own constructor asks for."""
    error = cls.__new__(cls)
    CertdeskError.__init__(error, f"a {cls.code} refusal", fix=fix)
    attributes = {
        "findings": (),
        "problems": (),
        "target": "t",
        "reason": None,
        "problem": Problem("urn:ietf:params:acme:error:connection", "refused"),
        "retry_after": None,
    }
    for name, value in attributes.items():
        if not hasattr(error, name):
            setattr(error, name, value)
    return error


CASES = [(cls, fix) for cls in _errors() for fix in every_fix()]


def test_every_error_code_through_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """As each command prints it (people on stderr, ``--json`` on stdout), inside that
    command's context: the wording follows the running command's options."""
    group = typer.main.get_command(cli_app)
    for path in LEAVES:
        command = group
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        with typer.Context(command):  # type: ignore[arg-type]
            assert cli_hints.current_options() == ALL[path].options  # worded for this one
            for cls, fix in CASES if path == ("submit",) else CASES[: len(Action) * 2]:
                error = instance(cls, fix)
                with output.err.capture() as shown:
                    output.report_error(error, as_json=False)
                text = shown.get()
                assert f"[{cls.code}]" in text
                assert not cli_problems(text, path), (path, cls, fix, text)
                output.report_error(error, as_json=True)
                body = json.loads(capsys.readouterr().out)["error"]
                assert body["code"] == cls.code
                assert body["fix"]["action"] == fix.action.value
                assert not cli_problems(body["hint"], path), (path, cls, fix, body)


@pytest.fixture(scope="module")
def walk_app(tmp_path_factory: pytest.TempPathFactory, pki: OpenSSLPKI) -> Iterator[FastAPI]:
    """certdesk's app (API and portal, its own error handlers and templates), with two
    addresses that raise the error numbered in the path: one in the API, one a page."""
    folder = tmp_path_factory.mktemp("walk")
    settings = Settings(
        home=folder / "home", database_url=f"sqlite:///{folder / 'db'}", ca_bundle=pki.root_crt
    )
    desk = open_desk(settings)
    app = create_app(desk, settings)

    @app.get("/api/walk/{number}")
    def api_error(number: int) -> None:
        raise instance(*CASES[number])

    @app.get("/walk/{number}")
    def page_error(number: int) -> None:
        raise PageError.of(instance(*CASES[number]))  # what every page does with a refusal

    try:
        yield app
    finally:
        app.state.readers.close()
        desk.store.close()


def test_every_error_code_through_the_api_and_the_portal(walk_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=walk_app)

    async def walk() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for number, (cls, fix) in enumerate(CASES):
                answer = await c.get(f"/api/walk/{number}")
                assert answer.status_code == cls.http_status
                body = answer.json()["error"]
                assert (body["code"], body["fix"]["action"]) == (cls.code, fix.action.value)
                assert body["hint"] == api_hints.WORDING.word(fix)
                assert not foreign_problems(json.dumps(body)), (cls, fix, body)
                page = await c.get(f"/walk/{number}", headers={"accept": "text/html"})
                assert page.status_code == cls.http_status
                assert "<code>" + cls.code + "</code>" in page.text
                shown = re.search(r'<p class="fix">(.*?)</p>', page.text, re.S)
                assert shown is not None, page.text
                assert not foreign_problems(shown.group(1)), (cls, fix, shown.group(1))

    with start_blocking_portal() as portal:
        portal.call(walk)


def test_portal_pages_name_no_command() -> None:
    """The templates' own text: the portal's readers have no command line."""
    pages = sorted((ROOT / "web" / "templates").glob("*.html"))
    assert pages
    for page in pages:
        text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
        assert not foreign_problems(text), (page.name, foreign_problems(text))
