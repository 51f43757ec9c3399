"""Converting one's own files: ``.crt`` + key (+ chain) to a ``.pfx`` and a ``.pfx`` to PEM,
downloaded at once. The files and passwords are read once and forgotten: nothing is
stored or logged (``desk.conversions``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from certdesk import desk
from certdesk.errors import CertdeskError
from certdesk.http.auth import Principal
from certdesk.http.files import download, read_upload
from certdesk.http.threads import in_intake_thread
from certdesk.web.common import attempt, form_page, viewer
from certdesk.web.forms import FormError, Problems, problems_of

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(max_length=200)]
Password = Annotated[str, Form(max_length=1024)]
OptionalFile = Annotated[UploadFile | None, File()]

# The desk's input names → the fields of the ".pfx to PEM" form (the two forms share a page).
PEM_FIELDS = {"data": "pfx", "password": "pfx_password", "key_password": "pem_key_password"}
DIFFER = FormError(
    "invalid-argument",
    "the password and its confirmation differ",
    "type the same password for the new .pfx twice",
)


def _page(
    request: Request,
    who: Principal,
    problems: Problems,
    status: int = 200,
    *,
    values: dict[str, bool] | None = None,
) -> HTMLResponse:
    return form_page(
        request, who, "convert.html", problems, status, values=values or {"legacy": False}
    )


@router.get("/convert")
def convert_form(request: Request) -> HTMLResponse:
    return _page(request, viewer(request), Problems())


async def _read(request: Request, upload: UploadFile | None, name: str) -> bytes:
    """The file's bytes (none chosen: empty), or ``too-large`` about field ``name``."""
    if upload is None:
        return b""
    try:
        return await read_upload(request, upload)
    except CertdeskError as exc:
        exc.field = name
        raise


@router.post("/convert/pfx", response_model=None)
async def to_pfx(
    request: Request,
    csrf_token: Csrf = "",
    certificate: OptionalFile = None,
    key: OptionalFile = None,
    chain: OptionalFile = None,
    key_password: Password = "",
    password: Password = "",
    confirm_password: Password = "",
    legacy: Annotated[bool, Form()] = False,
) -> Response:
    """A ``.pfx`` of the certificate, its key and chain, with the password given."""
    who = viewer(request, form_csrf=csrf_token)
    values = {"legacy": legacy}
    try:
        files = {
            name: await _read(request, upload, name)
            for name, upload in (("certificate", certificate), ("key", key), ("chain", chain))
        }
    except CertdeskError as exc:
        return _page(request, who, problems_of(exc), 413, values=values)
    if password != confirm_password:
        problems = Problems()
        problems.add("confirm_password", DIFFER)
        return _page(request, who, problems, 400, values=values)
    result, problems = await in_intake_thread(
        attempt,
        request,
        who,
        desk.convert_to_pfx,
        certificate=files["certificate"],
        key=files["key"],
        chain=files["chain"] or None,
        key_password=key_password.encode("utf-8") or None,
        password=password.encode("utf-8"),
        legacy=legacy,
    )
    if problems:
        return _page(request, who, problems, 422, values=values)
    return download(result.data, result.media_type, result.filename)


@router.post("/convert/pem", response_model=None)
async def to_pem(
    request: Request,
    csrf_token: Csrf = "",
    pfx: OptionalFile = None,
    pfx_password: Password = "",
    include_key: Annotated[bool, Form()] = False,
    pem_key_password: Password = "",
) -> Response:
    """The ``.pfx``'s certificates as PEM, leaf first (with its key, if asked)."""
    who = viewer(request, form_csrf=csrf_token)
    values = {"legacy": False, "include_key": include_key}
    try:
        data = await _read(request, pfx, "pfx")
    except CertdeskError as exc:
        return _page(request, who, problems_of(exc), 413, values=values)
    result, problems = await in_intake_thread(
        attempt,
        request,
        who,
        desk.convert_pfx_to_pem,
        "pfx",
        PEM_FIELDS,
        data=data,
        password=pfx_password.encode("utf-8") or None,
        include_key=include_key,
        key_password=pem_key_password.encode("utf-8") or None,
    )
    if problems:
        return _page(request, who, problems, 422, values=values)
    return download(result.data, result.media_type, result.filename)
