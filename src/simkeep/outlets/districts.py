"""The districts an outlet may be in: Hong Kong's eighteen, and those of Shenzhen and Guangzhou.

Design overview
---------------
A fixed table, since districts change by law, not by the operator: a code (the word stored
with each outlet and taken by the finder's filter), its region (``HK``, ``SZ``, ``GZ``) and
its name in three languages (``simkeep.names.Names``, read like any other name of data). A
region gives the currency its counters sell in: Hong Kong dollars in Hong Kong, renminbi on
the Mainland.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simkeep.names import Names


class Region(StrEnum):
    HK = "HK"
    SZ = "SZ"  # Shenzhen
    GZ = "GZ"  # Guangzhou

    @property
    def currency(self) -> str:
        """The currency an outlet of the region sells in."""
        return "HKD" if self is Region.HK else "CNY"


@dataclass(frozen=True, slots=True)
class District:
    code: str
    region: Region
    names: Names


def _d(code: str, region: Region, hant: str, hans: str, en: str) -> District:
    return District(code, region, Names(zh_hant_hk=hant, zh_hans_cn=hans, en=en))


HK, SZ, GZ = Region.HK, Region.SZ, Region.GZ

DISTRICTS: tuple[District, ...] = (
    _d("central-and-western", HK, "中西區", "中西区", "Central and Western"),
    _d("wan-chai", HK, "灣仔區", "湾仔区", "Wan Chai"),
    _d("eastern", HK, "東區", "东区", "Eastern"),
    _d("southern", HK, "南區", "南区", "Southern"),
    _d("yau-tsim-mong", HK, "油尖旺區", "油尖旺区", "Yau Tsim Mong"),
    _d("sham-shui-po", HK, "深水埗區", "深水埗区", "Sham Shui Po"),
    _d("kowloon-city", HK, "九龍城區", "九龙城区", "Kowloon City"),
    _d("wong-tai-sin", HK, "黃大仙區", "黄大仙区", "Wong Tai Sin"),
    _d("kwun-tong", HK, "觀塘區", "观塘区", "Kwun Tong"),
    _d("kwai-tsing", HK, "葵青區", "葵青区", "Kwai Tsing"),
    _d("tsuen-wan", HK, "荃灣區", "荃湾区", "Tsuen Wan"),
    _d("tuen-mun", HK, "屯門區", "屯门区", "Tuen Mun"),
    _d("yuen-long", HK, "元朗區", "元朗区", "Yuen Long"),
    _d("north", HK, "北區", "北区", "North"),
    _d("tai-po", HK, "大埔區", "大埔区", "Tai Po"),
    _d("sha-tin", HK, "沙田區", "沙田区", "Sha Tin"),
    _d("sai-kung", HK, "西貢區", "西贡区", "Sai Kung"),
    _d("islands", HK, "離島區", "离岛区", "Islands"),
    _d("futian", SZ, "福田區", "福田区", "Futian"),
    _d("luohu", SZ, "羅湖區", "罗湖区", "Luohu"),
    _d("nanshan", SZ, "南山區", "南山区", "Nanshan"),
    _d("baoan", SZ, "寶安區", "宝安区", "Bao'an"),
    _d("longgang", SZ, "龍崗區", "龙岗区", "Longgang"),
    _d("longhua", SZ, "龍華區", "龙华区", "Longhua"),
    _d("yantian", SZ, "鹽田區", "盐田区", "Yantian"),
    _d("tianhe", GZ, "天河區", "天河区", "Tianhe"),
    _d("yuexiu", GZ, "越秀區", "越秀区", "Yuexiu"),
    _d("haizhu", GZ, "海珠區", "海珠区", "Haizhu"),
    _d("liwan", GZ, "荔灣區", "荔湾区", "Liwan"),
    _d("baiyun", GZ, "白雲區", "白云区", "Baiyun"),
    _d("panyu", GZ, "番禺區", "番禺区", "Panyu"),
    _d("huangpu", GZ, "黃埔區", "黄埔区", "Huangpu"),
)
BY_CODE: dict[str, District] = {district.code: district for district in DISTRICTS}


def district(code: str) -> District | None:
    """The district of a code, or None."""
    return BY_CODE.get(code)
