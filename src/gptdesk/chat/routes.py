"""/api/v1/search/messages: full-text search of the caller's chat messages."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from gptdesk.api import signed_in_claims
from gptdesk.auth.routes import request_info
from gptdesk.chat.search import Cursor, encode_cursor, parse_search
from gptdesk.chat.search_repository import search_messages

router = APIRouter(prefix="/api/v1/search")
Claims = Annotated[dict[str, Any], Depends(signed_in_claims)]


@router.get("/messages")
async def search(request: Request, claims: Claims) -> dict[str, Any]:
    """Messages matching `q` (web-search syntax), best first, with highlighted snippets;
    `next_cursor` continues the list."""
    query = parse_search(request.query_params)
    scope = request.app.state.scope
    async with scope.as_claims(claims, request=request_info(request), read_only=True) as conn:
        rows = await search_messages(conn, query)
    page = rows[: query.limit]
    more = len(rows) > query.limit
    last = page[-1] if page else None
    cursor = (
        encode_cursor(Cursor(last["rank"], last["created_at"], last["id"]))
        if more and last
        else None
    )
    return {"results": page, "next_cursor": cursor}
