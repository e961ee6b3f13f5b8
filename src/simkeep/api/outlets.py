"""``GET /api/v1/outlets`` and ``GET /api/v1/outlets/{code}``: where to top up at a counter, to
anyone. Nearest first from ``lat``/``lon`` (decimal degrees; distances in metres along the
great circle), else by district and name; filtered by district, services and open now (Hong
Kong time). Names, addresses, kinds and services in the request's language
(``Accept-Language``); coordinates both as decimal strings and as integer micro-degrees."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from simkeep.api import errors
from simkeep.api.deps import LanguageDep
from simkeep.outlets.districts import Region, district
from simkeep.outlets.finder import MAX_LIMIT, MAX_OFFSET, Found, Search, find_outlet, find_outlets
from simkeep.outlets.geo import E6, Point, degrees_text
from simkeep.outlets.hours import DAY_MINUTES, DAYS, Range, clock_text, wall_clock
from simkeep.outlets.model import OutletError, Service, directions_url
from simkeep.outlets.wording import kind_name, service_name
from simkeep.services import ServicesDep

router = APIRouter(prefix="/api/v1", tags=["outlets"], responses=errors.documented(404, 422))


class Coded(BaseModel):
    code: str = Field(description="For programs", examples=["convenience_store"])
    name: str = Field(description="In the request's language", examples=["便利店"])


class TimeRange(BaseModel):
    opens: str = Field(examples=["22:00"])
    closes: str = Field(description="A wall-clock time, 24:00 for midnight", examples=["02:00"])
    closes_next_day: bool = Field(description="The range passes midnight", examples=[True])

    @classmethod
    def of(cls, span: Range) -> TimeRange:
        start, end = span
        return cls(
            opens=clock_text(start), closes=wall_clock(end), closes_next_day=end > DAY_MINUTES
        )


class Week(BaseModel):
    """Opening hours per weekday; an empty list is a closed day."""

    mon: list[TimeRange]
    tue: list[TimeRange]
    wed: list[TimeRange]
    thu: list[TimeRange]
    fri: list[TimeRange]
    sat: list[TimeRange]
    sun: list[TimeRange]


class OutletOut(BaseModel):
    """An outlet where a SIM can be topped up at the counter."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "HK-WC-02",
                    "kind": {"code": "convenience_store", "name": "Convenience store"},
                    "name": "QuikMart Johnston Road",
                    "address": "G/F, 150 Johnston Road, Wan Chai, Hong Kong",
                    "region": "HK",
                    "district": {"code": "wan-chai", "name": "Wan Chai"},
                    "currency": "HKD",
                    "lat": "22.277000",
                    "lon": "114.172500",
                    "lat_e6": 22277000,
                    "lon_e6": 114172500,
                    "distance_m": 421,
                    "open_now": True,
                    "today": [{"opens": "00:00", "closes": "24:00", "closes_next_day": False}],
                    "hours": {day: [] for day in DAYS},
                    "services": [{"code": "cash", "name": "Cash top-up"}],
                    "phone": None,
                    "directions_url": "https://www.google.com/maps/dir/?api=1&destination=22.277000,114.172500",
                }
            ]
        }
    )

    code: str = Field(examples=["HK-WC-02"])
    kind: Coded
    name: str = Field(description="In the request's language")
    address: str = Field(description="In the request's language")
    region: Region = Field(description="HK, SZ (Shenzhen) or GZ (Guangzhou)")
    district: Coded
    currency: str = Field(description="What its counter sells in", examples=["HKD"])
    lat: str = Field(description="Decimal degrees, six decimals", examples=["22.277000"])
    lon: str = Field(description="Decimal degrees, six decimals", examples=["114.172500"])
    lat_e6: int = Field(description="Micro-degrees", examples=[22277000])
    lon_e6: int = Field(description="Micro-degrees", examples=[114172500])
    distance_m: int | None = Field(
        description="Metres along the great circle from lat/lon; null without them",
        examples=[421],
    )
    open_now: bool = Field(description="At the time of the answer, in Hong Kong time")
    today: list[TimeRange] = Field(description="Today's opening hours, Hong Kong's day")
    hours: Week
    services: list[Coded]
    phone: str | None = Field(examples=["+852 2100 0101"])
    directions_url: str = Field(description="Google Maps in Hong Kong, Amap on the Mainland")

    @classmethod
    def of(cls, found: Found, locale: str, now: datetime) -> OutletOut:
        outlet = found.outlet
        place = district(outlet.district)
        name = outlet.names.pick(locale)
        ranges = {day: [TimeRange.of(r) for r in outlet.hours.day(i)] for i, day in enumerate(DAYS)}
        return cls(
            code=outlet.code,
            kind=Coded(code=outlet.kind.value, name=kind_name(outlet.kind, locale)),
            name=name,
            address=outlet.addresses.pick(locale),
            region=outlet.region,
            district=Coded(
                code=outlet.district,
                name=place.names.pick(locale) if place else outlet.district,
            ),
            currency=outlet.currency,
            lat=degrees_text(outlet.lat_e6),
            lon=degrees_text(outlet.lon_e6),
            lat_e6=outlet.lat_e6,
            lon_e6=outlet.lon_e6,
            distance_m=found.distance_m,
            open_now=found.open_now,
            today=[TimeRange.of(r) for r in outlet.hours.today(now)],
            hours=Week(**ranges),
            services=[
                Coded(code=s.value, name=service_name(s, locale))
                for s in Service
                if s in outlet.services
            ],
            phone=outlet.phone,
            directions_url=directions_url(outlet, name),
        )


class OutletPage(BaseModel):
    outlets: list[OutletOut]
    next_offset: int | None = Field(description="Pass as offset for the next page; null: last")


@router.get("/outlets", summary="Outlets near a point, or by district; open now; by service")
async def list_outlets(
    services: ServicesDep,
    locale: LanguageDep,
    lat: Annotated[
        Decimal | None,
        Query(ge=-90, le=90, decimal_places=6, description="Decimal degrees, with lon"),
    ] = None,
    lon: Annotated[
        Decimal | None,
        Query(ge=-180, le=180, decimal_places=6, description="Decimal degrees, with lat"),
    ] = None,
    district_code: Annotated[
        str | None,
        Query(
            alias="district",
            max_length=32,
            description="A district's code: wan-chai, sha-tin, futian, tianhe …",
        ),
    ] = None,
    service: Annotated[
        list[Service] | None, Query(max_length=3, description="Offers every service named")
    ] = None,
    open_now: Annotated[bool, Query(description="Only those open now")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OutletPage:
    search = Search(
        near=_point(lat, lon),
        district=district_code,
        services=frozenset(service or ()),
        open_now=open_now,
        limit=limit,
        offset=offset,
    )
    now = services.clock.now()
    results = await find_outlets(services.db, search=search, now=now, locale=locale)
    return OutletPage(
        outlets=[OutletOut.of(found, locale, now) for found in results.found],
        next_offset=results.next_offset,
    )


def _point(lat: Decimal | None, lon: Decimal | None) -> Point | None:
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        raise OutletError("lat", "give both lat and lon, or neither")
    return Point(int(lat * E6), int(lon * E6))  # six decimals at most: exact


@router.get("/outlets/{code}", summary="One outlet, by its code")
async def get_outlet(
    services: ServicesDep,
    locale: LanguageDep,
    code: Annotated[str, Path(min_length=2, max_length=16, examples=["HK-WC-02"])],
) -> OutletOut:
    now = services.clock.now()
    found = await find_outlet(services.db, code=code, now=now)
    if found is None:
        raise HTTPException(404, f"no outlet {code!r}: find one with /api/v1/outlets")
    return OutletOut.of(found, locale, now)
