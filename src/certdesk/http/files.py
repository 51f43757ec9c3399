"""Files in and out over HTTP: an upload read within the size limit, a file to download."""

from __future__ import annotations

from fastapi import Request, Response, UploadFile

from certdesk.errors import TooLarge


async def read_upload(request: Request, upload: UploadFile) -> bytes:
    """The uploaded file's bytes, or ``too-large`` (about ``file``) past the limit."""
    limit = request.app.state.settings.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(
            f"the file is larger than the limit of {limit:,} bytes",
            hint="a certificate file is a few kilobytes: check it is the right one",
            field="file",
        )
    return data


def download(data: bytes | str, media_type: str, filename: str) -> Response:
    """A file to save (never cached): the name is cut down to letters, digits, dots and
    dashes, so a certificate's common name cannot break the header (``*`` reads
    ``wildcard``)."""
    name = "".join(
        c if c.isascii() and (c.isalnum() or c in ".-") else "_"
        for c in filename.replace("*", "wildcard")
    )
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
