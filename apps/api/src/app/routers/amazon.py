from __future__ import annotations

from fastapi import APIRouter

from app.http.deps import CallerDep
from app.models import CatalogueResponse
from app.services.catalogue import catalogue_document

router = APIRouter(prefix="/amazon", tags=["amazon"])


@router.get("/categories", response_model=CatalogueResponse)
async def categories(_caller: CallerDep) -> CatalogueResponse:
    """The Amazon Best Sellers catalogue: departments, their leaf categories and browse-node ids."""
    return CatalogueResponse.model_validate(catalogue_document())
